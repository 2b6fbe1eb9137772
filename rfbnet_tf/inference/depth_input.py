"""A depth-side image file → the depth input a trained run expects (HHA or completed depth).

The same steps as ``rfbnet_tf.prepare_data`` applies when it writes records (paper Sec. IV-B: depth
completion [38], then the HHA encoding [29]): raw depth beyond ``max_depth`` is dropped, the holes
are filled with :func:`~rfbnet_tf.preprocessing.depth_completion.complete_depth`, and, for HHA runs,
:func:`~rfbnet_tf.preprocessing.hha.depth_to_hha` encodes the completed depth with the normals
fitted to the measured pixels.  An HHA image file is used as it is.

A depth image whose size differs from the RGB image (ScanNet: 640×480 depth, 1296×968 colour) is
processed at its own resolution (the intrinsics are the depth camera's) and then resized to the RGB
size: HHA bilinearly, depth in metres by nearest neighbour (no invented depths).
"""

from __future__ import annotations

import cv2
import numpy as np

from rfbnet_tf.datasets import records

DEFAULT_MAX_DEPTH = 10.0
"""Metres; ``prepare_data``'s default for indoor data (ScanNet, synthetic). Cityscapes uses 65."""


def complete_and_encode(raw_depth_m, depth_input: str, intrinsics=None, max_depth: float = DEFAULT_MAX_DEPTH):
    """Raw depth in metres (0 = missing) → uint8 HHA ``(H, W, 3)`` (``depth_input="hha"``, needs
    ``intrinsics``) or completed float32 metres ``(H, W, 1)`` (``depth_input="depth"``)."""
    from rfbnet_tf.preprocessing.depth_completion import complete_depth
    from rfbnet_tf.preprocessing.hha import depth_to_hha

    if depth_input not in ("hha", "depth"):
        raise ValueError(f"depth_input must be 'hha' or 'depth', received {depth_input!r}")
    if not (isinstance(max_depth, (int, float)) and max_depth > 0):
        raise ValueError(f"max_depth must be a positive number of metres, received {max_depth!r}")
    depth = np.asarray(raw_depth_m, np.float32)
    raw = np.where(np.isfinite(depth) & (depth <= max_depth), depth, 0.0).astype(np.float32)
    if not np.any(raw > 0):
        raise ValueError(f"the depth image has no valid pixel within max_depth={max_depth} m")
    completed = np.clip(complete_depth(raw, max_depth=max_depth), 0.0, max_depth).astype(np.float32)
    if depth_input == "depth":
        return completed[..., None]
    if intrinsics is None:
        raise ValueError("computing HHA from a raw depth image needs the depth camera's intrinsics (--intrinsics)")
    return depth_to_hha(completed, intrinsics, measured_mask=raw > 0)


def model_depth_input(depth_image, depth_input: str, size, intrinsics=None, max_depth: float = DEFAULT_MAX_DEPTH):
    """The model's depth input at ``size`` = (H, W) of the RGB image.

    Args:
      depth_image: what ``image_files.read_depth_file`` returns: uint8 HHA ``(h, w, 3)`` or uint16
        millimetres ``(h, w)``.
      depth_input: the run's ``depth_input`` ("hha" or "depth").
      size: the RGB image's (H, W).
      intrinsics: 3×3 camera matrix of the depth image (needed to compute HHA).
      max_depth: depth range in metres (the dataset's ``max_depth`` in ``dataset_info.json``).

    Returns:
      uint8 ``(H, W, 3)`` HHA or float32 ``(H, W, 1)`` completed depth in metres.
    """
    image = np.asarray(depth_image)
    if image.ndim == 3 and image.dtype == np.uint8 and image.shape[2] == 3:
        if depth_input != "hha":
            raise ValueError("the run was trained on raw depth (depth_input='depth') but received a 3-channel HHA image")
        out = image
    elif image.ndim == 2 and image.dtype == np.uint16:
        out = complete_and_encode(image.astype(np.float32) / records.DEPTH_SCALE_MM, depth_input, intrinsics, max_depth)
    else:
        raise ValueError(
            f"depth image must be uint8 (H, W, 3) HHA or uint16 (H, W) millimetres, received {image.dtype} {image.shape}"
        )
    height, width = int(size[0]), int(size[1])
    if out.shape[:2] != (height, width):
        if out.dtype == np.uint8:
            out = cv2.resize(out, (width, height), interpolation=cv2.INTER_LINEAR)
        else:
            out = records.resize_nearest(out[..., 0], (height, width))[..., None]
    return out
