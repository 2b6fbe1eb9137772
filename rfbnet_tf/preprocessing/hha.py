"""HHA encoding of a depth image (Gupta et al., ECCV 2014).

RFBNet (paper Sec. IV-B, ref. [29]) feeds the depth branch with the three-channel HHA encoding of
Gupta et al., "Learning Rich Features from RGB-D Images for Object Detection and
Segmentation", ECCV 2014.  This module re-implements, vectorised with numpy/OpenCV,
the reference MATLAB code (``s-gupta/rcnn-depth``: ``rcnn/saveHHA.m``,
``mcg/depth_features/processDepthImage.m``, ``computeNormalsSquareSupport.m``,
``getYDir``/``getRMatrix`` of rgbdutils) as ported to python in
``charlesCXK/Depth2HHA-python`` (``getHHA.py``, ``utils/rgbd_util.py``, ``utils/util.py``).

Conventions: depth is the z coordinate (not the ray length) in metres, 0 = missing;
``intrinsics`` is the 3x3 pinhole matrix ``[[fx, 0, cx], [0, fy, cy], [0, 0, 1]]`` with
0-based pixel coordinates (OpenCV convention: pixel (row v, column u) back-projects to
``((u - cx) z / fx, (v - cy) z / fy, z)``).  Camera axes: x right, y down, z forward.

Output channels, in Gupta et al.'s order (``I(:,:,1..3)`` of ``saveHHA.m``), all
rounded half up and saturated to uint8 like MATLAB's ``uint8()``:

0. **Horizontal disparity**: ``31000 / max(z_cm, 100)``, i.e. ``310 / max(z_m, 1)``
   (``saveHHA.m``: "Making the minimum depth to be 100, to prevent large values for
   disparity"); 255 for every depth <= 310/255 m = 1.216 m.
1. **Height above ground** in centimetres: ``h = -100 * (P . g)`` is the height of the
   point above the camera along the estimated gravity ``g``; the channel is
   ``h - h_min`` where ``h_min`` is the lowest measured height, unless that lowest
   point is less than 90 cm below the camera, in which case the floor is assumed
   130 cm below the camera (``processDepthImage.m``:
   ``yMin = prctile(h(:), 0); if(yMin > -90) yMin = -130; end; h = h-yMin``).
   Heights above 2.55 m saturate at 255.
2. **Angle with gravity**: ``acosd(n . up) + 128 - 90`` where ``n`` is the unit surface
   normal oriented towards the camera and ``up = -g`` (``saveHHA.m``:
   ``I(:,:,3) = (angl+128-90); %Keeping some slack``).  Floors (0 deg) -> 38, walls
   (90 deg) -> 128, ceilings (180 deg) -> 218.  The reference orients normals *away*
   from the camera and measures against the downward ``g``; the dot product is the same.
   Where no normal can be fitted (fewer than 3 non-collinear measured points in the
   window) the angle is 180 deg (218), as MATLAB's NaN-ignoring ``min``/``max`` make it.

Normals (``computeNormalsSquareSupport.m``): least-squares plane ``n . P = 1`` fitted to
the measured points of a (2r+1)^2 window, written as ``(X/Z, Y/Z, 1) . n = 1/Z``; r = 3
for the angle channel and r = 10 for the gravity estimate (``normalParam.patchSize =
[3 10]``).  Windows are clipped at the image border (MATLAB ``filter2`` zero padding)
and the superpixel clipping is not used (the reference passes a single superpixel).
We accumulate the normal equations with separable filters in window-centred pixel
offsets, which is the same least-squares problem without the cancellation of raw
moments.

Gravity (``getYDir``, ``yDirParam.angleThresh = [45 15]``, ``iter = [5 5]``,
``y0 = [0 1 0]'``): starting from the camera's y axis, repeatedly take the normals
within ``t`` degrees of the current estimate (floor set F) and those within ``t`` of
perpendicular to it (wall set W) and choose the unit ``g`` minimising
``sum_W (n . g)^2 - sum_F (n . g)^2`` (the eigenvector of ``N_W N_W^T - N_F N_F^T``
with the smallest eigenvalue), 5 iterations at t = 45 deg then 5 at t = 15 deg.
Deviation: we subtract ``1e-9 * |F u W| * g g^T`` from that matrix so that a
degenerate problem (e.g. a single wall, equal smallest eigenvalues) keeps the
current estimate instead of an arbitrary eigenvector; well-posed scenes are not
affected.  The height is projected on ``g`` directly instead of rotating the point
cloud with ``getRMatrix`` (the same value; the reference skips rotations < 0.1 deg).

Missing pixels (depth 0, negative or non-finite in ``depth_m``) are 0 in all three
channels.  The data pipeline completes the depth first (``complete_depth``) and may
pass the raw measurement mask as ``measured_mask`` so that, as in ``saveHHA.m``
(``missingMask = RD == 0``), normals are fitted only to measured points while every
pixel gets an HHA value from the completed depth.
"""

from __future__ import annotations

import numpy as np
import cv2

from rfbnet_tf.preprocessing.depth_completion import (
    as_depth_image,
    require_valid_pixels,
    valid_depth_mask,
)
from rfbnet_tf.utils.checks import int_at_least

# Constants of the reference code (see module docstring for their sources).
DISPARITY_NUMERATOR_CM = 31000.0  # saveHHA.m: I(:,:,1) = 31000./pc(:,:,3)
MIN_DISPARITY_DEPTH_CM = 100.0  # saveHHA.m: pc(:,:,3) = max(pc(:,:,3), 100)
FLOOR_SEARCH_DEPTH_CM = -90.0  # processDepthImage.m: if(yMin > -90) ...
DEFAULT_FLOOR_HEIGHT_CM = -130.0  # ... yMin = -130
ANGLE_OFFSET_DEG = 128.0 - 90.0  # saveHHA.m: I(:,:,3) = (angl+128-90)
UNDEFINED_NORMAL_ANGLE_DEG = 180.0  # acosd(min(1, max(-1, NaN))) in MATLAB
ANGLE_NORMAL_RADIUS = 3  # processDepthImage.m: normalParam.patchSize(1)
GRAVITY_NORMAL_RADIUS = 10  # processDepthImage.m: normalParam.patchSize(2)
GRAVITY_ANGLE_THRESHOLDS_DEG = (45.0, 15.0)  # yDirParam.angleThresh
GRAVITY_ITERATIONS = (5, 5)  # yDirParam.iter
CAMERA_Y_AXIS = (0.0, 1.0, 0.0)  # yDirParam.y0
_CM_PER_M = 100.0
_TIE_BREAK = 1e-9  # relative weight that keeps the current g in degenerate cases


def camera_parameters(intrinsics) -> tuple[float, float, float, float]:
    """Validate a 3x3 pinhole camera matrix and return ``(fx, fy, cx, cy)``.

    Raises:
        ValueError: if it is not a finite real 3x3 matrix or a focal length is <= 0.
    """
    try:
        matrix = np.asarray(intrinsics, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"intrinsics must be a real 3x3 matrix, got {intrinsics!r}") from error
    if matrix.shape != (3, 3):
        raise ValueError(f"intrinsics must be a 3x3 matrix, got shape {matrix.shape}: {intrinsics!r}")
    if not np.isfinite(matrix).all():
        raise ValueError(f"intrinsics must be finite, got {matrix.tolist()}")
    fx, fy, cx, cy = matrix[0, 0], matrix[1, 1], matrix[0, 2], matrix[1, 2]
    if fx <= 0 or fy <= 0:
        raise ValueError(f"focal lengths must be > 0, got fx={fx}, fy={fy} in {matrix.tolist()}")
    return float(fx), float(fy), float(cx), float(cy)


def point_cloud(depth_m, intrinsics) -> np.ndarray:
    """Back-project a depth image to (H, W, 3) camera coordinates in metres.

    ``getPointCloudFromZ`` with 0-based pixel coordinates; missing depth gives NaN.
    """
    depth = as_depth_image(depth_m)
    fx, fy, cx, cy = camera_parameters(intrinsics)
    z = np.where(valid_depth_mask(depth), depth, np.nan)
    rows, cols = np.indices(depth.shape, dtype=np.float64)
    return np.stack([(cols - cx) * z / fx, (rows - cy) * z / fy, z], axis=-1)


def _window_sum(image: np.ndarray, kernel_u: np.ndarray, kernel_v: np.ndarray) -> np.ndarray:
    """Sum over the (2r+1)^2 window of ``k_u(du) k_v(dv) image[v+dv, u+du]`` (zero padded)."""
    return cv2.sepFilter2D(
        image, cv2.CV_64F, kernel_u, kernel_v, borderType=cv2.BORDER_CONSTANT
    )


def surface_normals(depth_m, intrinsics, radius: int = ANGLE_NORMAL_RADIUS, measured_mask=None) -> np.ndarray:
    """Unit surface normals from a least-squares plane fit in square windows.

    Args:
        depth_m: (H, W) depth in metres (0 / non-finite / negative = missing).
        intrinsics: 3x3 camera matrix.
        radius: window radius r; the window is (2r+1) x (2r+1).
        measured_mask: optional (H, W) bool, the pixels whose depth may be used for
            fitting (default: all valid pixels of ``depth_m``); it is intersected with
            the valid pixels.

    Returns:
        float64 (H, W, 3) unit normals in camera coordinates, oriented towards the
        camera (``n . P <= 0``), NaN where the window holds fewer than 3 non-collinear
        measured points.

    Raises:
        ValueError: on bad depth, intrinsics, radius or mask.
    """
    depth = as_depth_image(depth_m)
    fx, fy, cx, cy = camera_parameters(intrinsics)
    int_at_least("radius", radius, 1)
    fit_mask = _fit_mask(depth, measured_mask)

    weight = fit_mask.astype(np.float64)
    inverse_z = np.where(fit_mask, 1.0 / np.where(fit_mask, depth, 1.0), 0.0)
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    ones = np.ones_like(offsets)
    # Normal equations of (du, dv, 1) . m = 1/Z over the window, du/dv = pixel offsets
    # from the window centre (u0, v0).  Gram matrix entries (symmetric) ...
    s_uu = _window_sum(weight, offsets**2, ones)
    s_uv = _window_sum(weight, offsets, offsets)
    s_u = _window_sum(weight, offsets, ones)
    s_vv = _window_sum(weight, ones, offsets**2)
    s_v = _window_sum(weight, ones, offsets)
    s_1 = _window_sum(weight, ones, ones)
    # ... and right-hand side.
    b_u = _window_sum(inverse_z, offsets, ones)
    b_v = _window_sum(inverse_z, ones, offsets)
    b_1 = _window_sum(inverse_z, ones, ones)

    determinant, m_u, m_v, m_1 = solve_window_planes(s_uu, s_uv, s_u, s_vv, s_v, s_1, b_u, b_v, b_1)

    # Back to camera coordinates: du * m_u = (X/Z - x0) * fx * m_u, so
    # n = (fx m_u, fy m_v, m_1 - (u0 - cx) m_u - (v0 - cy) m_v) up to scale.
    rows = np.arange(depth.shape[0], dtype=np.float64)[:, None] - cy
    cols = np.arange(depth.shape[1], dtype=np.float64)[None, :] - cx
    n_x = fx * m_u
    n_y = fy * m_v
    n_z = m_1 - cols * m_u - rows * m_v
    length = np.sqrt(n_x * n_x + n_y * n_y + n_z * n_z)
    # With integer offsets the Gram determinant is a sum of squared integer minors
    # (Cauchy-Binet): >= 1 for 3 non-collinear points, 0 otherwise.
    defined = (determinant > 0.5) & (length > 0)
    # Orient towards the camera, n . ray <= 0 for the pixel's viewing ray
    # ray = ((u - cx) / fx, (v - cy) / fy, 1); that dot product simplifies to m_1
    # (the reference flips by the sign of n . P, P = z * ray with z > 0).
    scale = np.where(m_1 > 0, -1.0, 1.0) / np.where(defined, length, 1.0)
    scale[~defined] = np.nan
    normal = np.stack([n_x * scale, n_y * scale, n_z * scale], axis=-1)
    return normal


def solve_window_planes(s_uu, s_uv, s_u, s_vv, s_v, s_1, b_u, b_v, b_1):
    """Per pixel, the plane ``(du, dv, 1) . m = 1/Z`` from its normal equations: the symmetric Gram matrix
    ``[[s_uu, s_uv, s_u], [s_uv, s_vv, s_v], [s_u, s_v, s_1]]`` and right-hand side ``(b_u, b_v, b_1)``.

    Returns ``(determinant, m_u, m_v, m_1)`` with ``m`` scaled by the determinant (adjugate times the
    right-hand side, ``invertIt`` of the reference).  Arithmetic only: numpy arrays and tensors alike (the
    graph version, ``rfbnet_tf.preprocessing.graph.hha``, uses it too).
    """
    c_uu = s_vv * s_1 - s_v * s_v
    c_uv = -(s_uv * s_1 - s_u * s_v)
    c_u1 = s_uv * s_v - s_u * s_vv
    c_vv = s_uu * s_1 - s_u * s_u
    c_v1 = -(s_uu * s_v - s_uv * s_u)
    c_11 = s_uu * s_vv - s_uv * s_uv
    determinant = s_uu * c_uu + s_uv * c_uv + s_u * c_u1
    m_u = c_uu * b_u + c_uv * b_v + c_u1 * b_1
    m_v = c_uv * b_u + c_vv * b_v + c_v1 * b_1
    m_1 = c_u1 * b_u + c_v1 * b_v + c_11 * b_1
    return determinant, m_u, m_v, m_1


def _fit_mask(depth: np.ndarray, measured_mask) -> np.ndarray:
    """Valid depth pixels, intersected with ``measured_mask`` when one is given."""
    valid = valid_depth_mask(depth)
    if measured_mask is None:
        return valid
    mask = np.asarray(measured_mask)
    if mask.shape != depth.shape:
        raise ValueError(
            f"measured_mask shape {mask.shape} does not match depth shape {depth.shape}"
        )
    if mask.dtype.kind not in "biu":
        raise ValueError(f"measured_mask must be boolean (or 0/1 integers), got dtype {mask.dtype}")
    return valid & (mask != 0)


def estimate_gravity(
    normals,
    initial=CAMERA_Y_AXIS,
    angle_thresholds_deg=GRAVITY_ANGLE_THRESHOLDS_DEG,
    iterations=GRAVITY_ITERATIONS,
) -> np.ndarray:
    """Estimate the direction of gravity from surface normals (``getYDir``).

    Args:
        normals: (..., 3) unit normals (any orientation sign); NaN rows are ignored.
        initial: starting estimate, the camera's y axis (down in the image) by default.
        angle_thresholds_deg: threshold of each stage, degrees.
        iterations: number of re-estimations per stage.

    Returns:
        float64 (3,) unit vector pointing down (the direction gravity pulls), in
        camera coordinates; the world up direction is its negative.

    Raises:
        ValueError: if ``normals`` does not end in 3 or holds no finite normal, or
            the stage parameters are inconsistent.
    """
    array = np.asarray(normals, dtype=np.float64)
    if array.ndim < 1 or array.shape[-1] != 3:
        raise ValueError(f"normals must have shape (..., 3), got {array.shape}")
    if len(angle_thresholds_deg) != len(iterations):
        raise ValueError(
            f"need one iteration count per threshold, got thresholds {angle_thresholds_deg!r} "
            f"and iterations {iterations!r}"
        )
    flat = array.reshape(-1, 3)
    flat = flat[np.isfinite(flat).all(axis=1)]
    if flat.shape[0] == 0:
        raise ValueError(f"normals of shape {array.shape} hold no finite normal")
    gravity = np.asarray(initial, dtype=np.float64)
    if gravity.shape != (3,) or not np.isfinite(gravity).all() or np.linalg.norm(gravity) == 0:
        raise ValueError(f"initial must be a non-zero finite 3-vector, got {initial!r}")
    gravity = gravity / np.linalg.norm(gravity)
    # Products n_i n_j (i <= j) of every normal, computed once for all iterations.
    upper = np.triu_indices(3)
    products = flat[:, upper[0]] * flat[:, upper[1]]
    for threshold_deg, count in zip(angle_thresholds_deg, iterations):
        threshold = np.deg2rad(threshold_deg)
        for _ in range(int(count)):
            gravity = _gravity_step(flat, products, gravity, threshold)
    return gravity


def _gravity_step(
    normals: np.ndarray, products: np.ndarray, gravity: np.ndarray, threshold: float
) -> np.ndarray:
    """One re-estimation of ``getYDirHelper``: smallest eigenvector of N_W N_W^T - N_F N_F^T."""
    similarity = np.abs(normals @ gravity)
    # +1 for the wall set W, -1 for the floor set F, 0 otherwise.
    sign = (similarity < np.sin(threshold)).astype(np.float64)
    sign -= similarity > np.cos(threshold)
    used = np.count_nonzero(sign)
    if used == 0:
        return gravity
    scatter = np.empty((3, 3))
    scatter[np.triu_indices(3)] = sign @ products
    scatter = np.triu(scatter) + np.triu(scatter, 1).T
    scatter -= _TIE_BREAK * used * np.outer(gravity, gravity)
    _, eigenvectors = np.linalg.eigh(scatter)
    estimate = eigenvectors[:, 0]
    return estimate if estimate @ gravity >= 0 else -estimate


def _round_to_uint8(values: np.ndarray) -> np.ndarray:
    """MATLAB ``uint8()``: round half up, saturate to [0, 255], NaN -> 0."""
    rounded = np.floor(np.nan_to_num(values, nan=0.0) + 0.5)
    return np.clip(rounded, 0, 255).astype(np.uint8)


def depth_to_hha(depth_m, intrinsics, measured_mask=None) -> np.ndarray:
    """Encode depth as HHA (disparity, height above ground, angle with gravity).

    Args:
        depth_m: (H, W) depth in metres, 0 (or negative / non-finite) = missing.
        intrinsics: 3x3 camera matrix ``[[fx, 0, cx], [0, fy, cy], [0, 0, 1]]``.
        measured_mask: optional (H, W) bool of the pixels whose depth was measured
            (e.g. ``raw_depth > 0`` when ``depth_m`` is completed); normals and gravity
            are fitted to these only.  Default: every valid pixel of ``depth_m``.

    Returns:
        uint8 (H, W, 3) in the channel order of Gupta et al.; the scaling of each
        channel is given in the module docstring.  Missing pixels are 0.

    Raises:
        ValueError: bad depth (not 2-D, not real, no valid pixel), intrinsics (not
            3x3, non-finite, focal length <= 0) or mask (shape mismatch, dtype), or
            no measured pixel to fit normals to.
    """
    depth = as_depth_image(depth_m)
    camera_parameters(intrinsics)
    valid = require_valid_pixels(depth)
    if not _fit_mask(depth, measured_mask).any():
        raise ValueError("measured_mask selects no pixel with valid depth; cannot fit normals")

    points_cm = point_cloud(depth, intrinsics) * _CM_PER_M
    normals = surface_normals(depth, intrinsics, ANGLE_NORMAL_RADIUS, measured_mask)
    gravity_normals = surface_normals(depth, intrinsics, GRAVITY_NORMAL_RADIUS, measured_mask)
    finite = np.isfinite(gravity_normals).all(axis=-1) & valid
    if finite.any():
        gravity = estimate_gravity(gravity_normals[finite])
    else:  # no window had 3 non-collinear points: keep the camera's y axis
        gravity = np.asarray(CAMERA_Y_AXIS)

    disparity = DISPARITY_NUMERATOR_CM / np.maximum(points_cm[..., 2], MIN_DISPARITY_DEPTH_CM)

    height = -(points_cm @ gravity)
    lowest = height[valid].min()
    if lowest > FLOOR_SEARCH_DEPTH_CM:
        lowest = DEFAULT_FLOOR_HEIGHT_CM
    height = height - lowest

    cosine = np.clip(normals @ -gravity, -1.0, 1.0)
    angle = np.degrees(np.arccos(cosine))
    angle = np.where(np.isnan(angle), UNDEFINED_NORMAL_ANGLE_DEG, angle)

    hha = _round_to_uint8(np.stack([disparity, height, angle + ANGLE_OFFSET_DEG], axis=-1))
    hha[~valid] = 0
    return hha
