"""A depth-side file of ``predict`` → the depth input a trained run expects (HHA or completed depth).

Raw depth goes through the same chain as ``prepare_data`` (:mod:`rfbnet_tf.preprocessing.depth_encoding`: drop
depth beyond the run's ``max_depth``, complete, HHA-encode); an 8-bit 3-channel HHA image is used as it is.

Raw depth comes in stated units (:data:`DEPTH_UNITS`, ``--depth_units``):

* ``mm``: uint16 PNG in millimetres (ScanNet, Kinect exports, this project's records);
* ``1e-4m``: uint16 PNG in 1/10000 m (the NYU Depth v2 toolbox's dumps);
  in both, 65535 (a saturated reading) is missing, like 0;
* ``m``: float metres, a ``.npy`` array or a 1-channel ``.exr``;
* ``cityscapes_disparity``: a Cityscapes ``*_disparity.png`` (``d = (p - 1) / 256``), turned into metres with
  the baseline and ``fx`` of its ``*_camera.json``, whose intrinsics also serve for HHA.

A depth image whose size differs from the RGB image is an error unless ``resize_depth`` is set: the raw depth is
then resized to the RGB size by nearest neighbour (an HHA image bilinearly) and the intrinsics are scaled with it.
"""

from __future__ import annotations

import os

import cv2
import numpy as np
from absl import logging

from rfbnet_tf.datasets import frame_resizing
from rfbnet_tf.preprocessing import depth_encoding, depth_plausibility
from rfbnet_tf.utils.files import read_image_unchanged

DEFAULT_MAX_DEPTH = 10.0
"""Metres; ``prepare_data``'s default for indoor data (ScanNet, synthetic). Cityscapes uses 65."""
DEPTH_UNITS = ("mm", "1e-4m", "m", "cityscapes_disparity")
UINT16_UNITS_PER_METRE = {"mm": 1000.0, "1e-4m": 10000.0}
"""Divisors of the uint16 units (division, as the converters do, so that predict sees the records' metres)."""
DEPTH_EXTENSIONS = (".png", ".npy", ".exr")


def _check_units(units):
    if units not in DEPTH_UNITS:
        raise ValueError(f"depth_units must be one of {DEPTH_UNITS}, received {units!r}")


def _uint16_metres(image, units):
    """float32 metres of uint16 depth in ``units`` ("mm", "1e-4m"); saturated 65535 values are missing (0)."""
    return depth_plausibility.drop_saturated(image).astype(np.float32) / np.float32(UINT16_UNITS_PER_METRE[units])


def read_depth(path, units: str = "mm", camera=None):
    """``(image, intrinsics)`` of a depth-side file: uint8 ``(H, W, 3)`` HHA as stored, or float32 ``(H, W)`` raw
    depth in metres (0 = missing); ``intrinsics`` is the camera JSON's matrix for ``cityscapes_disparity``, else
    None.  Logs the range read, in metres.

    Raises:
      ValueError: a file that does not fit ``units`` (named with the units), a missing ``camera`` for disparities.
    """
    _check_units(units)
    path = os.fspath(path)
    intrinsics = None
    if path.lower().endswith(".npy"):
        image = np.load(path)
    else:
        if path.lower().endswith(".exr"):
            os.environ.setdefault("OPENCV_IO_ENABLE_OPENEXR", "1")
            if os.path.isfile(path) and not cv2.haveImageReader(path):
                raise ValueError(f"depth file {path!r}: this OpenCV build ({cv2.__version__}) cannot read OpenEXR "
                                 f"files; save the float metres as .npy instead")
        image = read_image_unchanged(path)
    if image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB), None
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim != 2:
        raise ValueError(f"depth file {path!r} must be an 8-bit 3-channel HHA image or one channel of raw depth, "
                         f"received shape {image.shape}")
    if units in UINT16_UNITS_PER_METRE or units == "cityscapes_disparity":
        if image.dtype != np.uint16:
            raise ValueError(f"depth file {path!r} must be a 16-bit PNG for --depth_units={units}, received "
                             f"dtype {image.dtype}")
        if units == "cityscapes_disparity":
            from rfbnet_tf.datasets import cityscapes

            if camera is None:
                raise ValueError(f"--depth_units=cityscapes_disparity needs the camera JSON of {path!r} (--camera)")
            intrinsics, baseline = cityscapes.read_camera(os.fspath(camera))
            metres = cityscapes.disparity_to_depth(image, baseline, intrinsics[0, 0])
        else:
            metres = _uint16_metres(image, units)
    else:
        if image.dtype.kind != "f":
            raise ValueError(f"depth file {path!r} must hold float metres (.npy or .exr) for --depth_units=m, "
                             f"received dtype {image.dtype}")
        metres = np.where(np.isfinite(image), image, 0.0).astype(np.float32)
    valid = metres[metres > 0]
    if valid.size:
        logging.info("depth %s (%s): %.3f to %.3f m, %.1f%% of the pixels measured", path, units, valid.min(),
                     valid.max(), 100.0 * valid.size / metres.size)
    else:
        logging.info("depth %s (%s): no measured pixel", path, units)
    return metres, intrinsics


def warn_implausible_units(path, depth_image, max_depth, units_flag: str = "--depth_units"):
    """Log one warning naming ``path`` when raw depth in metres (what :func:`read_depth` returns) looks read in the
    wrong units for a run of ``max_depth`` (``preprocessing.depth_plausibility.depth_unit_warning``); HHA images
    and an unknown ``max_depth`` are let be. Returns the warning or None."""
    image = np.asarray(depth_image)
    if image.ndim != 2 or max_depth is None:
        return None
    warning = depth_plausibility.depth_unit_warning(image, max_depth, units_flag)
    if warning:
        logging.warning("depth %s: %s", os.fspath(path), warning)
    return warning


def complete_and_encode(raw_depth_m, depth_input: str, intrinsics=None, max_depth: float = DEFAULT_MAX_DEPTH):
    """Raw depth in metres (0 = missing) → uint8 HHA ``(H, W, 3)`` (``depth_input="hha"``, needs
    ``intrinsics``) or completed float32 metres ``(H, W, 1)`` (``depth_input="depth"``)."""
    if depth_input not in ("hha", "depth"):
        raise ValueError(f"depth_input must be 'hha' or 'depth', received {depth_input!r}")
    raw = depth_encoding.clip_raw_depth(raw_depth_m, max_depth)
    if depth_input == "hha" and intrinsics is None:
        raise ValueError("computing HHA from a raw depth image needs the depth camera's intrinsics (--intrinsics)")
    completed, hha = depth_encoding.complete_and_encode(raw, max_depth, intrinsics, hha=depth_input == "hha")
    return hha if depth_input == "hha" else completed[..., None]


def model_depth_input(depth_image, depth_input: str, size, intrinsics=None, max_depth: float = DEFAULT_MAX_DEPTH,
                      units: str = "mm", resize_depth: bool = False, source: str = "the depth image"):
    """The model's depth input at ``size`` = (H, W) of the RGB image.

    Args:
      depth_image: uint8 ``(h, w, 3)`` HHA, float ``(h, w)`` metres (what :func:`read_depth` returns) or uint16
        ``(h, w)`` raw depth in ``units`` ("mm" or "1e-4m").
      depth_input: the run's ``depth_input`` ("hha" or "depth").
      size: the RGB image's (H, W).
      intrinsics: 3×3 camera matrix of the depth image (needed to compute HHA).
      max_depth: depth range in metres (the run's ``max_depth``).
      resize_depth: resize a depth of another size than the RGB (else ``ValueError``); the intrinsics are scaled.
      source: the depth's name in error messages.

    Returns:
      uint8 ``(H, W, 3)`` HHA or float32 ``(H, W, 1)`` completed depth in metres.
    """
    image = np.asarray(depth_image)
    height, width = int(size[0]), int(size[1])
    is_hha = image.ndim == 3 and image.dtype == np.uint8 and image.shape[2] == 3
    if not is_hha:
        if image.ndim != 2 or not (image.dtype == np.uint16 or image.dtype.kind == "f"):
            raise ValueError(f"{source} must be uint8 (H, W, 3) HHA, uint16 (H, W) or float (H, W) depth, "
                             f"received {image.dtype} {image.shape}")
        if image.dtype == np.uint16:
            _check_units(units)
            if units not in UINT16_UNITS_PER_METRE:
                raise ValueError(f"a uint16 depth image needs --depth_units mm or 1e-4m, received {units!r}")
            image = _uint16_metres(image, units)
    if image.shape[:2] != (height, width):
        if not resize_depth:
            raise ValueError(f"{source} is {image.shape[0]}x{image.shape[1]} (HxW), the RGB image {height}x{width}: "
                             "pass --resize_depth to resize the depth to the RGB size (the intrinsics are scaled)")
        if intrinsics is not None:
            intrinsics = frame_resizing.scale_intrinsics(intrinsics, image.shape[:2], (height, width))
        if is_hha:
            image = cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
        else:
            image = frame_resizing.resize_nearest(image, (height, width))
    if is_hha:
        if depth_input != "hha":
            raise ValueError("the run was trained on raw depth (depth_input='depth') but received a 3-channel HHA image")
        return image
    return complete_and_encode(image, depth_input, intrinsics, max_depth)
