"""Raw depth → the depth inputs of the paper (Sec. IV-B): clip to the depth range, complete, HHA-encode.

The one implementation of this chain, used by ``prepare_data`` when it writes records
(``rfbnet_tf.datasets.frame_conversion``) and by ``predict`` on raw depth files
(``rfbnet_tf.inference.depth_input``), so a model sees at inference exactly what it was trained on:

1. :func:`clip_raw_depth`: pixels that are not finite or lie beyond ``max_depth`` become missing (0);
2. :func:`complete_and_encode`: depth completion (Ku et al. [38], :func:`complete_depth`) clipped to
   ``[0, max_depth]``, then HHA (Gupta et al. [29], :func:`depth_to_hha`) of the completed depth with the normals
   fitted to the measured pixels only.
"""

from __future__ import annotations

import numpy as np

from rfbnet_tf.preprocessing.depth_completion import complete_depth
from rfbnet_tf.preprocessing.hha import depth_to_hha
from rfbnet_tf.utils.checks import positive_number


def clip_raw_depth(depth_m, max_depth: float) -> np.ndarray:
    """float32 raw depth in metres with non-finite values and depths beyond ``max_depth`` set to 0 (missing)."""
    positive_number("max_depth", max_depth, "metres")
    depth = np.asarray(depth_m, np.float32)
    return np.where(np.isfinite(depth) & (depth <= max_depth), depth, 0.0).astype(np.float32)


def complete_and_encode(raw_m, max_depth: float, intrinsics=None, hha: bool = True):
    """``(completed, hha)`` of clipped raw depth (:func:`clip_raw_depth`, 0 = missing, at least one pixel > 0).

    ``completed`` is float32 metres in ``[0, max_depth]``; ``hha`` is uint8 ``(H, W, 3)`` (needs the 3×3
    ``intrinsics``) or None when ``hha=False``.
    """
    raw = np.asarray(raw_m, np.float32)
    if not np.any(raw > 0):
        raise ValueError(f"the depth has no valid pixel within max_depth={max_depth} m")
    completed = np.clip(complete_depth(raw, max_depth=max_depth), 0.0, max_depth).astype(np.float32)
    if not hha:
        return completed, None
    if intrinsics is None:
        raise ValueError("computing HHA from raw depth needs the depth camera's intrinsics")
    return completed, depth_to_hha(completed, intrinsics, measured_mask=raw > 0)
