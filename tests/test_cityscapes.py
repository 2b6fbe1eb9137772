"""Tests of the Cityscapes converter on an official-layout fixture tree (tests/fixture_trees.py)."""

import os

import cv2
import numpy as np
import pytest


from rfbnet_tf.datasets import preparation
from rfbnet_tf.datasets import cityscapes, records
from tests import fixture_trees

# Official cityscapesScripts labels.py: the 19 evaluated label ids → trainIds 0..18 (hand copy).
OFFICIAL_TRAIN_IDS = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10,
                      24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}


def expected_train_ids(label_ids):
    return np.vectorize(lambda i: OFFICIAL_TRAIN_IDS.get(int(i), 255), otypes=[np.uint8])(label_ids)


read_records = fixture_trees.read_records_by_name


def test_label_table_is_the_official_one():
    assert len(cityscapes.CLASS_NAMES) == 19 and cityscapes.CLASS_NAMES[13] == "car"
    assert set(cityscapes.LABEL_ID_TO_TRAIN_ID) == set(range(34)) | {-1}
    for label_id in range(34):
        assert cityscapes.LABEL_ID_TO_TRAIN_ID[label_id] == OFFICIAL_TRAIN_IDS.get(label_id, 255)
        assert cityscapes.LABEL_LOOKUP[label_id] == OFFICIAL_TRAIN_IDS.get(label_id, 255)
    assert cityscapes.LABEL_ID_TO_TRAIN_ID[-1] == 255 and cityscapes.LABEL_LOOKUP[255] == 255
    with pytest.raises(ValueError, match=r"'x.png' has label ids outside the Cityscapes table: \[34, 200\]"):
        cityscapes.label_ids_to_train_ids(np.array([[7, 34, 200]], np.uint8), "x.png")


def test_disparity_to_depth_hand_values():
    # d = (p - 1) / 256; depth = baseline * fx / d; p = 0 invalid, p = 1 → d = 0 invalid
    disparity = np.array([[257, 513, 0, 1, 129]], np.uint16)
    depth = cityscapes.disparity_to_depth(disparity, baseline=0.2, fx=100.0)
    np.testing.assert_allclose(depth, [[20.0, 10.0, 0.0, 0.0, 40.0]], rtol=1e-6)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("cityscapes"))
    truth = fixture_trees.write_cityscapes_tree(root)
    # Chosen pixels with hand-computed depth (fixture camera: baseline 0.209313 m,
    # fx = 2262.52 / 16 = 141.4075 px, so baseline * fx = 29.5984280 m·px):
    frame = truth["aachen_000000_000019"]
    chosen = {(10, 20): 257,   # d = 1   → 29.598 m → 29598 mm
              (11, 21): 513,   # d = 2   → 14.799 m → 14799 mm
              (12, 22): 0,     # invalid → 0
              (13, 23): 100,   # d = 99/256 → 76.54 m > max_depth 65 m → dropped → 0
              (14, 24): 1}     # d = 0   → invalid → 0
    for (row, col), value in chosen.items():
        frame["disparity"][row, col] = value
    fixture_trees.write_png(frame["paths"]["disparity"], frame["disparity"])
    return root, truth


@pytest.fixture(scope="module")
def prepared(tree, tmp_path_factory):
    root, truth = tree
    out = str(tmp_path_factory.mktemp("cityscapes_records"))
    summary = preparation.prepare("cityscapes", out, input_dir=root, num_workers=1,
                                   examples_per_shard=1, progress=False)
    return out, summary


def test_records_pixel_by_pixel_at_native_size(tree, prepared):
    _, truth = tree
    out, summary = prepared
    assert summary["splits"]["train"]["num_examples"] == 2
    assert summary["splits"]["train"]["files"] == ["train-00000-of-00002.tfrecord", "train-00001-of-00002.tfrecord"]
    assert summary["splits"]["val"]["num_examples"] == 1
    info = records.load_dataset_info(out)
    assert info["image_size"] == [64, 128] and info["num_classes"] == 19 and info["skipped"]["count"] == 0
    parsed = {**read_records(out, "train"), **read_records(out, "val")}
    assert sorted(parsed) == sorted(truth)
    for name, expected in truth.items():
        got = parsed[name]
        np.testing.assert_array_equal(got["rgb"], expected["rgb"])
        labels = expected_train_ids(expected["label_ids"])
        np.testing.assert_array_equal(got["label"][..., 0], labels)
        assert set(np.unique(expected["label_ids"])) == set(range(34))  # every id of the table
        camera = expected["camera"]["intrinsic"]
        np.testing.assert_allclose(got["intrinsics"], [[camera["fx"], 0, camera["u0"]],
                                                       [0, camera["fy"], camera["v0"]], [0, 0, 1]], rtol=1e-6)
        raw_mm = np.rint(got["depth_raw"][..., 0] * 1000).astype(np.int64)
        completed_mm = np.rint(got["depth"][..., 0] * 1000).astype(np.int64)
        measured = raw_mm > 0
        np.testing.assert_array_equal(completed_mm[measured], raw_mm[measured])  # completion keeps them
        assert completed_mm.min() > 0 and completed_mm.max() <= 65000
        assert got["hha"].shape == (64, 128, 3) and got["hha"].any()
    # hand-computed chosen pixels (millimetres)
    raw_mm = np.rint(parsed["aachen_000000_000019"]["depth_raw"][..., 0] * 1000).astype(np.int64)
    assert [raw_mm[10, 20], raw_mm[11, 21], raw_mm[12, 22], raw_mm[13, 23], raw_mm[14, 24]] == [29598, 14799, 0, 0, 0]
    # class histogram of the train split = bincount of the expected train ids
    train_labels = np.concatenate([expected_train_ids(t["label_ids"]).ravel()
                                   for t in truth.values() if t["split"] == "train"])
    assert info["class_histogram"]["train"] == np.bincount(train_labels[train_labels != 255], minlength=19).tolist()
    # normalisation from the train split (RGB mean over all pixels)
    train_rgb = np.concatenate([t["rgb"].reshape(-1, 3) for t in truth.values() if t["split"] == "train"])
    np.testing.assert_allclose(info["normalization"]["rgb"]["mean"], train_rgb.mean(0), rtol=1e-9)
    np.testing.assert_allclose(info["normalization"]["rgb"]["std"], train_rgb.std(0), rtol=1e-9)


def test_resized_records_scale_intrinsics_and_sample_nearest(tree, tmp_path):
    root, truth = tree
    preparation.prepare("cityscapes", str(tmp_path), input_dir=root, splits=("val",),
                         num_workers=1, progress=False, image_size=(32, 64))
    (name, got), = read_records(str(tmp_path), "val").items()
    expected = truth[name]
    # f' = f / 2 and c' = (c + 0.5) / 2 - 0.5 (hand values for the fixture camera)
    np.testing.assert_allclose(got["intrinsics"], [[70.70375, 0, 34.030625],
                                                   [0, 70.79068095621423, 15.78553125], [0, 0, 1]], rtol=1e-6)
    # nearest at scale 1/2 picks source pixel (2r + 1, 2c + 1)
    np.testing.assert_array_equal(got["label"][..., 0], expected_train_ids(expected["label_ids"][1::2, 1::2]))
    source = expected["disparity"][1::2, 1::2].astype(np.float64)
    depth = np.where(source > 1, 0.209313 * 141.4075 / ((source - 1) / 256), 0.0)
    depth_mm = np.where(depth <= 65.0, np.rint(depth * 1000), 0)
    np.testing.assert_array_equal(np.rint(got["depth_raw"][..., 0] * 1000), depth_mm)
    assert records.load_dataset_info(str(tmp_path))["image_size"] == [32, 64]


# ------------------------------------------------------------------------- bad input


def _fresh_tree(tmp_path):
    root = str(tmp_path / "cityscapes")
    return root, fixture_trees.write_cityscapes_tree(root, {"train": {"aachen": 2}})


def test_disparity_without_image_names_the_missing_file(tmp_path):
    root, truth = _fresh_tree(tmp_path)
    os.remove(truth["aachen_000001_000020"]["paths"]["image"])
    with pytest.raises(FileNotFoundError, match=r"aachen_000001_000020_leftImg8bit.png' \(the partner of"):
        cityscapes.list_frames(root, "train")


def test_missing_label_names_the_missing_file(tmp_path):
    root, truth = _fresh_tree(tmp_path)
    os.remove(truth["aachen_000000_000019"]["paths"]["label"])
    with pytest.raises(FileNotFoundError, match="aachen_000000_000019_gtFine_labelIds.png"):
        cityscapes.list_frames(root, "train")


def test_empty_input_directory_is_named(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="input directory .*empty' is empty"):
        preparation.prepare("cityscapes", str(tmp_path / "out"), input_dir=str(tmp_path / "empty"),
                             num_workers=1, progress=False)
    (tmp_path / "empty" / "README").write_text("not a dataset")
    with pytest.raises(FileNotFoundError, match="no Cityscapes frames for split 'train' under .*empty"):
        cityscapes.list_frames(str(tmp_path / "empty"), "train")


def test_corrupt_image_stops_with_its_name_and_leaves_no_partial_shard(tmp_path):
    root, truth = _fresh_tree(tmp_path)
    with open(truth["aachen_000001_000020"]["paths"]["image"], "wb") as handle:
        handle.write(b"\x89PNG but not really")
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="could not decode image .*aachen_000001_000020_leftImg8bit.png"):
        preparation.prepare("cityscapes", str(out), input_dir=root, splits=("train",),
                             num_workers=2, examples_per_shard=1, progress=False)
    # The first frame's shard was written into a staging directory beside out/, removed with it: no output
    # directory, empty or partial, is left behind.
    assert not out.exists() and not any(name.startswith("out.tmp-") for name in os.listdir(tmp_path))


def test_size_mismatch_label_id_and_channels_are_errors_naming_the_file(tmp_path):
    root, truth = _fresh_tree(tmp_path)
    frame = {"name": "aachen_000000_000019", **truth["aachen_000000_000019"]["paths"]}
    paths = frame
    fixture_trees.write_png(paths["disparity"], np.zeros((32, 128), np.uint16))
    with pytest.raises(ValueError, match=r"size mismatch: .*_disparity.png' is \(32, 128\)"):
        cityscapes.load_frame(frame)
    fixture_trees.write_png(paths["disparity"], truth["aachen_000000_000019"]["disparity"])
    label = truth["aachen_000000_000019"]["label_ids"].copy()
    label[0, 0] = 40
    fixture_trees.write_png(paths["label"], label)
    with pytest.raises(ValueError, match=r"gtFine_labelIds.png' has label ids outside the Cityscapes table: \[40\]"):
        cityscapes.load_frame(frame)
    fixture_trees.write_png(paths["label"], truth["aachen_000000_000019"]["label_ids"])
    rgba = np.zeros((64, 128, 4), np.uint8)
    cv2.imwrite(paths["image"], rgba)
    with pytest.raises(ValueError, match="_leftImg8bit.png' has 4 channels, expected 3"):
        cityscapes.load_frame(frame)
    fixture_trees.write_png(paths["image"], truth["aachen_000000_000019"]["rgb"])
    with open(paths["camera"], "w") as handle:
        handle.write('{"intrinsic": {"fx": 1}}')
    with pytest.raises(ValueError, match="bad camera file .*_camera.json"):
        cityscapes.load_frame(frame)


def test_all_zero_disparity_is_skipped_and_counted(tmp_path):
    root, truth = _fresh_tree(tmp_path)
    fixture_trees.write_png(truth["aachen_000001_000020"]["paths"]["disparity"], np.zeros((64, 128), np.uint16))
    summary = preparation.prepare("cityscapes", str(tmp_path / "out"), input_dir=root, splits=("train",),
                                   num_workers=1, progress=False)
    assert summary["splits"]["train"]["num_examples"] == 1
    assert summary["skipped"]["count"] == 1
    assert summary["skipped"]["reasons"] == {"depth has no valid (> 0) pixel": 1}
    assert summary["skipped"]["by_split"]["train"]["frames"] == {"aachen_000001_000020": "depth has no valid (> 0) pixel"}
    assert records.load_dataset_info(str(tmp_path / "out"))["skipped"]["count"] == 1
