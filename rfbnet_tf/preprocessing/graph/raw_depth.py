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

DEPTH_INPUTS = ("hha", "depth")


def complete_and_encode(raw_depth_m, depth_input: str, intrinsics=None, max_depth: float = 10.0):
    """``(H, W)`` raw depth in metres → uint8 HHA ``(H, W, 3)`` (``depth_input="hha"``, needs ``intrinsics``:
    3×3 or ``(fx, fy, cx, cy)``) or completed float32 metres ``(H, W, 1)`` (``depth_input="depth"``).

    Raises:
      ValueError: bad ``depth_input`` / ``max_depth``, HHA without intrinsics (at trace time).
      tf.errors.InvalidArgumentError: no valid pixel within ``max_depth`` (at run time).
    """
    if depth_input not in DEPTH_INPUTS:
        raise ValueError(f"depth_input must be one of {DEPTH_INPUTS}, received {depth_input!r}")
    if isinstance(max_depth, bool) or not isinstance(max_depth, (int, float)) or not max_depth > 0:
        raise ValueError(f"max_depth must be a positive number of metres, received {max_depth!r}")
    if depth_input == "hha" and intrinsics is None:
        raise ValueError("computing HHA from raw depth needs the depth camera's intrinsics")
    depth = tf.cast(raw_depth_m, tf.float32)
    raw = tf.where(tf.math.is_finite(depth) & (depth <= max_depth), depth, 0.0)
    check = tf.debugging.assert_equal(tf.reduce_any(raw > 0), True,
                                      message=f"the depth image has no valid pixel within max_depth={max_depth} m")
    with tf.control_dependencies([check]):
        completed = tf.clip_by_value(complete_depth(raw, max_depth=max_depth), 0.0, float(max_depth))
    if depth_input == "depth":
        return completed[..., None]
    return depth_to_hha(completed, intrinsics, measured_mask=raw > 0)
