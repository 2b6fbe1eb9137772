"""Tests of the NYU Depth v2 converter on the official files, written by tests/rgbd_fixtures.py (v7.3 HDF5 for the
labelled set, v5 for splits and class mappings)."""

import os
import sys

import numpy as np
import pytest
import scipy.io


from rfbnet_tf.datasets import preparation
from rfbnet_tf.datasets import nyuv2, records
from tests import fixture_trees, rgbd_fixtures, warm_python

SMALL = (120, 160)  # records at a quarter of 480×640: output pixel (r, c) samples source (4r + 2, 4c + 2)
# Hand copy of the toolbox's camera_params.m RGB intrinsics (1-based pixel coordinates).
FX, FY, CX, CY = 518.857901, 519.469611, 325.582449, 253.736166


def expected_labels(truth, frame, classes=40):
    """Train ids of 1-based ``frame``, computed here: raw id → mapClass (→ labels13) → minus 1; 0 and the border
    outside MATLAB rows 45..471, columns 41..601 → 255."""
    raw = truth["labels"][frame - 1].astype(np.int64)
    nyu40 = np.where(raw > 0, truth["map_class"][np.maximum(raw, 1) - 1], 0)
    ids = nyu40 if classes == 40 else np.where(nyu40 > 0, truth["labels13"][np.maximum(nyu40, 1) - 1], 0)
    out = np.where(ids > 0, ids - 1, 255)
    rows, cols = np.meshgrid(np.arange(1, 481), np.arange(1, 641), indexing="ij")  # MATLAB indices
    inside = (rows >= 45) & (rows <= 471) & (cols >= 41) & (cols <= 601)
    return np.where(inside, out, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("nyuv2"))
    return root, rgbd_fixtures.write_nyuv2_tree(root)


@pytest.fixture(scope="module")
def prepared(tree, tmp_path_factory):
    root, _ = tree
    out = str(tmp_path_factory.mktemp("nyuv2_records"))
    summary = preparation.prepare("nyuv2", out, input_dir=root, splits=("train", "test"), num_workers=1,
                                   progress=False, image_size=SMALL)
    return out, summary


def test_splits_are_the_one_based_indices_of_splits_mat(tree):
    root, _ = tree
    assert [f["name"] for f in nyuv2.list_frames(root, "train")] == ["0001", "0003", "0004"]
    assert [f["index"] for f in nyuv2.list_frames(root, "test")] == [1, 4]
    with pytest.raises(ValueError, match=r"NYUv2 split must be one of \('train', 'test'\)"):
        nyuv2.list_frames(root, "val")


def test_native_frame_pixel_by_pixel(tree):
    root, truth = tree
    frame = nyuv2.list_frames(root, "train")[1]  # 1-based frame 3
    loaded = nyuv2.load_frame(frame)
    np.testing.assert_array_equal(loaded["rgb"], truth["rgb"][2])
    np.testing.assert_array_equal(loaded["depth_m"], truth["depths"][2])
    np.testing.assert_array_equal(loaded["label"], expected_labels(truth, 3))
    assert (loaded["label"][:44] == 255).all() and (loaded["label"][:, 601:] == 255).all()
    assert (loaded["label"][44:471, 40:601] != 255).mean() > 0.99  # only raw id 0 is ignored inside
    np.testing.assert_allclose(loaded["intrinsics"], [[FX, 0, CX - 1], [0, FY, CY - 1], [0, 0, 1]], rtol=1e-12)
    raw = nyuv2.load_frame(nyuv2.list_frames(root, "train", depth_source="raw")[1])
    np.testing.assert_array_equal(raw["depth_m"], truth["raw_depths"][2])
    thirteen = nyuv2.load_frame(nyuv2.list_frames(root, "train", classes=13)[1])
    np.testing.assert_array_equal(thirteen["label"], expected_labels(truth, 3, classes=13))
    assert thirteen["label"][thirteen["label"] != 255].max() <= 12


def test_records_pixel_by_pixel(tree, prepared):
    _, truth = tree
    out, summary = prepared
    assert summary["splits"]["train"]["num_examples"] == 3 and summary["splits"]["test"]["num_examples"] == 2
    info = records.load_dataset_info(out)
    assert info["dataset"] == "nyuv2" and info["num_classes"] == 40 and info["image_size"] == list(SMALL)
    assert info["class_names"][:3] == ["wall", "floor", "cabinet"] and info["max_depth"] == 10.0
    assert info["depth_source"].startswith("toolbox:") and '"depth_source": "toolbox"' in info["created_by"]
    parsed = {**fixture_trees.read_records_by_name(out, "train"), **fixture_trees.read_records_by_name(out, "test")}
    assert sorted(parsed) == ["0001", "0002", "0003", "0004", "0005"]
    picks = (slice(2, None, 4), slice(2, None, 4))
    for name, got in parsed.items():
        frame = int(name)
        np.testing.assert_array_equal(got["label"][..., 0], expected_labels(truth, frame)[picks])
        depth_mm = np.rint(truth["depths"][frame - 1][picks].astype(np.float64) * 1000)
        np.testing.assert_array_equal(np.rint(got["depth_raw"][..., 0] * 1000), depth_mm)
        # nothing beyond max_depth 10 m in the fixture: the filled depth passes completion unchanged
        np.testing.assert_array_equal(np.rint(got["depth"][..., 0] * 1000), depth_mm)
        # f' = f / 4, c' = (c + 0.5) / 4 - 0.5 from the 0-based principal point
        np.testing.assert_allclose(got["intrinsics"], [[FX / 4, 0, (CX - 0.5) / 4 - 0.5],
                                                       [0, FY / 4, (CY - 0.5) / 4 - 0.5], [0, 0, 1]], rtol=1e-6)  # float32
        assert np.abs(got["rgb"].astype(int).mean() - truth["rgb"][frame - 1].mean()) < 2  # area average
    train = np.concatenate([parsed[n]["label"].ravel() for n in ("0001", "0003", "0004")])
    assert info["class_histogram"]["train"] == np.bincount(train[train != 255], minlength=40).tolist()


def test_thirteen_classes_with_raw_depth(tree, tmp_path):
    root, truth = tree
    summary = preparation.prepare("nyuv2", str(tmp_path), input_dir=root, splits=("test",), num_workers=1,
                                   progress=False, image_size=SMALL, nyuv2_classes=13, depth_source="raw")
    assert summary["num_classes"] == 13 and summary["class_names"] == list(nyuv2.CLASS_NAMES_13)
    assert summary["depth_source"].startswith("raw:")
    got = fixture_trees.read_records_by_name(str(tmp_path), "test")["0005"]
    picks = (slice(2, None, 4), slice(2, None, 4))
    np.testing.assert_array_equal(got["label"][..., 0], expected_labels(truth, 5, classes=13)[picks])
    np.testing.assert_array_equal(np.rint(got["depth_raw"][..., 0] * 1000),
                                  np.rint(truth["raw_depths"][4][picks].astype(np.float64) * 1000))
    assert (got["depth"][..., 0] > 0).all()  # the raw holes (and the empty top border) are completed


def test_palettes_and_names():
    assert len(nyuv2.CLASS_NAMES_40) == 40 == len(set(nyuv2.CLASS_NAMES_40)) and len(nyuv2.CLASS_NAMES_13) == 13
    assert nyuv2.PALETTE_40.shape == (40, 3) and nyuv2.PALETTE_13.shape == (13, 3)
    # PASCAL VOC colours of ids 1, 2, 3, 40 (hand values): train id t shows the colour of label id t + 1
    assert nyuv2.PALETTE_40[:3].tolist() == [[128, 0, 0], [0, 128, 0], [128, 128, 0]]
    assert nyuv2.PALETTE_40[39].tolist() == [64, 0, 64]
    assert len({tuple(colour) for colour in nyuv2.PALETTE_40.tolist()}) == 40
    assert nyuv2.palette(13) is nyuv2.PALETTE_13 and nyuv2.class_names(13) == nyuv2.CLASS_NAMES_13


def test_bad_input_is_named(tree, tmp_path):
    root, _ = tree
    with pytest.raises(ValueError, match=r"nyuv2_classes must be one of \(40, 13, 894\), got 20"):
        preparation.prepare("nyuv2", str(tmp_path / "a"), input_dir=root, nyuv2_classes=20, progress=False)
    with pytest.raises(ValueError, match="nyuv2_classes applies to nyuv2 only"):
        preparation.prepare("scannet", str(tmp_path / "b"), input_dir=root, nyuv2_classes=13, progress=False)
    with pytest.raises(ValueError, match="depth_source must be one of"):
        preparation.prepare("nyuv2", str(tmp_path / "c"), input_dir=root, depth_source="filled", progress=False)
    partial = tmp_path / "partial"
    partial.mkdir()
    for name in ("nyu_depth_v2_labeled.mat", "classMapping40.mat"):
        os.symlink(os.path.join(root, name), partial / name)
    scipy.io.savemat(str(partial / "splits.mat"), {"trainNdxs": np.array([[1.0], [6.0]]), "testNdxs": [[2.0]]})
    with pytest.raises(FileNotFoundError, match="class13Mapping.mat"):
        nyuv2.list_frames(str(partial), "train", classes=13)
    with pytest.raises(ValueError, match=r"trainNdxs has indices \[6\] outside 1..5"):
        nyuv2.list_frames(str(partial), "train")


def test_binary_converts_the_894_raw_classes_to_16_bit_labels(tree, tmp_path):
    root, truth = tree
    result = warm_python.run(
        [sys.executable, "-m", "rfbnet_tf.prepare_data", "--dataset=nyuv2", f"--input_dir={root}",
         f"--output_dir={tmp_path / 'out'}", "--nyuv2_classes=894", "--splits=test", "--image_size=120,160",
         "--num_workers=1", "--noprogress"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    info = records.load_dataset_info(str(tmp_path / "out"))
    assert info["num_classes"] == 894 and info["label_bits"] == 16 and info["ignore_label"] == 65535
    got = fixture_trees.read_records_by_name(str(tmp_path / "out"), "test")["0005"]["label"][..., 0]
    raw = truth["labels"][4][2::4, 2::4].astype(np.int64)  # raw id k → k − 1, 0 and the border → 65535
    rows, cols = np.meshgrid(np.arange(2, 480, 4), np.arange(2, 640, 4), indexing="ij")  # 0-based source pixels
    inside = (rows >= 44) & (rows <= 470) & (cols >= 40) & (cols <= 600)
    np.testing.assert_array_equal(got, np.where(inside & (raw > 0), raw - 1, 65535))
    assert {299, 893} <= set(got.ravel().tolist())  # raw ids 300 and 894


def test_kept_splits_are_not_mixed_with_another_label_set(tree, prepared):
    root, _ = tree
    out, _ = prepared
    with pytest.raises(ValueError, match=r"keeps the splits \['train'\] with classes 40: converting \['test'\] with "
                                         r"classes 13 would mix them"):
        preparation.prepare("nyuv2", out, input_dir=root, splits=("test",), overwrite=True, nyuv2_classes=13,
                             progress=False, image_size=SMALL)
    with pytest.raises(ValueError, match="with depth_source 'toolbox': converting .* with depth_source 'raw'"):
        preparation.prepare("nyuv2", out, input_dir=root, splits=("test",), overwrite=True, depth_source="raw",
                             progress=False, image_size=SMALL)
    assert records.load_dataset_info(out)["splits"]["test"]["num_examples"] == 2  # untouched


def test_13_class_mapping_field_read_by_name_or_first_position(tree, tmp_path):
    root, truth = tree
    struct = np.empty((1, 1), dtype=[("classMapping", object), ("names", object)])
    struct[0, 0]["classMapping"] = truth["labels13"][None, :].astype(np.float64)
    struct[0, 0]["names"] = np.zeros((1, 0))
    scipy.io.savemat(str(tmp_path / "class13Mapping.mat"), {"classMapping13": struct})
    mapping40 = os.path.join(root, "classMapping40.mat")
    by_position = nyuv2.label_lookup(mapping40, str(tmp_path / "class13Mapping.mat"))
    np.testing.assert_array_equal(by_position, nyuv2.label_lookup(mapping40, os.path.join(root, "class13Mapping.mat")))
    raw = np.arange(895)
    expected = np.where(raw > 0, truth["labels13"][truth["map_class"][np.maximum(raw, 1) - 1] - 1] - 1, 255)
    np.testing.assert_array_equal(by_position, expected)


def test_default_splits_are_nyuv2_own(tree, tmp_path):
    root, _ = tree
    info = preparation.prepare("nyuv2", str(tmp_path / "out"), input_dir=root, num_workers=1, progress=False,
                                image_size=SMALL)
    assert sorted(info["splits"]) == ["test", "train"]  # no --splits: train,test, not the default train,val
    with pytest.raises(ValueError, match=r"--splits: nyuv2 has no split 'val'; its splits are \['train', 'test'\]"):
        preparation.prepare("nyuv2", str(tmp_path / "b"), input_dir=root, splits=("train", "val"), progress=False)
