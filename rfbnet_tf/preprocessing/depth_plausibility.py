"""Is a raw depth image in the units it was read in? One rule, for ``predict``, ``serving_raw`` and the bag reader.

A depth read in the wrong units is off by a factor of 10 or 1000 (1/10 mm read as mm, mm read as 1e-4 m), which
puts most of the scene beyond the run's ``max_depth`` or nearer than any camera measures: the rule flags a frame
when more than half of its *measured* pixels lie beyond ``max_depth``, or more than half nearer than
:data:`MIN_PLAUSIBLE_DEPTH_M` — i.e. when the median measured depth lies outside ``0.2 .. max_depth`` m.
(Counting halves instead of taking the median keeps the rule cheap and identical in the TensorFlow version,
``rfbnet_tf.preprocessing.graph.depth_plausibility``; the two differ from ``np.median`` only in whether the
average of the two middle values of an even count decides.)

Measured means finite and > 0. A 16-bit sensor value of :data:`SATURATED_UINT16` (65535: out of range, as
some drivers write it) is missing, not measured: readers of uint16 depth apply :func:`drop_saturated` before
converting to metres. A frame with no measured pixel is not flagged here (it has no valid depth at all).

No TensorFlow: the bag reader and the ``prepare_data`` workers import it.
"""

from __future__ import annotations

import numpy as np

from rfbnet_tf.utils.checks import positive_number

MIN_PLAUSIBLE_DEPTH_M = 0.2
"""Metres: nearer than any RGB-D sensor of the datasets measures (Kinect v1 0.4 m, RealSense D4xx ~0.2 m)."""
SATURATED_UINT16 = 65535
"""The largest uint16 value: a saturated / out-of-range reading, counted as missing."""


def drop_saturated(raw_uint16) -> np.ndarray:
    """uint16 raw depth with :data:`SATURATED_UINT16` pixels set to 0 (missing); other dtypes unchanged."""
    image = np.asarray(raw_uint16)
    if image.dtype != np.uint16:
        return image
    return np.where(image == SATURATED_UINT16, np.uint16(0), image)


def _measured(depth_m) -> np.ndarray:
    depth = np.asarray(depth_m, np.float64)
    return depth[np.isfinite(depth) & (depth > 0)]


def depth_unit_warning(depth_m, max_depth, units_flag: str = "--depth_units") -> str | None:
    """The one-line warning for a depth in metres that looks read in the wrong units (module docstring), or None.

    Args:
      depth_m: raw depth in metres, any shape (0, negative or non-finite = missing; saturated uint16 values
        already dropped, :func:`drop_saturated`).
      max_depth: the run's depth range in metres.
      units_flag: the option that sets the units, named in the warning.

    Raises:
      ValueError: ``max_depth`` is not a positive finite number.
    """
    positive_number("max_depth", max_depth, "metres")
    measured = _measured(depth_m)
    beyond, nearer = int(np.sum(measured > max_depth)), int(np.sum(measured < MIN_PLAUSIBLE_DEPTH_M))
    if 2 * beyond <= measured.size and 2 * nearer <= measured.size:  # also when nothing is measured
        return None
    where = (f"{100 * beyond / measured.size:.0f}% of the measured pixels lie beyond max_depth={max_depth:g} m"
             if 2 * beyond > measured.size else
             f"{100 * nearer / measured.size:.0f}% of the measured pixels lie nearer than {MIN_PLAUSIBLE_DEPTH_M:g} m")
    return (f"the depth looks read in the wrong units: {where} (median {np.median(measured):.3g} m, plausible "
            f"{MIN_PLAUSIBLE_DEPTH_M:g} to {max_depth:g} m); check {units_flag}")
