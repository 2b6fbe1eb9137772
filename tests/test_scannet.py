"""Tests of the ScanNet converter on an official-layout fixture tree (tests/fixture_trees.py)."""

import os

import numpy as np
import pytest


from rfbnet_tf.datasets import preparation
from rfbnet_tf.datasets import records, scannet
from tests import fixture_trees

# ScanNet benchmark VALID_CLASS_IDS (NYU40 ids of the 20 classes, in train-id order), hand copy.
BENCHMARK_NYU40 = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 24, 28, 33, 34, 36, 39]


def expected_train_id(scannet_id):
    """Fixture tsv: ScanNet id 100 + k ↔ NYU40 k; id 0 unannotated."""
    nyu40 = scannet_id - fixture_trees.SCANNET_ID_OFFSET if scannet_id else 0
    return BENCHMARK_NYU40.index(nyu40) if nyu40 in BENCHMARK_NYU40 else 255


read_records = fixture_trees.read_records_by_name


def test_nyu40_table_and_class_names():
    assert len(scannet.CLASS_NAMES) == 20 and scannet.CLASS_NAMES[-1] == "otherfurniture"
    for nyu40 in range(41):
        expected = BENCHMARK_NYU40.index(nyu40) if nyu40 in BENCHMARK_NYU40 else 255
        assert scannet.NYU40_TO_SCANNET20[nyu40] == expected
    assert scannet.NYU40_TO_SCANNET20[24] == 14 and scannet.CLASS_NAMES[14] == "refrigerator"


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("scannet"))
    return root, fixture_trees.write_scannet_tree(root)


def test_frame_listing_follows_split_files_and_frame_skip(tree):
    root, _ = tree
    names = [f["name"] for f in scannet.list_frames(root, "train")]
    assert names == ["scene0000_00/0", "scene0000_00/100", "scene0000_01/0", "scene0000_01/100"]
    assert len(scannet.list_frames(root, "train", frame_skip=50)) == 6  # 0, 100, 150
    assert [f["name"] for f in scannet.list_frames(root, "val")] == ["scene0011_00/0", "scene0011_00/100"]
    with pytest.raises(FileNotFoundError, match="scannetv2_test.txt"):
        scannet.list_frames(root, "test")
    with pytest.raises(ValueError, match="frame_skip must be a positive int, got 0"):
        scannet.list_frames(root, "train", frame_skip=0)


def _check_rgb_blocks(rgb, blocks, color_size):
    """Output pixels whose source footprint lies inside one flat colour block match its colour."""
    (out_h, out_w), (src_h, src_w) = rgb.shape[:2], color_size
    rows, cols = blocks.shape[:2]
    checked = 0
    for r in range(out_h):
        y = (r + 0.5) * src_h / out_h
        for c in range(out_w):
            x = (c + 0.5) * src_w / out_w
            by, bx = int(y * rows // src_h), int(x * cols // src_w)
            margin_y = min(y - by * src_h / rows, (by + 1) * src_h / rows - y)
            margin_x = min(x - bx * src_w / cols, (bx + 1) * src_w / cols - x)
            if min(margin_y, margin_x) > 12:  # beyond JPEG's 16×16 chroma blocks' reach
                assert np.abs(rgb[r, c].astype(int) - blocks[by, bx]).max() <= 4, (r, c)
                checked += 1
    assert checked > out_h * out_w // 4


def test_records_pixel_by_pixel(tree, tmp_path):
    root, truth = tree
    out = str(tmp_path)
    summary = preparation.prepare("scannet", out, input_dir=root, num_workers=1, progress=False,
                                   image_size=fixture_trees.SCANNET_DEPTH_SIZE, examples_per_shard=3)
    assert summary["splits"]["train"] == {"num_examples": 4, "files": ["train-00000-of-00002.tfrecord",
                                                                       "train-00001-of-00002.tfrecord"],
                                          "examples_per_file": [3, 1]}
    assert summary["splits"]["val"]["num_examples"] == 2
    parsed = {**read_records(out, "train"), **read_records(out, "val")}
    assert sorted(parsed) == sorted(name for name in truth if not name.endswith("/150"))
    out_h, out_w = fixture_trees.SCANNET_DEPTH_SIZE
    for name, got in parsed.items():
        expected = truth[name]
        # depth at its native size: millimetres unchanged
        np.testing.assert_array_equal(np.rint(got["depth_raw"][..., 0] * 1000), expected["depth_mm"])
        measured = expected["depth_mm"] > 0
        np.testing.assert_array_equal(np.rint(got["depth"][..., 0] * 1000)[measured], expected["depth_mm"][measured])
        # depth intrinsics, 3×3 part
        np.testing.assert_allclose(got["intrinsics"], fixture_trees.SCANNET_DEPTH_INTRINSICS[:3, :3], rtol=1e-6)
        # labels: centre column of every stripe (all 41 ids: 0 and NYU40 1..40)
        stripe_ids = expected["stripe_ids"]
        for k, scannet_id in enumerate(stripe_ids):
            column = int((k + 0.5) * out_w / len(stripe_ids))
            assert (got["label"][:, column, 0] == expected_train_id(int(scannet_id))).all(), (name, k)
        _check_rgb_blocks(got["rgb"], expected["blocks"], fixture_trees.SCANNET_COLOR_SIZE)
    info = records.load_dataset_info(out)
    assert info["dataset"] == "scannet" and info["num_classes"] == 20 and info["image_size"] == [120, 160]
    train_labels = np.concatenate([p["label"].ravel() for n, p in parsed.items() if truth[n]["split"] == "train"])
    assert info["class_histogram"]["train"] == np.bincount(train_labels[train_labels != 255], minlength=20).tolist()
    assert sum(info["class_histogram"]["train"]) > 0


def test_resize_scales_depth_intrinsics(tree, tmp_path):
    root, truth = tree
    preparation.prepare("scannet", str(tmp_path), input_dir=root, splits=("val",), num_workers=1,
                         progress=False, image_size=(60, 80))
    got = read_records(str(tmp_path), "val")["scene0011_00/100"]
    # hand values: f' = f / 2, c' = (c + 0.5) / 2 - 0.5 from the 160×120 depth camera
    np.testing.assert_allclose(got["intrinsics"], [[72.19883725, 0, 39.61317825],
                                                   [0, 72.341224625, 30.085451125], [0, 0, 1]], rtol=1e-6)
    # nearest at scale 1/2 picks the depth pixel (2r + 1, 2c + 1)
    np.testing.assert_array_equal(np.rint(got["depth_raw"][..., 0] * 1000),
                                  truth["scene0011_00/100"]["depth_mm"][1::2, 1::2])


# ------------------------------------------------------------------------- bad input


def _fresh_tree(tmp_path):
    root = str(tmp_path / "scannet")
    return root, fixture_trees.write_scannet_tree(root, {"train": ["scene0000_00"]}, frame_indices=(0, 100))


def test_color_without_label_and_missing_files_are_named(tmp_path):
    root, truth = _fresh_tree(tmp_path)
    os.remove(truth["scene0000_00/100"]["paths"]["label"])
    with pytest.raises(FileNotFoundError, match=r"label-filt/100.png' \(the partner of"):
        scannet.list_frames(root, "train")
    os.remove(truth["scene0000_00/100"]["paths"]["color"])
    os.remove(truth["scene0000_00/100"]["paths"]["depth"])
    os.remove(truth["scene0000_00/0"]["paths"]["intrinsics"])
    with pytest.raises(FileNotFoundError, match="missing depth intrinsics .*intrinsic_depth.txt"):
        scannet.list_frames(root, "train")
    os.remove(os.path.join(root, "scannetv2_train.txt"))
    with pytest.raises(FileNotFoundError, match="missing ScanNet split file .*scannetv2_train.txt"):
        preparation.prepare("scannet", str(tmp_path / "out"), input_dir=root, splits=("train",),
                             num_workers=1, progress=False)


def test_unknown_label_id_corrupt_jpeg_and_aspect_mismatch(tmp_path):
    root, truth = _fresh_tree(tmp_path)
    frame = scannet.list_frames(root, "train")[0]
    paths = truth["scene0000_00/0"]["paths"]
    label = truth["scene0000_00/0"]["label_ids"].copy()
    label[5, 5] = 999
    fixture_trees.write_png(paths["label"], label)
    with pytest.raises(ValueError, match=r"label-filt/0.png' has label ids not in .*labels.combined.tsv': \[999\]"):
        scannet.load_frame(frame)
    fixture_trees.write_png(paths["label"], label[:, :200])
    with pytest.raises(ValueError, match=r"size mismatch: .*label-filt/0.png' is \(242, 200\)"):
        scannet.load_frame(frame)
    fixture_trees.write_png(paths["label"], truth["scene0000_00/0"]["label_ids"])
    fixture_trees.write_png(paths["depth"], np.ones((160, 120), np.uint16))
    with pytest.raises(ValueError, match=r"size mismatch: .*depth/0.png' is \(160, 120\)"):
        scannet.load_frame(frame)
    with open(paths["color"], "wb") as handle:
        handle.write(b"\xff\xd8\xff truncated")
    with pytest.raises(ValueError, match="could not decode image .*color/0.jpg"):
        scannet.load_frame(frame)


def test_all_zero_depth_is_skipped_and_counted(tmp_path):
    root, truth = _fresh_tree(tmp_path)
    fixture_trees.write_png(truth["scene0000_00/100"]["paths"]["depth"], np.zeros((120, 160), np.uint16))
    summary = preparation.prepare("scannet", str(tmp_path / "out"), input_dir=root, splits=("train",),
                                   num_workers=1, progress=False, image_size=(60, 80))
    assert summary["splits"]["train"]["num_examples"] == 1
    assert summary["skipped"]["by_split"]["train"] == {
        "count": 1, "reasons": {"depth has no valid (> 0) pixel": 1},
        "frames": {"scene0000_00/100": "depth has no valid (> 0) pixel"}}
