"""Geometric augmentations (flip, scale, rotation, crop, resize): every spatial key resampled once through
one affine map, images bilinear and labels nearest-neighbour.

Each geometric step maps (seed, input size) to (M, output size), where the 3×3 matrix M takes
an output pixel (x, y, 1) to the input pixel it samples.  Steps compose by multiplying their
matrices in application order: out → last step's M → … → first step's M → source pixel.
"""

from __future__ import annotations

import math

import tensorflow as tf

from rfbnet_tf.datasets import pixel_kernels
from rfbnet_tf.datasets.augment.config import AugmentConfig, check_range, is_finite_real
from rfbnet_tf.datasets.augment.example import (CROP_TAG, FLIP_TAG, IMAGE_FILL, ROTATION_TAG, SCALE_TAG,
                                                graph_code, label_fill, op_seed, rows_matrix, spatial_keys,
                                                spatial_size, uniform)
from rfbnet_tf.utils import checks


def _matrix(rows) -> tf.Tensor:
    """3×3 affine matrix from its two top rows (the third is [0, 0, 1])."""
    return rows_matrix(list(rows) + [[0.0, 0.0, 1.0]])


def flip_step(seed, size, probability):
    width = tf.cast(size[1], tf.float32)
    flipped = uniform(op_seed(seed, FLIP_TAG)) < probability
    sign = tf.where(flipped, -1.0, 1.0)
    shift = tf.where(flipped, width - 1.0, 0.0)
    return _matrix([[sign, 0.0, shift], [0.0, 1.0, 0.0]]), size


def scale_step(seed, size, scale_range):
    low, high = scale_range
    scale = low + (high - low) * uniform(op_seed(seed, SCALE_TAG))
    out = tf.maximum(tf.cast(tf.round(tf.cast(size, tf.float32) * scale), tf.int32), 1)
    ratio = tf.cast(size, tf.float32) / tf.cast(out, tf.float32)  # input pixels per output pixel
    ry, rx = ratio[0], ratio[1]
    return _matrix([[rx, 0.0, 0.5 * rx - 0.5], [0.0, ry, 0.5 * ry - 0.5]]), out


def _rotation_matrix(size, radians):
    """Counter-clockwise as displayed (y down) about the image centre c:
    input = c + R·(output − c), R = [[cos, −sin], [sin, cos]]."""
    cos, sin = tf.cos(radians), tf.sin(radians)
    cy = (tf.cast(size[0], tf.float32) - 1.0) / 2.0
    cx = (tf.cast(size[1], tf.float32) - 1.0) / 2.0
    return _matrix([[cos, -sin, cx - cos * cx + sin * cy], [sin, cos, cy - sin * cx - cos * cy]])


def rotation_step(seed, size, max_degrees):
    signed = 2.0 * uniform(op_seed(seed, ROTATION_TAG)) - 1.0
    return _rotation_matrix(size, signed * (max_degrees * math.pi / 180.0)), size


def crop_step(seed, size, crop_size):
    """Random window of ``crop_size``: offset ~ U{min(0, n − c), …, max(0, n − c)} per axis."""
    crop = tf.convert_to_tensor(crop_size, tf.int32)
    slack = size - crop
    low, high = tf.minimum(slack, 0), tf.maximum(slack, 0)
    draw = uniform(op_seed(seed, CROP_TAG), [2])
    offset = low + tf.minimum(
        tf.cast(tf.floor(draw * tf.cast(high - low + 1, tf.float32)), tf.int32), high - low
    )
    return _matrix([[1.0, 0.0, offset[1]], [0.0, 1.0, offset[0]]]), crop


def _transform_tensorflow(image, matrix, out_size, nearest, fill_value):
    """Labels (``nearest``): constant ``fill_value`` outside.  Images (bilinear): reads past the
    border take the nearest edge pixel (``fill_mode="NEAREST"`` clamps the sample position
    into the image), the caller masks what lies outside."""
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=image[tf.newaxis],
        transforms=tf.reshape(matrix, [9])[:8][tf.newaxis],
        output_shape=out_size,
        fill_value=tf.constant(fill_value, tf.float32),
        interpolation="NEAREST" if nearest else "BILINEAR",
        fill_mode="CONSTANT" if nearest else "NEAREST",
    )[0]


def _static(size) -> tf.TensorShape:
    return tf.TensorShape([None, None] if size is None else size)


def first_spatial_key(example) -> str:
    images, labels = spatial_keys(example)
    return (images + labels)[0]


def _warp(example, matrix, out_size, static_size=None):
    """Resample every spatial key through ``matrix`` (output pixel → input pixel).

    Labels are warped nearest-neighbour with the fill of their dtype (:func:`label_fill`: 255, 65535 for uint16
    labels), keeping their dtype, together
    with a channel of ones whose warp marks the output pixels whose nearest source pixel lies
    in the image.  Each image key is warped as float32,
    bilinear, reading the nearest edge pixel past the border (so samples less than a pixel
    outside the border take the border value, as ``tf.image.resize`` does, instead of blending
    with the fill; equal to warping after a 1-pixel edge-replicating pad), then set to
    :data:`IMAGE_FILL` wherever that mask says "outside" (a fused XLA kernel,
    :func:`~rfbnet_tf.datasets.pixel_kernels.mask_images`): images and labels agree on which
    pixels are padding.  Images come back float32.

    With static input and output sizes (the training pipeline, whose
    frames are resized to one ``image_size``) the same resampling runs as one fused XLA kernel,
    :func:`~rfbnet_tf.datasets.pixel_kernels.affine_warp` (equal up to float rounding, ~3×
    cheaper); other sizes use ``ImageProjectiveTransformV3`` (XLA would compile once per size).
    """
    images, labels = spatial_keys(example)
    input_static = tf.TensorShape(example[(images + labels)[0]].shape)[:2]
    if input_static.is_fully_defined() and _static(static_size).is_fully_defined():
        return _warp_fused(example, images, labels, matrix, tf.TensorShape(static_size))
    out = dict(example)
    size = spatial_size(example)
    label_dtype = tf.as_dtype(example[labels[0]].dtype) if labels else tf.uint8
    fill = label_fill(label_dtype)
    if label_dtype == tf.uint16:  # not a dtype of ImageProjectiveTransformV3
        label_dtype = tf.int32
    nearest = [tf.cast(example[key], label_dtype) for key in labels]
    nearest.append(tf.ones(tf.concat([size, [1]], 0), label_dtype))
    warped = _transform_tensorflow(tf.concat(nearest, axis=-1), matrix, out_size, True, fill)
    warped.set_shape(_static(static_size).concatenate([len(nearest)]))
    for index, key in enumerate(labels):
        out[key] = tf.cast(warped[..., index:index + 1], example[key].dtype)
    inside = tf.equal(warped[..., -1:], 1)
    # One key at a time, as float32: the uint8 path of ImageProjectiveTransformV3 truncates, and its cost is
    # mostly per channel, so stacking keys saves less than the channel concat/split costs.
    for key in images:
        smooth = _transform_tensorflow(tf.cast(example[key], tf.float32), matrix, out_size, False, IMAGE_FILL)
        smooth = pixel_kernels.mask_images(smooth, inside, IMAGE_FILL)
        smooth.set_shape(_static(static_size).concatenate([smooth.shape[-1]]))
        out[key] = smooth
    return out


def _warp_fused(example, images, labels, matrix, static_size):
    height, width = static_size.as_list()
    warped_images, warped_labels = pixel_kernels.affine_warp(
        tuple(tf.convert_to_tensor(example[key]) for key in images),
        tuple(tf.convert_to_tensor(example[key]) for key in labels),
        tf.cast(matrix, tf.float32),
        tf.range(width, dtype=tf.float32),
        tf.range(height, dtype=tf.float32),
        IMAGE_FILL,
        label_fill(example[labels[0]].dtype) if labels else 0,
    )
    out = dict(example)
    for key, value in zip(images + labels, warped_images + warped_labels):
        value.set_shape(static_size.concatenate(tf.TensorShape(example[key].shape)[-1:]))
        out[key] = value
    return out


def _same_size(example) -> tf.TensorShape:
    """Static output size of a size-keeping op (the input's, possibly unknown)."""
    return tf.TensorShape(example[first_spatial_key(example)].shape)[:2]


def apply_geometry(example, seed, steps, static_size=None):
    size = spatial_size(example)
    total = tf.eye(3)
    for step in steps:
        matrix, size = step(seed, size)
        total = total @ matrix
    return _warp(example, total, size, static_size)


def float_images(example):
    images, _ = spatial_keys(example)
    return {**example, **{key: tf.cast(example[key], tf.float32) for key in images}}


@graph_code
def random_flip(example: dict, seed, probability: float = 0.5) -> dict:
    """Horizontal flip of every spatial key with probability ``probability`` (one draw)."""
    probability = check_range("probability", probability, 0.0, 1.0)
    steps = [lambda s, n: flip_step(s, n, probability)]
    return apply_geometry(example, seed, steps, _same_size(example))


@graph_code
def random_scale(example: dict, seed, scale_range=(0.5, 2.0)) -> dict:
    """Resize every spatial key by s ~ U(scale_range) to ``round(H·s) × round(W·s)``."""
    scale_range = AugmentConfig.disabled(scale_range=scale_range).scale_range
    steps = [lambda s, n: scale_step(s, n, scale_range)]
    return apply_geometry(example, seed, steps)


@graph_code
def rotate(example: dict, degrees) -> dict:
    """Rotate every spatial key by ``degrees`` (counter-clockwise as displayed) about the image
    centre, keeping the size; corners outside the source get the fill values."""
    if not is_finite_real(degrees):
        raise ValueError(f"degrees must be a finite number, got {degrees!r}")
    radians = tf.constant(degrees * math.pi / 180.0, tf.float32)
    steps = [lambda s, n: (_rotation_matrix(n, radians), n)]
    return apply_geometry(example, 0, steps, _same_size(example))


@graph_code
def random_rotation(example: dict, seed, max_degrees: float = 13.0) -> dict:
    """:func:`rotate` by U(−max_degrees, max_degrees) degrees (one draw for all keys)."""
    max_degrees = check_range("max_degrees", max_degrees, 0.0, 180.0)
    steps = [lambda s, n: rotation_step(s, n, max_degrees)]
    return apply_geometry(example, seed, steps, _same_size(example))


@graph_code
def random_crop(example: dict, seed, crop_size) -> dict:
    """Random ``crop_size`` window, the same for every key; pads (images 0, labels ignore) where
    the image is smaller than the window, at a random placement."""
    crop_size = checks.size_hw("crop_size", crop_size)
    steps = [lambda s, n: crop_step(s, n, crop_size)]
    return apply_geometry(example, seed, steps, crop_size)


def _resized(example, keys, labels, size):
    out = {}
    for key in keys:
        value = tf.convert_to_tensor(example[key])
        if key in labels:
            out[key] = tf.image.resize(value, size, method="nearest")
            continue
        smooth = tf.image.resize(value, size, method="bilinear")
        out[key] = (
            tf.saturate_cast(tf.round(smooth), value.dtype)
            if value.dtype.is_integer
            else tf.cast(smooth, value.dtype)
        )
    return out


@graph_code
def resize(example: dict, size) -> dict:
    """Deterministic resize of every spatial key to ``size`` = (h, w): images bilinear
    (``tf.image.resize``, half-pixel centres; integer images rounded back to their dtype),
    labels nearest.  Dtypes are kept; a no-op when the size already matches.  Used for the
    paper's fixed training/evaluation resolution (Sec. IV-B)."""
    size = checks.size_hw("size", size)
    images, labels = spatial_keys(example)
    keys = images + labels
    same = tf.reduce_all(tf.equal(spatial_size(example), tf.constant(size, tf.int32)))
    resized = tf.cond(
        same,
        lambda: {key: tf.convert_to_tensor(example[key]) for key in keys},
        lambda: _resized(example, keys, labels, size),
    )
    out = dict(example)
    for key in keys:
        resized[key].set_shape(tf.TensorShape(size).concatenate(example[key].shape[-1:]))
        out[key] = resized[key]
    return out
