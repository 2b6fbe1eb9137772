"""Tests of rfbnet_tf.datasets.records: the shared TFRecord format and source-frame helpers."""

import json
import os

import cv2
import numpy as np
import pytest
import tensorflow as tf

from rfbnet_tf.datasets import example_encoding, frame_resizing, records, shards
from rfbnet_tf.utils import files


def _frame(height=5, width=7, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "rgb": rng.integers(0, 256, (height, width, 3), dtype=np.uint8),
        "hha": rng.integers(0, 256, (height, width, 3), dtype=np.uint8),
        "depth_mm": rng.integers(0, 65536, (height, width), dtype=np.uint16),
        "depth_raw_mm": rng.integers(0, 65536, (height, width), dtype=np.uint16),
        "label": rng.integers(0, 256, (height, width), dtype=np.uint8),
        "intrinsics": np.array([[10.5, 0.0, 3.25], [0.0, 11.0, 2.5], [0.0, 0.0, 1.0]]),
        "name": "scene0000_00/120",
    }


def test_round_trip_every_key_pixel_by_pixel():
    frame = _frame()
    parsed = records.parse_example(tf.constant(example_encoding.encode_example(**frame)))
    np.testing.assert_array_equal(parsed["rgb"].numpy(), frame["rgb"])
    np.testing.assert_array_equal(parsed["hha"].numpy(), frame["hha"])
    np.testing.assert_array_equal(parsed["label"].numpy()[..., 0], frame["label"])
    # depth: uint16 millimetres → float32 metres
    np.testing.assert_allclose(parsed["depth"].numpy()[..., 0], frame["depth_mm"] / 1000.0, rtol=1e-6)
    np.testing.assert_allclose(parsed["depth_raw"].numpy()[..., 0], frame["depth_raw_mm"] / 1000.0, rtol=1e-6)
    np.testing.assert_allclose(parsed["intrinsics"].numpy(), frame["intrinsics"], rtol=1e-6)
    assert parsed["name"].numpy() == b"scene0000_00/120"
    assert parsed["rgb"].dtype == tf.uint8 and parsed["label"].shape == (5, 7, 1)
    assert parsed["depth"].dtype == tf.float32 and parsed["intrinsics"].shape == (3, 3)


def test_hand_serialized_proto_matches_tensorflow():
    frame = _frame(3, 4)
    serialized = example_encoding.encode_example(**frame)
    example = tf.train.Example.FromString(serialized)
    feature = example.features.feature
    assert sorted(feature) == sorted([
        "image/rgb", "image/rgb_format", "image/hha", "image/depth", "image/depth_raw",
        "image/label", "image/height", "image/width", "camera/intrinsics", "image/name"])
    assert list(feature["image/height"].int64_list.value) == [3]
    assert list(feature["image/width"].int64_list.value) == [4]
    assert feature["image/rgb_format"].bytes_list.value[0] == b"png"
    assert list(feature["camera/intrinsics"].float_list.value) == [10.5, 0, 3.25, 0, 11, 2.5, 0, 0, 1]
    # the RGB PNG holds RGB order (decoded independently with TensorFlow)
    rgb = tf.io.decode_png(feature["image/rgb"].bytes_list.value[0]).numpy()
    np.testing.assert_array_equal(rgb, frame["rgb"])
    # byte-identical to TensorFlow's serializer for int64 (incl. negative) and float lists
    ours = example_encoding._serialize_example({"a": ("int64", [-1, 0, 300]), "b": ("float", [0.5, -2.0]),
                                       "c": ("bytes", [b"", b"xy"])})
    theirs = tf.train.Example(features=tf.train.Features(feature={
        "a": tf.train.Feature(int64_list=tf.train.Int64List(value=[-1, 0, 300])),
        "b": tf.train.Feature(float_list=tf.train.FloatList(value=[0.5, -2.0])),
        "c": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"", b"xy"])),
    }))
    assert tf.train.Example.FromString(ours) == theirs


def test_jpeg_rgb_and_key_selection_in_dataset_map():
    frame = _frame(16, 16)
    frame["rgb"] = np.full((16, 16, 3), (200, 40, 90), np.uint8)  # flat: JPEG nearly exact
    serialized = example_encoding.encode_example(**frame, rgb_format="jpeg")
    dataset = tf.data.Dataset.from_tensor_slices([serialized]).map(
        lambda s: records.parse_example(s, keys=("rgb", "label")))
    parsed = next(iter(dataset))
    assert set(parsed) == {"rgb", "label", "intrinsics", "name"}
    assert np.abs(parsed["rgb"].numpy().astype(int) - (200, 40, 90)).max() <= 3
    np.testing.assert_array_equal(parsed["label"].numpy()[..., 0], frame["label"])
    with pytest.raises(ValueError, match="nope"):
        records.parse_example(tf.constant(serialized), keys=("rgb", "nope"))


@pytest.mark.parametrize("change, match", [
    ({"rgb": np.zeros((5, 7), np.uint8)}, r"rgb must have shape.*\(5, 7\)"),
    ({"rgb": np.zeros((5, 7, 3), np.float32)}, "rgb must be uint8, got dtype float32"),
    ({"hha": np.zeros((5, 6, 3), np.uint8)}, r"hha has size \(5, 6\)"),
    ({"depth_mm": np.zeros((5, 7), np.float32)}, "depth_mm must be uint16"),
    ({"label": np.zeros((5, 7, 1), np.uint8)}, r"label must have shape.*\(5, 7, 1\)"),
    ({"intrinsics": [1, 2, 3]}, r"intrinsics must be a finite 3x3 matrix, got \[1, 2, 3\]"),
    ({"name": ""}, "name must be a non-empty str, got ''"),
    ({"rgb_format": "gif"}, "rgb_format must be one of .* got 'gif'"),
])
def test_encode_rejects_bad_arguments(change, match):
    with pytest.raises(ValueError, match=match):
        example_encoding.encode_example(**{**_frame(), **change})


def test_metres_to_millimetres_hand_values():
    depth = np.array([[0.0, 1.2344, 1.2346], [np.nan, -1.0, 70.0]])
    np.testing.assert_array_equal(example_encoding.metres_to_millimetres(depth), [[0, 1234, 1235], [0, 0, 65535]])
    assert example_encoding.metres_to_millimetres(depth).dtype == np.uint16


def test_shard_files_and_dataset_info(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"split 'train'.*" + str(tmp_path)):
        shards.shard_files(str(tmp_path), "train")
    for name in ("train-00001-of-00002.tfrecord", "train-00000-of-00002.tfrecord",
                 "val-00000-of-00001.tfrecord", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert shards.shard_files(str(tmp_path), "train") == [
        str(tmp_path / "train-00000-of-00002.tfrecord"), str(tmp_path / "train-00001-of-00002.tfrecord")]
    assert shards.shard_files(str(tmp_path), "val") == [str(tmp_path / "val-00000-of-00001.tfrecord")]
    os.remove(tmp_path / "train-00001-of-00002.tfrecord")
    with pytest.raises(ValueError, match="incomplete"):
        shards.shard_files(str(tmp_path), "train")
    assert shards.shard_name("val", 3, 12) == "val-00003-of-00012.tfrecord"
    with pytest.raises(ValueError, match="index=12"):
        shards.shard_name("val", 12, 12)
    with pytest.raises(FileNotFoundError, match="dataset_info.json"):
        records.load_dataset_info(str(tmp_path))
    (tmp_path / "dataset_info.json").write_text(json.dumps({"num_classes": 3}))
    assert records.load_dataset_info(str(tmp_path)) == {"num_classes": 3}


def test_scale_intrinsics_pixel_centre_convention():
    matrix = np.array([[100.0, 0.0, 63.5], [0.0, 90.0, 31.5], [0.0, 0.0, 1.0]])
    scaled = frame_resizing.scale_intrinsics(matrix, (64, 128), (32, 64))
    # f' = f / 2; c' = (c + 0.5) / 2 - 0.5: the image centre stays the centre
    np.testing.assert_allclose(scaled, [[50.0, 0.0, 31.5], [0.0, 45.0, 15.5], [0.0, 0.0, 1.0]])
    with pytest.raises(ValueError, match=r"got \(0, 5\)"):
        frame_resizing.scale_intrinsics(matrix, (64, 128), (0, 5))


def test_resize_nearest_samples_centre_pixel_and_rgb_area():
    array = np.arange(6 * 8, dtype=np.uint16).reshape(6, 8)
    half = frame_resizing.resize_nearest(array, (3, 4))
    np.testing.assert_array_equal(half, array[1::2, 1::2])  # src = floor((dst + 0.5) * 2) = 2 dst + 1
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[:2, :2] = 200
    np.testing.assert_array_equal(frame_resizing.resize_rgb(rgb, (2, 2))[..., 0], [[200, 0], [0, 0]])
    assert frame_resizing.resize_rgb(rgb, (4, 4)) is rgb


def test_read_image_checks(tmp_path):
    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[..., 0] = 255  # red in RGB order
    cv2.imwrite(str(tmp_path / "rgb.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    np.testing.assert_array_equal(files.read_image(str(tmp_path / "rgb.png"), channels=3, dtype=np.uint8), rgb)
    with pytest.raises(FileNotFoundError, match="missing.png"):
        files.read_image(str(tmp_path / "missing.png"), channels=3, dtype=np.uint8)
    (tmp_path / "bad.png").write_bytes(b"not an image at all")
    with pytest.raises(ValueError, match="could not decode image .*bad.png"):
        files.read_image(str(tmp_path / "bad.png"), channels=1, dtype=np.uint8)
    with pytest.raises(ValueError, match="rgb.png' has 3 channels, expected 1"):
        files.read_image(str(tmp_path / "rgb.png"), channels=1, dtype=np.uint8)
    with pytest.raises(ValueError, match="rgb.png' has dtype uint8, expected uint16"):
        files.read_image(str(tmp_path / "rgb.png"), channels=3, dtype=np.uint16)
