"""Tests of the SUN RGB-D converter on a tree in the official layout with the toolbox's .mat files, written by
tests/rgbd_fixtures.py (v5 SUNRGBDMeta / seg37list / allsplit, v7.3 SUNRGBD2Dseg)."""

import os
import shutil

import numpy as np
import pytest
import scipy.io


from rfbnet_tf.datasets import preparation
from rfbnet_tf.datasets import nyuv2, records, sunrgbd
from tests import fixture_trees, rgbd_fixtures

OUT = rgbd_fixtures.SUN_OUTPUT_SIZE


def expected_labels(seglabel):
    """seglabel 1..37 → 0..36, 0 → 255 (computed here)."""
    ids = seglabel.astype(np.int64)
    return np.where(ids > 0, ids - 1, 255).astype(np.uint8)


def picks(array):
    """Nearest pixels of a native frame (an integer multiple s of 30×40) at 30×40: src = floor((dst + 0.5) s)."""
    step = array.shape[0] // OUT[0]
    return array[step // 2::step, step // 2::step]


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("sunrgbd"))
    return root, rgbd_fixtures.write_sunrgbd_tree(root)


def test_depth_decoding_is_read3dpoints():
    # MATLAB: bitor(bitshift(d, -3), bitshift(d, 13)) on uint16 (bits shifted out are lost), then / 1000.
    png = np.array([[8 * 1234, 8 * 1234 + 5, 0, 65535]], np.uint16)
    np.testing.assert_allclose(sunrgbd.decode_depth(png), [[1.234, (1234 + 5 * 8192) / 1000, 0.0, 65.535]],
                               rtol=1e-6)
    depth = np.arange(0, 8192, 7, dtype=np.uint16)
    np.testing.assert_array_equal(sunrgbd.decode_depth(rgbd_fixtures.sun_rotate_left(depth)),
                                  depth.astype(np.float32) / np.float32(1000))


def test_frames_follow_allsplit_and_meta_order(tree):
    root, truth = tree
    train = sunrgbd.list_frames(root, "train")
    assert [f["name"] for f in train] == [truth[i]["folder"] for i in (3, 0, 2)]
    assert [f["seg_index"] for f in train] == [3, 0, 2]
    assert [f["name"] for f in sunrgbd.list_frames(root, "test")] == [truth[1]["folder"], truth[4]["folder"]]
    assert train[1]["depth"].endswith(os.path.join("kv1", "NYUdata", "NYU0001", "depth_bfx", "NYU0001.png"))
    raw = sunrgbd.list_frames(root, "train", depth_source="raw")[1]["depth"]
    assert raw.endswith(os.path.join("NYU0001", "depth", "NYU0001.png"))
    with pytest.raises(ValueError, match=r"SUN RGB-D split must be one of \('train', 'test'\)"):
        sunrgbd.list_frames(root, "val")


def test_native_frame_pixel_by_pixel(tree):
    root, truth = tree
    frame = sunrgbd.list_frames(root, "test")[0]  # meta index 1, 90×120
    loaded = sunrgbd.load_frame(frame, (90, 120))
    expected = truth[1]
    np.testing.assert_array_equal(loaded["label"], expected_labels(expected["seglabel"]))
    np.testing.assert_array_equal(np.rint(loaded["depth_m"] * 1000), expected["depth_mm"])
    k = expected["K"]
    np.testing.assert_allclose(loaded["intrinsics"], [[k[0, 0], 0, k[0, 2] - 1], [0, k[1, 1], k[1, 2] - 1],
                                                      [0, 0, 1]], rtol=1e-12)
    assert np.abs(loaded["rgb"].astype(int) - expected["rgb"]).max() <= 4  # JPEG (quality 100) of smooth ramps


def test_records_pixel_by_pixel(tree, tmp_path):
    root, truth = tree
    summary = preparation.prepare("sunrgbd", str(tmp_path), input_dir=root, splits=("train", "test"),
                                   num_workers=1, progress=False, image_size=OUT, depth_source="raw")
    assert summary["splits"]["train"]["num_examples"] == 3 and summary["splits"]["test"]["num_examples"] == 2
    info = records.load_dataset_info(str(tmp_path))
    assert info["dataset"] == "sunrgbd" and info["num_classes"] == 37 and info["max_depth"] == 8.0
    assert info["depth_source"].startswith("raw:") and info["image_size"] == list(OUT)
    parsed = {**fixture_trees.read_records_by_name(str(tmp_path), "train"),
              **fixture_trees.read_records_by_name(str(tmp_path), "test")}
    assert sorted(parsed) == sorted(frame["folder"] for frame in truth)
    for frame in truth:
        got = parsed[frame["folder"]]
        np.testing.assert_array_equal(got["label"][..., 0], picks(expected_labels(frame["seglabel"])))
        np.testing.assert_array_equal(np.rint(got["depth_raw"][..., 0] * 1000), picks(frame["raw_mm"]))
        assert (got["depth"][..., 0] > 0).all()  # raw holes completed
        s = OUT[0] / frame["rgb"].shape[0]
        k = frame["K"]
        np.testing.assert_allclose(got["intrinsics"], [[k[0, 0] * s, 0, (k[0, 2] - 0.5) * s - 0.5],
                                                       [0, k[1, 1] * s, (k[1, 2] - 0.5) * s - 0.5], [0, 0, 1]],
                                   rtol=1e-6)
    train = np.concatenate([parsed[truth[i]["folder"]]["label"].ravel() for i in (3, 0, 2)])
    assert info["class_histogram"]["train"] == np.bincount(train[train != 255], minlength=37).tolist()


def test_names_and_palette():
    assert len(sunrgbd.CLASS_NAMES) == 37 and sunrgbd.CLASS_NAMES[36] == "bag"
    # SUN RGB-D's 37 classes are NYU40's first 37: same colours
    assert sunrgbd.CLASS_NAMES[:23] == nyuv2.CLASS_NAMES_40[:23] and sunrgbd.CLASS_NAMES[24:] != ()
    np.testing.assert_array_equal(sunrgbd.PALETTE, nyuv2.PALETTE_40[:37])


def test_bad_input_is_named(tree, tmp_path):
    root, truth = tree
    copy = str(tmp_path / "copy")
    shutil.copytree(root, copy, symlinks=True)
    split_path = os.path.join(copy, sunrgbd.SPLIT_PATH)
    cell = np.empty((1, 1), dtype=object)
    cell[0, 0] = rgbd_fixtures.SUN_PREFIX + "kv2/unknown/frame"
    scipy.io.savemat(split_path, {"alltrain": cell, "alltest": cell})
    with pytest.raises(ValueError, match="lists '/n/fs/sun3d/data/SUNRGBD/kv2/unknown/frame', which"):
        sunrgbd.list_frames(copy, "train")
    shutil.copy(os.path.join(root, sunrgbd.SPLIT_PATH), split_path)
    os.remove(os.path.join(copy, "SUNRGBD", *truth[0]["folder"].split("/"), "depth_bfx", "NYU0001.png"))
    with pytest.raises(FileNotFoundError, match="depth_bfx/NYU0001.png"):
        sunrgbd.list_frames(copy, "train")
    os.remove(os.path.join(copy, sunrgbd.SEG_PATH))
    with pytest.raises(FileNotFoundError, match="SUNRGBD2Dseg.mat"):
        preparation.prepare("sunrgbd", str(tmp_path / "out"), input_dir=copy, progress=False, splits=("test",))
