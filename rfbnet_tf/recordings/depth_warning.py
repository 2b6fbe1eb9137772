"""The depth-units plausibility warning for recordings (:mod:`rfbnet_tf.preprocessing.depth_plausibility`'s rule,
naming the depth topic's encoding)."""

from __future__ import annotations

from absl import logging

from rfbnet_tf.preprocessing.depth_plausibility import depth_unit_warning as _check
from rfbnet_tf.recordings import image_messages

UNITS = "the depth topic's encoding (16UC1 = millimetres, 32FC1 = metres)"


def depth_unit_warning(depth_m, max_depth: float):
    """A warning line when ``depth_m`` (metres) looks like depth in other units, else None."""
    return _check(depth_m, max_depth, units_flag=UNITS)


def warn_if_implausible(depth_units, max_depth: float):
    """Log :func:`depth_unit_warning` of a decoded depth frame (uint16 millimetres), if any."""
    warning = depth_unit_warning(depth_units * image_messages.DEPTH_SCALE, max_depth)
    if warning:
        logging.warning("%s", warning)
