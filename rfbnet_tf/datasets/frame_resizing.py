"""Resampling a source frame to its stored resolution, with one pixel-centre convention for images, labels and
the camera matrix: :func:`resize_rgb` (area when shrinking, bilinear otherwise), :func:`resize_nearest` (labels,
depth), :func:`scale_intrinsics`.  Sizes are (height, width).

Shared by the converters' ``load_frame`` (``cityscapes``, ``scannet``, ``nyuv2``, ``sunrgbd``, ``folder``) and by the
inference and submission code that resizes the same way.  Imports no TensorFlow (it runs in the spawned workers of
``prepare``).
"""

from __future__ import annotations

import cv2
import numpy as np

from rfbnet_tf.utils import checks


def check_size(name, size) -> tuple[int, int]:
    """``size`` as ``(height, width)`` of two positive ints; ``ValueError`` naming ``name``."""
    if not checks.is_size_hw(size):
        raise ValueError(f"{name} must be (height, width) of positive ints, got {size!r}")
    return int(size[0]), int(size[1])


def resize_rgb(rgb: np.ndarray, size) -> np.ndarray:
    """Resize a colour image: area averaging when shrinking (no aliasing), bilinear otherwise."""
    height, width = check_size("size", size)
    if rgb.shape[:2] == (height, width):
        return rgb
    shrinking = height <= rgb.shape[0] and width <= rgb.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(rgb, (width, height), interpolation=interpolation)


def resize_nearest(array: np.ndarray, size) -> np.ndarray:
    """Nearest-neighbour resize for labels and depth (no mixed classes, no invented depths).

    ``INTER_NEAREST_EXACT`` samples the source pixel whose centre is nearest, i.e.
    ``src = floor((dst + 0.5) * scale)``, the same pixel-centre convention as
    :func:`scale_intrinsics` (plain ``INTER_NEAREST`` uses ``floor(dst * scale)``).
    """
    height, width = check_size("size", size)
    if array.shape[:2] == (height, width):
        return array
    return cv2.resize(array, (width, height), interpolation=cv2.INTER_NEAREST_EXACT)


def scale_intrinsics(intrinsics, from_size, to_size) -> np.ndarray:
    """Camera matrix of an image resized from ``from_size`` to ``to_size``.

    Pixel centres map as ``x' = (x + 0.5) * s - 0.5`` (the convention of ``cv2.resize``), so
    ``f' = f * s`` and ``c' = (c + 0.5) * s - 0.5`` per axis, ``s = new / old``.
    """
    matrix = np.array(intrinsics, dtype=np.float64).reshape(3, 3)
    (old_h, old_w), (new_h, new_w) = check_size("from_size", from_size), check_size("to_size", to_size)
    sx, sy = new_w / old_w, new_h / old_h
    matrix[0, 0] *= sx
    matrix[0, 1] *= sx
    matrix[1, 1] *= sy
    matrix[0, 2] = (matrix[0, 2] + 0.5) * sx - 0.5
    matrix[1, 2] = (matrix[1, 2] + 0.5) * sy - 0.5
    return matrix
