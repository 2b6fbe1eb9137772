"""Raw depth (metres, 0 = missing) → the depth input a trained run expects, as TensorFlow ops.

The graph counterpart of ``rfbnet_tf.inference.depth_input.complete_and_encode`` (what ``predict`` and
``prepare_data`` do with the numpy functions, paper Sec. IV-B: completion [38], then HHA [29]): depths beyond
``max_depth`` (and non-finite ones) are dropped, the holes completed with :func:`complete_depth`, the result
clipped to ``[0, max_depth]``; HHA runs then encode it with :func:`depth_to_hha`, the normals fitted to the
measured pixels only.
"""

from __future__ import annotations

import tensorflow as tf

from rfbnet_tf.preprocessing.graph.depth_completion import complete_depth
from rfbnet_tf.preprocessing.graph.hha import depth_to_hha
from rfbnet_tf.utils.checks import positive_number

DEPTH_INPUTS = ("hha", "depth")


def valid_raw_depth(raw_depth_m, max_depth: float):
    """bool mask of the raw depth the chain uses: finite, > 0 and within ``max_depth``; a frame with none is
    invalid (``tf.reduce_any`` over its pixels)."""
    depth = tf.cast(raw_depth_m, tf.float32)
    return tf.math.is_finite(depth) & (depth > 0) & (depth <= max_depth)


def complete_and_encode(raw_depth_m, depth_input: str, intrinsics=None, max_depth: float = 10.0, *,
                        assert_valid: bool = True):
    """``(H, W)`` raw depth in metres → uint8 HHA ``(H, W, 3)`` (``depth_input="hha"``, needs ``intrinsics``:
    3×3 or ``(fx, fy, cx, cy)``) or completed float32 metres ``(H, W, 1)`` (``depth_input="depth"``).

    ``assert_valid=False`` leaves out the run-time checks, which XLA drops anyway (``jit_compile``): the caller
    tests :func:`valid_raw_depth` itself; a frame with no valid pixel then gives a defined, meaningless result promptly.

    Raises:
      ValueError: bad ``depth_input`` / ``max_depth``, HHA without intrinsics (at trace time).
      tf.errors.InvalidArgumentError: no valid pixel within ``max_depth`` (at run time, with ``assert_valid``).
    """
    if depth_input not in DEPTH_INPUTS:
        raise ValueError(f"depth_input must be one of {DEPTH_INPUTS}, received {depth_input!r}")
    positive_number("max_depth", max_depth, "metres")
    if depth_input == "hha" and intrinsics is None:
        raise ValueError("computing HHA from raw depth needs the depth camera's intrinsics")
    depth = tf.cast(raw_depth_m, tf.float32)
    raw = tf.where(valid_raw_depth(depth, max_depth), depth, 0.0)
    checks = [tf.debugging.assert_equal(tf.reduce_any(raw > 0), True,
                                        message=f"the depth image has no valid pixel within max_depth={max_depth} m")
              ] if assert_valid else []
    with tf.control_dependencies(checks):
        completed = tf.clip_by_value(complete_depth(raw, max_depth=max_depth, assert_valid=assert_valid), 0.0,
                                     float(max_depth))
    if depth_input == "depth":
        return completed[..., None]
    return depth_to_hha(completed, intrinsics, measured_mask=raw > 0, assert_valid=assert_valid)
