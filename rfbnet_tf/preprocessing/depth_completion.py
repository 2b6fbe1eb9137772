"""Classical depth completion (fill missing depth) on the CPU.

RFBNet (paper Sec. IV-B, "Implementation Details", ref. [38]) completes the raw depth with the
fast classical method of Ku et al., "In Defense of Classical Image Processing: Fast
Depth Completion on the CPU", CRV 2018, before computing HHA.  This module follows
``fill_in_fast`` of the authors' code (``kujason/ip_basic``, ``ip_basic/depth_map_utils.py``):

1. invert the valid depths around ``max_depth`` (``inv = max_depth - d``), so that
   empty pixels (0) are far from every valid value and a grey *dilation* (max filter)
   propagates the *nearest* surface;
2. dilate with a diamond kernel (``DIAMOND_KERNEL_5`` by default);
3. close small holes with a 5x5 full kernel;
4. fill the remaining empty pixels with a 7x7 full-kernel dilation;
5. (``extrapolate``) extend the highest filled value of every column up to the top
   row, then fill the remaining empty pixels with a 31x31 full-kernel dilation;
6. 5x5 median blur, then a 5x5 bilateral blur (d=5, sigmaColor=1.5, sigmaSpace=2.0)
   or a 5x5 Gaussian blur (sigma from the kernel size);
7. invert back.

Deviations from ``fill_in_fast`` (each one makes the result better defined):

* Valid pixels are the finite, strictly positive input values (not ``> 0.1``); zero,
  NaN, +-inf and negative values are missing.  Valid depths above ``max_depth`` are
  clipped to ``max_depth`` *for the filling only*, and the inversion uses
  ``max_depth + 0.1`` (``_INVERSION_MARGIN``) so that even those stay distinct from
  empty pixels (in ``fill_in_fast`` they became negative, i.e. empty).
* Before the blurs, any pixel still empty (a hole wider than the dilations reach)
  takes the value of its nearest filled pixel (``cv2.distanceTransformWithLabels``),
  so the blurs never mix in empty pixels and the output is dense everywhere.
* At the end every valid input pixel is written back unchanged (as float32), so the
  blurs only ever alter the filled pixels.

Every stage (max/min filters, median, normalised positive blurs, nearest-neighbour
copy) returns values inside the range of its inputs, so each filled depth lies
within the range of the (clipped) valid depths that reach it.
"""

from __future__ import annotations

import cv2
import numpy as np

from rfbnet_tf.utils import checks

# Stage kernels of ``fill_in_fast`` (kujason/ip_basic, depth_map_utils.py).
_CLOSING_KERNEL = np.ones((5, 5), np.uint8)  # FULL_KERNEL_5, hole closing
_SMALL_FILL_KERNEL = np.ones((7, 7), np.uint8)  # FULL_KERNEL_7, empty-pixel fill
_LARGE_FILL_KERNEL = np.ones((31, 31), np.uint8)  # FULL_KERNEL_31, after extrapolation
_MEDIAN_KSIZE = 5  # cv2.medianBlur(depth_map, 5)
_BILATERAL_D, _BILATERAL_SIGMA_COLOR, _BILATERAL_SIGMA_SPACE = 5, 1.5, 2.0
_GAUSSIAN_KSIZE = (5, 5)  # cv2.GaussianBlur(depth_map, (5, 5), 0)
# ip_basic treats inverted values below 0.1 as empty; we keep valid inverted values
# >= this margin so that clipped far pixels never become empty.
_INVERSION_MARGIN = 0.1

BLUR_TYPES = ("bilateral", "gaussian")


def diamond_kernel(size: int) -> np.ndarray:
    """Return the ``size`` x ``size`` diamond (L1 ball) kernel as uint8.

    ``diamond_kernel(5)`` equals ``DIAMOND_KERNEL_5`` of ip_basic.

    Raises:
        ValueError: if ``size`` is not an odd integer >= 3.
    """
    if not checks.is_int(size) or size < 3 or size % 2 == 0:
        raise ValueError(f"kernel size must be an odd integer >= 3, got {size!r}")
    radius = size // 2
    offsets = np.abs(np.arange(size) - radius)
    return (offsets[:, None] + offsets[None, :] <= radius).astype(np.uint8)


def valid_depth_mask(depth: np.ndarray) -> np.ndarray:
    """Boolean mask of measured depth: finite and strictly positive values."""
    return np.isfinite(depth) & (depth > 0)


def as_depth_image(depth_m, name: str = "depth_m") -> np.ndarray:
    """Validate a depth image and return it as a float64 2-D array.

    Accepts any real (integer or floating) 2-D array-like.

    Raises:
        ValueError: if it is not 2-D, is empty, or its dtype is not a real number type
            (bool, complex, strings, objects).
    """
    try:
        array = np.asarray(depth_m)
    except Exception as error:  # e.g. ragged nested lists
        raise ValueError(f"{name} must be a 2-D real array, got {depth_m!r}") from error
    if array.dtype.kind not in "iuf":
        raise ValueError(
            f"{name} must hold real numbers (int or float), got dtype {array.dtype}"
        )
    if array.ndim != 2 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty 2-D (H, W) array, got shape {array.shape}")
    return array.astype(np.float64, copy=False)


def require_valid_pixels(depth: np.ndarray, name: str = "depth_m") -> np.ndarray:
    """Return the valid-depth mask of ``depth``.

    Raises:
        ValueError: if no pixel is valid; the message counts the invalid kinds.
    """
    valid = valid_depth_mask(depth)
    if not valid.any():
        raise ValueError(
            f"{name} has no valid (finite, > 0) pixel: got shape {depth.shape} with "
            f"{int((depth == 0).sum())} zero, {int(np.isnan(depth).sum())} NaN, "
            f"{int(np.isinf(depth).sum())} infinite and {int((depth < 0).sum())} negative values"
        )
    return valid


def _fill_nearest(inverted: np.ndarray) -> np.ndarray:
    """Give every empty (== 0) pixel the value of its nearest non-empty pixel."""
    empty = inverted == 0
    if not empty.any():
        return inverted
    # distanceTransform measures the distance to the nearest *zero* pixel of its input,
    # so filled pixels are encoded as 0; each gets its own label (DIST_LABEL_PIXEL).
    _, labels = cv2.distanceTransformWithLabels(
        empty.astype(np.uint8), cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL
    )
    lookup = np.zeros(labels.max() + 1, np.float32)
    lookup[labels[~empty]] = inverted[~empty]
    filled = inverted.copy()
    filled[empty] = lookup[labels[empty]]
    return filled


def _extend_top(inverted: np.ndarray) -> np.ndarray:
    """Copy each column's highest filled value to all empty rows above it."""
    filled = inverted > 0
    top_row = np.argmax(filled, axis=0)  # 0 for columns without any filled pixel
    top_value = inverted[top_row, np.arange(inverted.shape[1])]
    above = np.arange(inverted.shape[0])[:, None] < top_row[None, :]
    return np.where(above, top_value[None, :], inverted).astype(np.float32)


def complete_depth(
    depth_m,
    max_depth: float = 10.0,
    kernel_size: int = 5,
    extrapolate: bool = True,
    blur_type: str = "bilateral",
) -> np.ndarray:
    """Fill missing depth with Ku et al.'s ``fill_in_fast`` (see module docstring).

    Args:
        depth_m: (H, W) depth in metres, any real dtype.  0, NaN, +-inf and negative
            values are missing.
        max_depth: inversion depth in metres (10 m suits indoor Kinect-like sensors;
            use e.g. 100 for Cityscapes).  Valid depths beyond it are clipped to it
            while filling but are returned unchanged.
        kernel_size: size of the initial diamond dilation kernel (odd, >= 3; ip_basic
            uses 5).
        extrapolate: extend the topmost depth of each column to the top of the image
            and run the 31x31 large fill (ip_basic ``extrapolate=True``).
        blur_type: ``"bilateral"`` (ip_basic's recommended default, keeps edges) or
            ``"gaussian"`` (lower RMSE in Ku et al.).

    Returns:
        float32 (H, W) dense depth in metres.  Valid input pixels hold exactly their
        input value cast to float32; every other pixel is filled.

    Raises:
        ValueError: for a non-2-D, empty or non-real input, an input without any valid
            pixel, or bad option values.
    """
    depth = as_depth_image(depth_m)
    if not checks.is_real(max_depth) or not np.isfinite(max_depth) or max_depth <= 0:
        raise ValueError(f"max_depth must be a finite number > 0 (metres), got {max_depth!r}")
    custom_kernel = diamond_kernel(kernel_size)
    if blur_type not in BLUR_TYPES:
        raise ValueError(f"blur_type must be one of {BLUR_TYPES}, got {blur_type!r}")
    valid = require_valid_pixels(depth)

    # 1. Invert (valid pixels become >= _INVERSION_MARGIN, empty pixels stay 0).
    offset = float(max_depth) + _INVERSION_MARGIN
    inverted = np.zeros(depth.shape, np.float32)
    inverted[valid] = offset - np.minimum(depth[valid], max_depth)
    # 2. Diamond dilation and 3. hole closing.
    inverted = cv2.dilate(inverted, custom_kernel)
    inverted = cv2.morphologyEx(inverted, cv2.MORPH_CLOSE, _CLOSING_KERNEL)
    # 4. Fill empty pixels with a 7x7 dilation.
    empty = inverted == 0
    inverted[empty] = cv2.dilate(inverted, _SMALL_FILL_KERNEL)[empty]
    # 5. Extend the top region and run the large fill.
    if extrapolate:
        inverted = _extend_top(inverted)
        empty = inverted == 0
        inverted[empty] = cv2.dilate(inverted, _LARGE_FILL_KERNEL)[empty]
    inverted = _fill_nearest(inverted)
    # 6. Median, then bilateral or Gaussian blur.
    inverted = cv2.medianBlur(inverted, _MEDIAN_KSIZE)
    if blur_type == "bilateral":
        inverted = cv2.bilateralFilter(
            inverted, _BILATERAL_D, _BILATERAL_SIGMA_COLOR, _BILATERAL_SIGMA_SPACE
        )
    else:
        inverted = cv2.GaussianBlur(inverted, _GAUSSIAN_KSIZE, 0)
    # 7. Invert back and restore the measured pixels bit for bit.
    completed = (np.float32(offset) - inverted).astype(np.float32)
    completed[valid] = depth[valid].astype(np.float32)
    return completed
