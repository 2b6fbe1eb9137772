"""Photometric augmentations: colour jitter of RGB and additive Gaussian noise (RGB, HHA, depth)."""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from rfbnet_tf.datasets import pixel_kernels
from rfbnet_tf.datasets.augment.config import check_range
from rfbnet_tf.datasets.augment.example import JITTER_TAG, NOISE_TAG, graph_code, op_seed, rows_matrix, uniform

_VALUE_RANGE = {"rgb": (0.0, 255.0), "hha": (0.0, 255.0), "depth": (0.0, None)}
"""Valid value range per noisy key; depth 0 means missing/out-of-image and is kept at 0."""

_RGB_TO_YIQ = np.array(
    [[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]],
    np.float32,
)
"""FCC NTSC RGB → YIQ: luma Y and the chroma plane (I, Q); grey (r = g = b) has I = Q = 0."""
_YIQ_TO_RGB = np.linalg.inv(_RGB_TO_YIQ).astype(np.float32)


@graph_code
def color_jitter(
    example: dict, seed, *, brightness=40.0, contrast=0.5, saturation=0.3, hue=0.05
) -> dict:
    """Colour jitter of ``"rgb"`` only (0..255 values); every other key is returned untouched.

    One draw per example of each factor, composed into ONE affine colour map (one pass over the
    pixels, clipped once to [0, 255], float32):

    * contrast ``c ~ U(1 − contrast, 1 + contrast)``: ``x → c·(x − μ) + μ``, μ the image's mean
      luma (as torchvision's ``adjust_contrast``);
    * saturation ``s ~ U(1 − saturation, 1 + saturation)`` scales and hue
      ``h ~ U(−hue, hue)`` turns rotates the chroma (I, Q) plane of YIQ, leaving luma unchanged
      (the YIQ hue rotation; ``tf.image.adjust_hue`` uses HSV and costs two extra passes);
    * brightness ``δ ~ U(−brightness, brightness)`` (0..255 units) is added to every channel.

    Parameters at 0 leave their factor at the identity.  A missing ``"rgb"`` returns the
    example as is.
    """
    brightness = check_range("brightness", brightness, 0.0, 255.0)
    contrast = check_range("contrast", contrast, 0.0, 1.0)
    saturation = check_range("saturation", saturation, 0.0, 1.0)
    hue = check_range("hue", hue, 0.0, 0.5)
    if "rgb" not in example:
        return dict(example)
    signed = 2.0 * uniform(op_seed(seed, JITTER_TAG), [4]) - 1.0  # one U(−1, 1) per factor
    delta = signed[0] * brightness
    factor = 1.0 + signed[1] * contrast
    rgb = tf.cast(example["rgb"], tf.float32)
    if saturation or hue:
        scale = 1.0 + signed[2] * saturation
        angle = signed[3] * (hue * 2.0 * math.pi)
        cos, sin = scale * tf.cos(angle), scale * tf.sin(angle)
        chroma = rows_matrix([[1.0, 0.0, 0.0], [0.0, cos, -sin], [0.0, sin, cos]])
        colour = _YIQ_TO_RGB @ chroma @ _RGB_TO_YIQ
    else:
        colour = tf.eye(3)
    luma_mean = tf.tensordot(tf.reduce_mean(rgb, axis=[0, 1]), _RGB_TO_YIQ[0], axes=1)
    # The colour map sends grey to grey (its rows sum to 1), so contrast about μ commutes with it:
    # out = factor·(colour·x) + ((1 − factor)·μ + δ), one fused per-pixel kernel.
    offset = tf.fill([3], (1.0 - factor) * luma_mean + delta)
    out = pixel_kernels.colour_affine(rgb, factor * colour, offset, 0.0, 255.0)
    return {**example, "rgb": out}


@graph_code
def gaussian_noise(example: dict, seed, *, rgb_std=3.0, hha_std=3.0, depth_std=0.01) -> dict:
    """Additive i.i.d. Gaussian noise per pixel and channel (float32 result).

    ``rgb_std`` and ``hha_std`` are in 0..255 units (result clipped to [0, 255]); ``depth_std``
    is in metres on ``"depth"`` (result clipped at 0; zero = missing / out-of-image pixels stay
    0).  ``"depth_raw"``, labels and absent keys are untouched; a std of 0 skips its key.
    Noise is added after the geometry (so resampling does not smooth it), hence also on RGB/HHA
    padding, where the label is the ignore label and the loss ignores it.
    """
    stds = {"rgb": rgb_std, "hha": hha_std, "depth": depth_std}
    for key, std in stds.items():
        check_range(f"{key}_std", std, 0.0, float("inf"))
    noise_seed = op_seed(seed, NOISE_TAG)
    out = dict(example)
    for index, (key, std) in enumerate(stds.items()):
        if not std or key not in example:
            continue
        value = example[key]
        key_seed = tf.random.experimental.stateless_fold_in(noise_seed, index)
        # = tf.random.stateless_normal(shape, key_seed) up to rounding, ~1.8x cheaper on CPU
        noise = pixel_kernels.stateless_normal(tf.shape(value), key_seed)
        low, high = _VALUE_RANGE[key]
        out[key] = pixel_kernels.add_noise(
            value, noise, float(std), low, float("inf") if high is None else high, key == "depth"
        )
    return out
