"""``augment(example, config, seed)``: every augmentation of an :class:`AugmentConfig` on one example."""

from __future__ import annotations

import tensorflow as tf

from rfbnet_tf.datasets.augment.config import AugmentConfig
from rfbnet_tf.datasets.augment.example import as_seed, graph_code, spatial_size
from rfbnet_tf.datasets.augment.geometry import (apply_geometry, crop_step, first_spatial_key, flip_step,
                                                 float_images, rotation_step, scale_step)
from rfbnet_tf.datasets.augment.photometric import color_jitter, gaussian_noise


@graph_code
def augment(example: dict, config: AugmentConfig, seed) -> dict:
    """All augmentations of ``config`` on one example (spatial keys aligned; see the module doc).

    Geometry (flip → scale → rotation → crop) is resampled once; then colour jitter (RGB) and
    Gaussian noise.  Images come back float32 in their input units, labels in their dtype.  The
    output size is ``config.crop_size``, or the input size when it is ``None``.
    """
    if not isinstance(config, AugmentConfig):
        raise ValueError(f"config must be an AugmentConfig, got {config!r}")
    seed = as_seed(seed)
    steps = []
    if config.flip:
        steps.append(lambda s, n: flip_step(s, n, config.flip))
    scales = config.scale_range is not None and config.scale_range != (1.0, 1.0)
    if scales:
        steps.append(lambda s, n: scale_step(s, n, config.scale_range))
    if config.rotation_degrees:
        steps.append(lambda s, n: rotation_step(s, n, config.rotation_degrees))
    static = tf.TensorShape(example[first_spatial_key(example)].shape)[:2]
    if config.crop_size is not None:
        steps.append(lambda s, n: crop_step(s, n, config.crop_size))
        static = tf.TensorShape(config.crop_size)
    elif scales:  # crop back to the input size: a random zoom
        input_size = spatial_size(example)
        steps.append(lambda s, n: crop_step(s, n, input_size))
    if steps:
        out = apply_geometry(example, seed, steps, static)
    else:
        out = float_images(example)
    if config.brightness or config.contrast or config.saturation or config.hue:
        out = color_jitter(
            out, seed, brightness=config.brightness, contrast=config.contrast,
            saturation=config.saturation, hue=config.hue,
        )
    if config.rgb_noise_std or config.hha_noise_std or config.depth_noise_std:
        out = gaussian_noise(
            out, seed, rgb_std=config.rgb_noise_std, hha_std=config.hha_noise_std,
            depth_std=config.depth_noise_std,
        )
    return out
