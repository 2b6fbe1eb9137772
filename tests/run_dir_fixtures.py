"""Tiny record sets and model_dirs for the evaluate / export / predict tests (plain functions).

``write_records`` writes frames whose content the test knows (random images and labels) in the
shared record format with a hand-made ``dataset_info.json``; ``make_run_dir`` lays out a
``model_dir`` the way the train binary does (``flags.json`` + ``run_info.json`` +
``final.weights.h5`` + ``train_summary.json``) around a freshly built model with random weights.
"""

from __future__ import annotations

import json
import os

import keras
import numpy as np
import tensorflow as tf

from rfbnet_tf.utils import files
from rfbnet_tf import rundir
from rfbnet_tf.datasets import example_encoding, records, shards

CLASS_NAMES = ["floor", "wall", "chair"]
INTRINSICS = np.array([[50.0, 0.0, 27.5], [0.0, 50.0, 19.5], [0.0, 0.0, 1.0]])
NORMALIZATION = {
    "rgb": {"mean": [120.0, 110.0, 100.0], "std": [60.0, 55.0, 50.0]},
    "hha": {"mean": [128.0, 100.0, 90.0], "std": [40.0, 50.0, 30.0]},
    "depth": {"mean": [2.5], "std": [1.2]},
}


def random_frames(seed, count, size, num_classes=len(CLASS_NAMES)):
    """``count`` frames of ``size`` (h, w): random RGB/HHA, depth 0.5–5 m, labels in blocks of 4×4
    pixels with some ignore (255) blocks."""
    rng = np.random.default_rng(seed)
    height, width = size
    frames = []
    for index in range(count):
        blocks = rng.integers(0, num_classes + 1, (-(-height // 4), -(-width // 4)))
        blocks[blocks == num_classes] = records.IGNORE_LABEL
        label = np.kron(blocks, np.ones((4, 4), np.int64))[:height, :width].astype(np.uint8)
        depth_mm = rng.integers(500, 5000, size, dtype=np.uint16)
        frames.append({
            "rgb": rng.integers(0, 256, (height, width, 3), dtype=np.uint8),
            "hha": rng.integers(0, 256, (height, width, 3), dtype=np.uint8),
            "depth_mm": depth_mm,
            "label": label,
            "name": f"frame_{index:03d}",
        })
    return frames


def write_records(record_dir, splits, class_names=CLASS_NAMES, normalization=NORMALIZATION):
    """Write ``{split: frames}`` as one shard per split plus ``dataset_info.json``."""
    os.makedirs(record_dir, exist_ok=True)
    sizes = {frame["rgb"].shape[:2] for frames in splits.values() for frame in frames}
    info_splits = {}
    for split, frames in splits.items():
        name = shards.shard_name(split, 0, 1)
        with tf.io.TFRecordWriter(os.path.join(record_dir, name)) as writer:
            for frame in frames:
                writer.write(example_encoding.encode_example(
                    rgb=frame["rgb"], hha=frame["hha"], depth_mm=frame["depth_mm"], depth_raw_mm=frame["depth_mm"],
                    label=frame["label"], intrinsics=INTRINSICS, name=frame["name"],
                ))
        info_splits[split] = {"num_examples": len(frames), "files": [name]}
    info = {
        "dataset": "test", "num_classes": len(class_names), "class_names": list(class_names),
        "ignore_label": records.IGNORE_LABEL, "image_size": list(next(iter(sizes))) if len(sizes) == 1 else None,
        "splits": info_splits, "normalization": normalization, "max_depth": 10.0,
    }
    with open(os.path.join(record_dir, records.DATASET_INFO_FILENAME), "w", encoding="utf-8") as handle:
        json.dump(info, handle)
    return info


def run_config(record_dir, model="rfbnet_erfnet_enc", model_options=None, depth_input="hha", image_size=(32, 48),
               class_names=CLASS_NAMES):
    """A ``flags.json`` content with the keys the contract names."""
    return {
        "model": model, "model_options": dict(model_options or {}), "num_classes": len(class_names),
        "class_names": list(class_names), "record_dir": os.fspath(record_dir), "depth_input": depth_input,
        "image_size": list(image_size) if image_size else None,
    }


def typed(config):
    """The :class:`rfbnet_tf.rundir.config_file.RunConfig` of a :func:`run_config` content (as read from the file)."""
    return rundir.config_file.run_config_from_content(config)


def run_info_of(class_names=CLASS_NAMES, normalization=NORMALIZATION, max_depth=10.0):
    """The ``run_info.json`` content of a run trained on records with these facts."""
    return rundir.facts.from_dataset_info({
        "dataset": "test", "num_classes": len(class_names), "class_names": list(class_names),
        "ignore_label": records.IGNORE_LABEL, "normalization": normalization, "max_depth": max_depth,
    })


def make_run_dir(model_dir, config, step=7, seed=1):
    """``model_dir`` with ``flags.json``, ``run_info.json`` (from the records of ``config["record_dir"]`` when
    they exist, else :func:`run_info_of` the config's classes), ``final.weights.h5`` (seeded random weights,
    perturbed; the default seed gives a mix of predicted classes on random images) and ``train_summary.json``;
    returns the model."""
    os.makedirs(model_dir, exist_ok=True)
    files.write_json_atomically(os.path.join(model_dir, rundir.layout.FLAGS_FILENAME), config)
    record_dir = config.get("record_dir")
    if record_dir and os.path.isfile(os.path.join(record_dir, records.DATASET_INFO_FILENAME)):
        info = rundir.facts.from_dataset_info(records.load_dataset_info(record_dir), record_dir)
    else:
        info = run_info_of(config.get("class_names") or CLASS_NAMES)
    rundir.facts.write_run_info(model_dir, info)
    keras.utils.set_random_seed(seed)  # deterministic initial weights
    model = rundir.config_file.build_from_run_config(typed(config))
    rng = np.random.default_rng(seed)
    for variable in model.trainable_weights:
        if "gamma" in variable.path or "beta" in variable.path:
            continue
        value = variable.numpy()
        variable.assign((value + 0.05 * rng.standard_normal(value.shape)).astype(value.dtype))
    rundir.checkpoints.save_weights_atomically(model, rundir.layout.final_weights_path(model_dir))
    files.write_json_atomically(os.path.join(model_dir, rundir.layout.SUMMARY_FILENAME), {"step": step})
    return model


def normalized(frame_images, key_stats):
    """``(x - mean) / std`` in float32 numpy (the reference normalisation)."""
    mean = np.asarray(key_stats["mean"], np.float32)
    std = np.asarray(key_stats["std"], np.float32)
    return (np.asarray(frame_images, np.float32) - mean) / std
