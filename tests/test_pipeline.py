"""Tests of rfbnet_tf.datasets.pipeline on a tiny record directory written in ``tmp_path``."""

import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from rfbnet_tf.datasets import augment as A
from rfbnet_tf.datasets import example_encoding, pipeline, shards

H, W = 24, 32
STATS = {
    "rgb": {"mean": [120.0, 110.0, 100.0], "std": [60.0, 50.0, 40.0]},
    "hha": {"mean": [90.0, 100.0, 110.0], "std": [30.0, 35.0, 45.0]},
    "depth": {"mean": [2.5], "std": [0.8]},
}
SHARDS = ((0, 3), (1, 2))  # (shard index, examples)


def _frame(index):
    rng = np.random.default_rng(index)
    label = rng.integers(0, 5, (H, W)).astype(np.uint8)
    label[:2] = 255
    depth_mm = rng.integers(500, 6000, (H, W)).astype(np.uint16)
    return {
        "rgb": rng.integers(0, 256, (H, W, 3)).astype(np.uint8),
        "hha": rng.integers(0, 256, (H, W, 3)).astype(np.uint8),
        "depth_mm": depth_mm,
        "depth_raw_mm": np.where(rng.random((H, W)) < 0.2, 0, depth_mm).astype(np.uint16),
        "label": label,
    }


@pytest.fixture(scope="module")
def record_dir(tmp_path_factory):
    """2 shards (3 + 2 frames of 24×32) and a dataset_info.json with known statistics."""
    directory = tmp_path_factory.mktemp("records")
    frames, index = [], 0
    for shard, count in SHARDS:
        path = directory / shards.shard_name("train", shard, len(SHARDS))
        with tf.io.TFRecordWriter(str(path)) as writer:
            for _ in range(count):
                frame = _frame(index)
                writer.write(example_encoding.encode_example(
                    **frame, intrinsics=np.eye(3), name=f"frame{index}"
                ))
                frames.append(frame)
                index += 1
    info = {"dataset": "tiny", "num_classes": 5, "ignore_label": 255, "image_size": [H, W],
            "splits": {"train": {"num_examples": index}}, "normalization": STATS}
    (directory / "dataset_info.json").write_text(json.dumps(info))
    return str(directory), frames


def _normalised(value, key):
    return (value.astype(np.float64) - STATS[key]["mean"]) / STATS[key]["std"]


# --------------------------------------------------------------------------- evaluation path


def test_eval_round_trip_is_normalised_pixel_by_pixel_in_file_order(record_dir):
    directory, frames = record_dir
    dataset = pipeline.make_dataset(directory, "train", batch_size=2, training=False)
    batches = list(dataset)
    assert [int(b[1].shape[0]) for b in batches] == [2, 2, 1]  # no repeat, remainder kept
    rgb = np.concatenate([b[0]["rgb"].numpy() for b in batches])
    hha = np.concatenate([b[0]["depth"].numpy() for b in batches])
    label = np.concatenate([b[1].numpy() for b in batches])
    assert rgb.dtype == np.float32 and label.dtype == np.int32
    for i, frame in enumerate(frames):
        np.testing.assert_allclose(rgb[i], _normalised(frame["rgb"], "rgb"), atol=1e-5)
        np.testing.assert_allclose(hha[i], _normalised(frame["hha"], "hha"), atol=1e-5)
        np.testing.assert_array_equal(label[i], frame["label"])


def test_eval_depth_input_is_completed_depth_in_metres(record_dir):
    directory, frames = record_dir
    dataset = pipeline.make_dataset(
        directory, "train", batch_size=1, training=False, depth_input="depth"
    )
    inputs, _ = next(iter(dataset))
    assert inputs["depth"].shape == (1, H, W, 1)
    expected = _normalised(frames[0]["depth_mm"][..., None] / 1000.0, "depth")
    np.testing.assert_allclose(inputs["depth"][0].numpy(), expected, atol=1e-5)


def test_eval_resize_and_full_resolution_label(record_dir):
    directory, frames = record_dir
    dataset = pipeline.make_dataset(
        directory, "train", batch_size=1, training=False, image_size=(12, 16),
        keep_full_label=True,
    )
    inputs, label, full = next(iter(dataset))
    assert inputs["rgb"].shape == (1, 12, 16, 3) and label.shape == (1, 12, 16)
    np.testing.assert_array_equal(full[0].numpy(), frames[0]["label"])
    # nearest: a half-size label takes every second pixel (half-pixel centres: odd ones)
    np.testing.assert_array_equal(label[0].numpy(), frames[0]["label"][1::2, 1::2])
    expected_rgb = np.round(tf.image.resize(frames[0]["rgb"].astype(np.float32), (12, 16)))
    np.testing.assert_allclose(
        inputs["rgb"][0].numpy(), _normalised(expected_rgb, "rgb"), atol=1e-5
    )


# --------------------------------------------------------------------------- training path


def test_training_batches_crops_pads_with_ignore_and_repeats(record_dir):
    directory, frames = record_dir
    dataset = pipeline.make_dataset(
        directory, "train", batch_size=4, training=True, crop_size=(32, 40), seed=3,
        shuffle_buffer=8,
    )
    assert dataset.element_spec[0]["rgb"].shape == (4, 32, 40, 3)
    assert dataset.element_spec[1].shape == (4, 32, 40)
    labels = [label.numpy() for _, label in dataset.take(3)]  # 12 > 5 examples: repeats
    values = set(np.unique(np.concatenate(labels)))
    assert values <= {0, 1, 2, 3, 4, 255}
    # a 32×40 crop of 24×32 frames (scaled by ≤ 2) mostly has padding; some never
    assert all((label == 255).any() for label in labels)


def test_training_is_reproducible_with_a_seed(record_dir):
    directory, _ = record_dir

    def first_batches(seed):
        dataset = pipeline.make_dataset(
            directory, "train", batch_size=2, training=True, seed=seed, shuffle_buffer=4,
            augment=A.AugmentConfig(crop_size=(16, 16)),
        )
        return [(x["rgb"].numpy(), x["depth"].numpy(), y.numpy()) for x, y in dataset.take(2)]

    first, again, other = first_batches(5), first_batches(5), first_batches(6)
    for a, b in zip(first, again):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
    assert any(not np.array_equal(a[0], b[0]) for a, b in zip(first, other))
    # every example of a batch gets its own augmentation (different seeds)
    assert not np.array_equal(first[0][2][0], first[0][2][1])


def test_training_without_augmentation_reads_every_frame_once_per_epoch(record_dir):
    directory, frames = record_dir
    dataset = pipeline.make_dataset(
        directory, "train", batch_size=1, training=True, seed=0, repeat=False,
        augment=A.AugmentConfig.disabled(),
    )
    labels = sorted(tuple(y.numpy().ravel()) for _, y in dataset)
    assert labels == sorted(tuple(f["label"].ravel().astype(np.int32)) for f in frames)


def test_the_training_stream_is_a_function_of_seed_and_position(record_dir, tmp_path):
    """Position p is record p mod 5 of epoch p div 5 of a seeded permutation: every epoch reads each frame once
    in its own order, and a stream started at any position (a resumed run) is the tail of the one from 0."""
    directory, frames = record_dir
    frame_of = {frame["label"].astype(np.int32).tobytes(): index for index, frame in enumerate(frames)}

    def order(record_dir, start, count, **kwargs):
        dataset = pipeline.make_dataset(record_dir, "train", batch_size=1, training=True, seed=3, start=start,
                                        augment=A.AugmentConfig.disabled(), **kwargs)
        return [frame_of[label.numpy()[0].tobytes()] for _, label in dataset.take(count)]

    stream = order(directory, 0, 15)  # three epochs
    epochs = [stream[i:i + 5] for i in (0, 5, 10)]
    assert all(sorted(epoch) == [0, 1, 2, 3, 4] for epoch in epochs) and len(set(map(tuple, epochs))) == 3
    assert order(directory, 7, 8) == stream[7:]
    assert order(directory, 0, 7, shuffle_buffer=0) == [0, 1, 2, 3, 4, 0, 1]  # no shuffle: shard order
    # The shard sizes of dataset_info.json (prepare_data writes them; this directory's were counted) give the same
    # stream; sizes that do not match the shards fail instead of shifting it.
    listed = tmp_path / "listed"
    shutil.copytree(directory, listed)
    info = json.loads((listed / "dataset_info.json").read_text())
    info["splits"]["train"].update(files=[shards.shard_name("train", i, 2) for i in (0, 1)], examples_per_file=[3, 2])
    (listed / "dataset_info.json").write_text(json.dumps(info))
    assert order(str(listed), 0, 15) == stream
    info["splits"]["train"]["examples_per_file"] = [3, 3]
    (listed / "dataset_info.json").write_text(json.dumps(info))
    with pytest.raises(tf.errors.OpError, match="expected to contain 1 element"):
        order(str(listed), 0, 6)


# --------------------------------------------------------------------------- errors


def test_missing_paths_raise_naming_them(record_dir, tmp_path):
    directory, _ = record_dir
    missing = str(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        pipeline.make_dataset(missing, "train", batch_size=1, training=False)
    with pytest.raises(FileNotFoundError, match="'val'"):
        pipeline.make_dataset(directory, "val", batch_size=1, training=False)
    no_info = tmp_path / "no_info"
    no_info.mkdir()
    (no_info / shards.shard_name("train", 0, 1)).write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="dataset_info.json"):
        pipeline.make_dataset(str(no_info), "train", batch_size=1, training=False)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(image_size=(0, 16)), "image_size"),
        (dict(image_size=(12, 16, 3)), "image_size"),
        (dict(crop_size="big"), "crop_size"),
        (dict(depth_input="rgb"), "depth_input"),
        (dict(batch_size=0), "batch_size"),
        (dict(keep_full_label=True, batch_size=2), "keep_full_label"),
        (dict(augment="strong", training=True), "augment"),
        (dict(crop_size=(8, 8), augment=A.AugmentConfig(crop_size=(4, 4)), training=True),
         "crop_size"),
        (dict(repeat=0), "repeat"),
        (dict(seed=-1), "seed"),
        (dict(shuffle_buffer=-2), "shuffle_buffer"),
        (dict(num_parallel_calls=0), "num_parallel_calls"),
    ],
)
def test_bad_arguments_raise_value_error_with_the_value(record_dir, kwargs, message):
    directory, _ = record_dir
    arguments = dict(batch_size=1, training=False)
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message) as info:
        pipeline.make_dataset(directory, "train", **arguments)
    bad = kwargs.get(message, kwargs.get("batch_size"))
    if bad is not None and not isinstance(bad, A.AugmentConfig):
        assert repr(bad) in str(info.value)


# --------------------------------------------------------------------------- statistics


def test_normalization_and_denormalize_round_trip(record_dir):
    directory, frames = record_dir
    stats = pipeline.normalization(directory, "hha")
    np.testing.assert_array_equal(stats["rgb"]["mean"], STATS["rgb"]["mean"])
    np.testing.assert_array_equal(stats["depth"]["std"], STATS["hha"]["std"])
    assert pipeline.normalization(directory, "depth")["depth"]["mean"].shape == (1,)
    rgb = frames[1]["rgb"]
    normalised = _normalised(rgb, "rgb").astype(np.float32)
    back = pipeline.denormalize(normalised, "rgb", directory)
    assert isinstance(back, np.ndarray) and back.dtype == np.uint8
    np.testing.assert_array_equal(back, rgb)
    info = json.loads((open(os.path.join(directory, "dataset_info.json"))).read())
    back = pipeline.denormalize(tf.constant(normalised[None]), "rgb", info)
    assert isinstance(back, tf.Tensor)
    np.testing.assert_array_equal(back.numpy()[0], rgb)
    # depth: metres → 255·d/(mean + 3·std), clipped
    depth = pipeline.denormalize(np.array([[[(1.225 - 2.5) / 0.8]]], np.float32), "depth", info)
    assert depth.ravel()[0] == round(255 * 1.225 / (2.5 + 2.4))
    with pytest.raises(ValueError, match="'normals'"):
        pipeline.denormalize(normalised, "normals", info)


def test_measure_rate_counts_examples_per_second(record_dir):
    directory, _ = record_dir
    rate = pipeline.measure_rate(
        directory, "train", 3, batch_size=2, training=True, seed=0,
        augment=A.AugmentConfig(crop_size=(16, 16)),
    )
    assert rate > 0
    with pytest.raises(ValueError, match="no batch after"):
        pipeline.measure_rate(directory, "train", 2, batch_size=8, training=False)
