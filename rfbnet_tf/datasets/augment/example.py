"""An example's spatial keys and fill values, and the per-op seeds every augmentation draws from
(the conventions of the :mod:`rfbnet_tf.datasets.augment` docstring)."""

from __future__ import annotations

import numbers

import numpy as np
import tensorflow as tf

from rfbnet_tf.constants import IGNORE_LABEL, IGNORE_LABEL_16

IMAGE_KEYS = ("rgb", "hha", "depth", "depth_raw")
"""Spatial keys resampled bilinearly."""
LABEL_KEYS = ("label",)
"""Spatial keys resampled nearest-neighbour and padded with :data:`LABEL_FILL`."""
IMAGE_FILL = 0.0
LABEL_FILL = IGNORE_LABEL
"""The ignore label of uint8 (and int32) labels (``rfbnet_tf.constants.IGNORE_LABEL``)."""
LABEL_FILL_16 = IGNORE_LABEL_16
"""The ignore label of uint16 labels (records of more than 255 classes, ``records.label_bits``): 255 is a class
there."""


def label_fill(dtype) -> int:
    """The fill of labels of ``dtype``: :data:`LABEL_FILL_16` for uint16, else :data:`LABEL_FILL`."""
    return LABEL_FILL_16 if tf.as_dtype(dtype) == tf.uint16 else LABEL_FILL


# Tags folded into the example seed, one per op, so each op draws independent values.
FLIP_TAG, SCALE_TAG, ROTATION_TAG, CROP_TAG, JITTER_TAG, NOISE_TAG = 11, 12, 13, 14, 15, 16


# Plain graph code (no tensor-dependent Python control flow): AutoGraph need not rewrite it
# when it is called inside ``Dataset.map``, which saves tracing time.
graph_code = tf.autograph.experimental.do_not_convert


def as_seed(seed) -> tf.Tensor:
    """A stateless-RNG seed (int64 shape [2]) from an int or a shape-[] / [2] integer tensor."""
    if isinstance(seed, bool):
        raise ValueError(f"seed must be an int or a shape-[2] integer tensor, got {seed!r}")
    if isinstance(seed, numbers.Integral):
        if not -(2**63) <= int(seed) < 2**63:
            raise ValueError(f"seed must fit in int64, got {seed!r}")
        return tf.constant([int(seed), 0], tf.int64)
    try:
        tensor = tf.convert_to_tensor(seed)
    except (TypeError, ValueError) as error:
        raise ValueError(f"seed must be an int or a shape-[2] integer tensor, got {seed!r}") from error
    if not tensor.dtype.is_integer:
        raise ValueError(f"seed must be an int or a shape-[2] integer tensor, got {seed!r}")
    tensor = tf.cast(tensor, tf.int64)
    if tensor.shape.rank == 0:
        return tf.stack([tensor, tf.constant(0, tf.int64)])
    if tensor.shape.rank != 1 or tensor.shape[0] not in (2, None):
        raise ValueError(f"seed must be an int or a shape-[2] integer tensor, got {seed!r}")
    return tf.ensure_shape(tensor, [2])


def op_seed(seed, tag: int) -> tf.Tensor:
    return tf.random.experimental.stateless_fold_in(as_seed(seed), tag)


def uniform(seed, shape=()) -> tf.Tensor:
    return tf.random.stateless_uniform(shape, seed, dtype=tf.float32)


def spatial_keys(example) -> tuple[list[str], list[str]]:
    """(image keys, label keys) present in ``example``; ``ValueError`` if none or bad rank."""
    if not isinstance(example, dict):
        raise ValueError(f"example must be a dict of tensors, got {type(example).__name__}")
    images = [key for key in IMAGE_KEYS if key in example]
    labels = [key for key in LABEL_KEYS if key in example]
    if not images and not labels:
        raise ValueError(
            f"example has no spatial key of {IMAGE_KEYS + LABEL_KEYS}, got keys {sorted(example)}"
        )
    for key in images + labels:
        shape = tf.TensorShape(getattr(example[key], "shape", np.shape(example[key])))
        if shape.rank != 3 or shape[-1] is None:
            raise ValueError(
                f"example[{key!r}] must have shape (H, W, C) with a known C, got shape {shape}"
            )
        if key in LABEL_KEYS and shape[-1] != 1:
            raise ValueError(f"example[{key!r}] must have shape (H, W, 1), got shape {shape}")
    return images, labels


def spatial_size(example) -> tf.Tensor:
    """int32 ``[height, width]`` shared by the spatial keys (checked statically where known)."""
    images, labels = spatial_keys(example)
    keys = images + labels
    static = {key: tf.TensorShape(example[key].shape)[:2] for key in keys}
    first = static[keys[0]]
    for key in keys[1:]:
        if not first.is_compatible_with(static[key]):
            raise ValueError(
                f"spatial keys differ in size: {keys[0]!r} is {first}, {key!r} is {static[key]}"
            )
    return tf.shape(example[keys[0]], out_type=tf.int32)[:2]


def rows_matrix(rows) -> tf.Tensor:
    """float32 matrix from rows of scalars (Python numbers or scalar tensors)."""
    entries = [tf.cast(value, tf.float32) for row in rows for value in row]
    return tf.reshape(tf.stack(entries), [len(rows), len(rows[0])])
