"""The depth-units rule of :mod:`rfbnet_tf.preprocessing.depth_plausibility` as TensorFlow ops (``serving_raw``'s
``depth_plausible`` output): the same counts of measured pixels, so both versions flag the same frames."""

from __future__ import annotations

import tensorflow as tf

from rfbnet_tf.preprocessing import depth_plausibility as reference
from rfbnet_tf.preprocessing.graph.depth_completion import valid_depth_mask


def depth_plausible(depth_m, max_depth: float):
    """bool ``(...)`` of depth ``(..., H, W)`` in metres: False where more than half of the measured pixels lie
    beyond ``max_depth`` or nearer than ``MIN_PLAUSIBLE_DEPTH_M`` (``depth_unit_warning`` would warn); True for a
    frame with no measured pixel."""
    depth = tf.cast(depth_m, tf.float32)
    measured = valid_depth_mask(depth)

    def count(mask):
        return tf.reduce_sum(tf.reduce_sum(tf.cast(mask, tf.int32), axis=-1), axis=-1)

    total = count(measured)
    beyond = count(measured & (depth > max_depth))
    nearer = count(measured & (depth < reference.MIN_PLAUSIBLE_DEPTH_M))
    return (2 * beyond <= total) & (2 * nearer <= total)
