"""HHA encoding (Gupta et al., ECCV 2014) as TensorFlow ops: runs in ``tf.function`` and a SavedModel.

The graph counterpart of :func:`rfbnet_tf.preprocessing.hha.depth_to_hha` (paper Sec. IV-B, ref. [29]; the
numpy module's docstring gives the reference MATLAB code, the channels and their scaling).  The same steps, in
float64 like the numpy version:

* normals: the least-squares plane of the measured points of each (2r+1)² window from box-filtered normal
  equations in window-centred pixel offsets (``computeNormalsSquareSupport.m``), as separable zero-padded
  ``conv2d`` s (numpy: ``cv2.sepFilter2D`` with ``BORDER_CONSTANT``), r = 3 for the angle and r = 10 for gravity;
* gravity: 5 iterations at 45° then 5 at 15° of the smallest eigenvector (``tf.linalg.eigh`` of the 3×3
  matrix ``N_W N_W^T - N_F N_F^T`` with the same tie-break) starting from the camera's y axis (``getYDir``);
* disparity ``31000 / max(z_cm, 100)``, height above the lowest point (or 130 cm below the camera), angle
  ``acosd(n · up) + 38`` (180° where no normal is defined), MATLAB ``uint8()`` rounding (half up, saturated).

Where the arithmetic differs (the result does not, up to rounding): the window sums are box sums of moment
images from one integral image (``surface_normals``), not OpenCV's separable filter of centred offsets;
gravity's normals are masked instead of gathered (static shapes, for XLA); the eigen solver is TensorFlow's.
Measured on the analytic scenes of ``tests/test_hha.py`` and synthetic frames: every channel equal to the
numpy version on 100 % of pixels, except a few pixels at 1 grey level (rounding ties).
"""

from __future__ import annotations

import math

import tensorflow as tf

from rfbnet_tf.preprocessing import hha as reference
from rfbnet_tf.preprocessing.graph.depth_completion import valid_depth_mask


def camera_parameters(intrinsics):
    """``(fx, fy, cx, cy)`` float64 scalars of a 3×3 camera matrix or a 4-vector ``(fx, fy, cx, cy)``.

    Raises:
      ValueError: any other static shape (at trace time).
    """
    values = tf.cast(tf.convert_to_tensor(intrinsics), tf.float64)
    if values.shape == (3, 3):
        return values[0, 0], values[1, 1], values[0, 2], values[1, 2]
    if values.shape == (4,):
        return values[0], values[1], values[2], values[3]
    raise ValueError(f"intrinsics must be a 3x3 camera matrix or (fx, fy, cx, cy), got shape {values.shape}")


class _IntegralImage:
    """Zero-padded 2-D cumulative sum of a ``(H, W, C)`` image: window sums of any radius up to ``max_radius``
    from four corner reads (one cumulative sum shared by the r = 3 and r = 10 normals)."""

    def __init__(self, image, max_radius):
        self.radius = max_radius
        self.size = tf.shape(image)[:2]
        padded = tf.pad(image, [[max_radius + 1, max_radius], [max_radius + 1, max_radius], [0, 0]])
        self.total = tf.cumsum(tf.cumsum(padded, axis=0), axis=1)

    def _corner(self, row_offset, col_offset):
        return self.total[row_offset: row_offset + self.size[0], col_offset: col_offset + self.size[1]]

    def window_sum(self, radius):
        """Sum over the (2r+1)² window of every pixel, zero padded (``filter2`` of the reference)."""
        high, low = self.radius + 1 + radius, self.radius - radius
        return (self._corner(high, high) - self._corner(low, high) - self._corner(high, low)
                + self._corner(low, low))


def _moments(depth, fit_mask):
    """The integral image of the moment images ``w, u w, u² w, v w, v² w, u v w, 1/z, u/z, v/z`` (w = fit mask)."""
    weight = tf.cast(fit_mask, tf.float64)
    inverse_z = tf.where(fit_mask, 1.0 / tf.where(fit_mask, depth, 1.0), 0.0)
    shape = tf.shape(depth)
    v = tf.cast(tf.range(shape[0]), tf.float64)[:, None]
    u = tf.cast(tf.range(shape[1]), tf.float64)[None, :]
    return tf.stack([weight, u * weight, u * u * weight, v * weight, v * v * weight, u * v * weight,
                     inverse_z, u * inverse_z, v * inverse_z], axis=-1)


def surface_normals(integral, camera, radius):
    """Unit normals ``(H, W, 3)`` towards the camera and the mask ``(H, W)`` of pixels where one is defined.

    ``integral`` the :class:`_IntegralImage` of :func:`_moments` (depth in metres and the mask of pixels the
    planes are fitted to), ``camera`` ``(fx, fy, cx, cy)``; the numpy ``surface_normals`` step by step, except
    that the window sums of the centred offsets ``du = u' - u`` are expanded into box sums of moment images
    (``sum du² w = B[u'² w] - 2u B[u' w] + u² B[w]``, B = box sum from the integral image): float64 ``conv2d``
    is ~10× slower.  The weight sums stay integers (exact); the right-hand side loses ~1e-12 relative.
    """
    fx, fy, cx, cy = camera
    v = tf.cast(tf.range(integral.size[0]), tf.float64)[:, None]
    u = tf.cast(tf.range(integral.size[1]), tf.float64)[None, :]
    sums = tf.unstack(integral.window_sum(radius), axis=-1)
    w_1, w_u, w_uu, w_v, w_vv, w_uv, z_1, z_u, z_v = sums
    s_1 = w_1
    s_u = w_u - u * w_1
    s_v = w_v - v * w_1
    s_uu = w_uu - 2.0 * u * w_u + u * u * w_1
    s_vv = w_vv - 2.0 * v * w_v + v * v * w_1
    s_uv = w_uv - u * w_v - v * w_u + u * v * w_1
    b_1 = z_1
    b_u = z_u - u * z_1
    b_v = z_v - v * z_1

    determinant, m_u, m_v, m_1 = reference.solve_window_planes(s_uu, s_uv, s_u, s_vv, s_v, s_1, b_u, b_v, b_1)
    n_x = fx * m_u
    n_y = fy * m_v
    n_z = m_1 - (u - cx) * m_u - (v - cy) * m_v
    length = tf.sqrt(n_x * n_x + n_y * n_y + n_z * n_z)
    defined = (determinant > 0.5) & (length > 0)
    scale = (1.0 - 2.0 * tf.cast(m_1 > 0, tf.float64)) / tf.where(defined, length, 1.0)
    return tf.stack([n_x * scale, n_y * scale, n_z * scale], axis=-1), defined


def estimate_gravity(normals, used_mask=None, initial=reference.CAMERA_Y_AXIS,
                     angle_thresholds_deg=reference.GRAVITY_ANGLE_THRESHOLDS_DEG,
                     iterations=reference.GRAVITY_ITERATIONS):
    """Gravity (unit ``(3,)`` float64, pointing down) from ``(N, 3)`` unit normals (``getYDir``; numpy
    ``estimate_gravity``).  ``used_mask`` ``(N,)`` bool selects the normals to use (default: all); with none
    selected the initial estimate is returned.  (A mask rather than a gather keeps the shapes static.)"""
    normals = tf.cast(normals, tf.float64)
    if used_mask is not None:
        normals = tf.where(used_mask[:, None], normals, 0.0)
    in_use = tf.ones_like(normals[:, 0]) if used_mask is None else tf.cast(used_mask, tf.float64)
    gravity = tf.constant(initial, tf.float64)
    gravity = gravity / tf.norm(gravity)
    thresholds = [math.radians(t) for t, count in zip(angle_thresholds_deg, iterations) for _ in range(int(count))]
    if not thresholds:
        return gravity
    sines = tf.constant([math.sin(t) for t in thresholds], tf.float64)
    cosines = tf.constant([math.cos(t) for t in thresholds], tf.float64)

    # products n_i n_j (i <= j) of every normal, computed once for all iterations (as the numpy version)
    products = tf.stack([normals[:, i] * normals[:, j] for i, j in _UPPER], axis=1)

    def step(index, gravity):
        return index + 1, _gravity_step(normals, products, in_use, gravity, sines[index], cosines[index])

    return tf.while_loop(lambda index, _: index < len(thresholds), step, (tf.constant(0), gravity))[1]


_UPPER = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))
_SYMMETRIC = ((0, 1, 2), (1, 3, 4), (2, 4, 5))  # 3×3 matrix entries as indices into the _UPPER products


def _gravity_step(normals, products, in_use, gravity, sine, cosine):
    """One re-estimation (``getYDirHelper``): walls within the threshold of perpendicular (|n·g| < sin t),
    floors within it of parallel (|n·g| > cos t)."""
    similarity = tf.abs(tf.linalg.matvec(normals, gravity))
    sign = in_use * (tf.cast(similarity < sine, tf.float64) - tf.cast(similarity > cosine, tf.float64))
    used = tf.reduce_sum(tf.abs(sign))
    scatter = tf.gather(tf.linalg.matvec(products, sign, transpose_a=True), _SYMMETRIC)
    scatter -= reference._TIE_BREAK * used * gravity[:, None] * gravity[None, :]
    _, eigenvectors = tf.linalg.eigh(scatter)
    estimate = eigenvectors[:, 0]
    estimate = tf.where(tf.reduce_sum(estimate * gravity) >= 0, estimate, -estimate)
    return tf.where(used > 0, estimate, gravity)


def _round_to_uint8(values):
    """MATLAB ``uint8()``: round half up, saturate to [0, 255]."""
    return tf.cast(tf.clip_by_value(tf.floor(values + 0.5), 0.0, 255.0), tf.uint8)


def depth_to_hha(depth_m, intrinsics, measured_mask=None):
    """Encode depth as HHA (disparity, height above ground, angle with gravity), in the graph.

    Args:
      depth_m: ``(H, W)`` tensor, depth in metres (0, negative or non-finite = missing), any real dtype.
      intrinsics: 3×3 camera matrix ``[[fx, 0, cx], [0, fy, cy], [0, 0, 1]]`` or ``(fx, fy, cx, cy)``.
      measured_mask: optional ``(H, W)`` bool (or 0/1) of the measured pixels (e.g. ``raw > 0`` when
        ``depth_m`` is completed); normals and gravity are fitted to them only.

    Returns:
      uint8 ``(H, W, 3)`` in Gupta et al.'s channel order; missing pixels are 0.

    Raises:
      ValueError: a depth that is not 2-D, bad intrinsics shape (at trace time).
      tf.errors.InvalidArgumentError: no valid pixel, or no valid measured pixel (at run time).
    """
    depth = tf.convert_to_tensor(depth_m)
    if depth.shape.rank != 2:
        raise ValueError(f"depth_m must be a 2-D (H, W) tensor, got shape {depth.shape}")
    depth = tf.cast(depth, tf.float64)
    camera = camera_parameters(intrinsics)
    fx, fy, cx, cy = camera
    valid = valid_depth_mask(depth)
    fit_mask = valid
    if measured_mask is not None:
        mask = tf.convert_to_tensor(measured_mask)
        fit_mask = valid & (mask if mask.dtype == tf.bool else tf.not_equal(mask, tf.zeros_like(mask)))
    checks = [
        tf.debugging.assert_equal(tf.reduce_any(valid), True, message="depth_m has no valid (finite, > 0) pixel"),
        tf.debugging.assert_equal(tf.reduce_any(fit_mask), True,
                                  message="measured_mask selects no pixel with valid depth; cannot fit normals"),
    ]
    with tf.control_dependencies(checks):
        z = tf.where(valid, depth, 0.0)
    shape = tf.shape(depth)
    rows = tf.cast(tf.range(shape[0]), tf.float64)[:, None]
    cols = tf.cast(tf.range(shape[1]), tf.float64)[None, :]
    cm = reference._CM_PER_M
    points_cm = tf.stack([(cols - cx) * z / fx * cm, (rows - cy) * z / fy * cm, z * cm], axis=-1)

    integral = _IntegralImage(_moments(z, fit_mask), max(reference.ANGLE_NORMAL_RADIUS,
                                                          reference.GRAVITY_NORMAL_RADIUS))
    normals, defined = surface_normals(integral, camera, reference.ANGLE_NORMAL_RADIUS)
    gravity_normals, gravity_defined = surface_normals(integral, camera, reference.GRAVITY_NORMAL_RADIUS)
    gravity = estimate_gravity(tf.reshape(gravity_normals, (-1, 3)), tf.reshape(gravity_defined & valid, (-1,)))

    disparity = reference.DISPARITY_NUMERATOR_CM / tf.maximum(points_cm[..., 2], reference.MIN_DISPARITY_DEPTH_CM)
    height = -tf.linalg.matvec(points_cm, gravity)
    lowest = tf.reduce_min(tf.where(valid, height, math.inf))
    lowest = tf.where(lowest > reference.FLOOR_SEARCH_DEPTH_CM,
                      tf.constant(reference.DEFAULT_FLOOR_HEIGHT_CM, tf.float64), lowest)
    height = height - lowest
    cosine = tf.clip_by_value(tf.linalg.matvec(normals, -gravity), -1.0, 1.0)
    angle = tf.where(defined, tf.acos(cosine) * (180.0 / math.pi), reference.UNDEFINED_NORMAL_ANGLE_DEG)
    hha = _round_to_uint8(tf.stack([disparity, height, angle + reference.ANGLE_OFFSET_DEG], axis=-1))
    return tf.where(valid[..., None], hha, tf.zeros_like(hha))
