"""HHA encoding (Gupta et al., ECCV 2014) as TensorFlow ops: runs in ``tf.function`` and a SavedModel.

The graph counterpart of :func:`rfbnet_tf.preprocessing.hha.depth_to_hha` (paper Sec. IV-B, ref. [29]; the
numpy module's docstring gives the reference MATLAB code, the channels and their scaling).  The same steps:

* normals: the least-squares plane of the measured points of each (2r+1)² window from its normal equations in
  window-centred pixel offsets (``computeNormalsSquareSupport.m``), the window sums as separable zero-padded
  filters with the kernels 1, d, d² (numpy: ``cv2.sepFilter2D`` with ``BORDER_CONSTANT``), r = 3 for the angle
  and r = 10 for gravity;
* gravity: 5 iterations at 45° then 5 at 15° of the smallest eigenvector (``tf.linalg.eigh`` of the 3×3
  matrix ``N_W N_W^T - N_F N_F^T`` with the same tie-break) starting from the camera's y axis (``getYDir``);
* disparity ``31000 / max(z_cm, 100)``, height above the lowest point (or 130 cm below the camera), angle
  ``acosd(n · up) + 38`` (180° where no normal is defined), MATLAB ``uint8()`` rounding (half up, saturated).

Where the arithmetic differs from the numpy version (float64 throughout):

* **float32 images.**  The window sums, the plane solve, the normals and the three channels are float32; the
  weight sums are integers below 2²⁴ (exact in float32) and the determinant that decides whether a window
  has a plane (Cauchy–Binet: an integer, 0 for collinear points) is formed from them in float64, so the set
  of defined normals is the numpy one; gravity's 3×3 sums are one float32 matrix-vector product per iteration
  (their rounding, ~1e-6 relative, moves the estimate by ~1e-6 rad), its eigenvectors float64.
* **Filters as shifted slices**, each tap a slice of the padded image (under XLA one fused loop per sum);
  gravity's normals are masked instead of gathered (static shapes, for XLA); the eigen solver is TensorFlow's.

Measured on synthetic 640×480 frames (``python -m rfbnet_tf.benchmark --end_to_end``) and the analytic scenes
of ``tests/test_hha.py``: every channel within 1 grey level of the numpy version on 100 % of pixels, equal on
> 99.9 %.  Under XLA on 2 CPU cores ~24 ms per 640×480 frame; the first version (float64, window sums from an
integral image of the moments, per-entry gravity sums) took ~65 ms.
"""

from __future__ import annotations

import math

import tensorflow as tf

from rfbnet_tf.preprocessing import hha as reference
from rfbnet_tf.preprocessing.graph.depth_completion import valid_depth_mask
from rfbnet_tf.preprocessing.graph.filters import tap_sum


def camera_parameters(intrinsics):
    """``(fx, fy, cx, cy)`` float32 scalars of a 3×3 camera matrix or a 4-vector ``(fx, fy, cx, cy)``.

    Raises:
      ValueError: any other static shape (at trace time).
    """
    values = tf.cast(tf.convert_to_tensor(intrinsics), tf.float32)
    if values.shape == (3, 3):
        return values[0, 0], values[1, 1], values[0, 2], values[1, 2]
    if values.shape == (4,):
        return values[0], values[1], values[2], values[3]
    raise ValueError(f"intrinsics must be a 3x3 camera matrix or (fx, fy, cx, cy), got shape {values.shape}")


_KERNELS = {"1": lambda d: 1, "d": lambda d: d, "dd": lambda d: d * d}  # the filter taps at offset d
# The window sums of the normal equations: (name, image, kernel along u, kernel along v); "w" the fit mask,
# "iz" 1/z on it (numpy ``surface_normals``: s_uu = sum du² w, ..., b_1 = sum 1/z).
_SUMS = (("s_uu", "w", "dd", "1"), ("s_uv", "w", "d", "d"), ("s_u", "w", "d", "1"), ("s_vv", "w", "1", "dd"),
         ("s_v", "w", "1", "d"), ("s_1", "w", "1", "1"), ("b_u", "iz", "d", "1"), ("b_v", "iz", "1", "d"),
         ("b_1", "iz", "1", "1"))
_WEIGHT_SUMS = ("s_uu", "s_uv", "s_u", "s_vv", "s_v", "s_1")


def _filter(padded, axis, radius, size, kernel):
    """``sum_d kernel(d) padded[i + d + radius]`` along ``axis`` (0 rows, 1 columns) for ``i < size``."""
    return tap_sum(padded, [_KERNELS[kernel](offset) for offset in range(-radius, radius + 1)], axis, size)


def window_sums(images, radius):
    """The nine window sums ``{name: (H, W)}`` of :data:`_SUMS` over the (2r+1)² window of every pixel (zero
    padded): separable, a row filter of each image then a column filter (``cv2.sepFilter2D``)."""
    height, width = tf.shape(images["w"])[0], tf.shape(images["w"])[1]
    rows = {}
    for image, kernel_u, _ in {(source, ku, None) for _, source, ku, _ in _SUMS}:
        padded = tf.pad(images[image], [[0, 0], [radius, radius]])
        rows[image, kernel_u] = tf.pad(_filter(padded, 1, radius, width, kernel_u), [[radius, radius], [0, 0]])
    return {name: _filter(rows[image, kernel_u], 0, radius, height, kernel_v)
            for name, image, kernel_u, kernel_v in _SUMS}


def surface_normals(images, camera, radius):
    """Unit normals ``(n_x, n_y, n_z)`` (each ``(H, W)`` float32) towards the camera and the mask ``(H, W)``
    of pixels where one is defined; the numpy ``surface_normals`` step by step.

    ``images``: ``{"w": fit mask as float32, "iz": 1/z on it, 0 elsewhere}``; ``camera`` ``(fx, fy, cx, cy)``.
    """
    fx, fy, cx, cy = camera
    sums = window_sums(images, radius)
    exact = {name: tf.cast(sums[name], tf.float64) for name in _WEIGHT_SUMS}  # integers: exact in both
    determinant = reference.solve_window_planes(*(exact[name] for name in _WEIGHT_SUMS),
                                                *(tf.zeros((), tf.float64),) * 3)[0]
    _, m_u, m_v, m_1 = reference.solve_window_planes(*(sums[name] for name, *_ in _SUMS))
    shape = tf.shape(images["w"])
    v = tf.cast(tf.range(shape[0]), tf.float32)[:, None]
    u = tf.cast(tf.range(shape[1]), tf.float32)[None, :]
    n_x = fx * m_u
    n_y = fy * m_v
    n_z = m_1 - (u - cx) * m_u - (v - cy) * m_v
    length = tf.sqrt(n_x * n_x + n_y * n_y + n_z * n_z)
    defined = (determinant > 0.5) & (length > 0)
    scale = tf.where(m_1 > 0, -1.0, 1.0) / tf.where(defined, length, 1.0)
    return (n_x * scale, n_y * scale, n_z * scale), defined


_UPPER = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))
_SYMMETRIC = ((0, 1, 2), (1, 3, 4), (2, 4, 5))  # 3×3 matrix entries as indices into the _UPPER sums


def estimate_gravity(normals, used_mask=None, initial=reference.CAMERA_Y_AXIS,
                     angle_thresholds_deg=reference.GRAVITY_ANGLE_THRESHOLDS_DEG,
                     iterations=reference.GRAVITY_ITERATIONS):
    """Gravity (unit ``(3,)`` float64, pointing down) from unit normals (``getYDir``; numpy
    ``estimate_gravity``): ``normals`` ``(N, 3)`` or a tuple of the three components (any equal shapes);
    ``used_mask`` (bool, the components' shape) selects the normals to use (default: all); with none selected
    the initial estimate is returned.  (A mask rather than a gather keeps the shapes static.)"""
    if not isinstance(normals, (tuple, list)):
        normals = tf.unstack(tf.convert_to_tensor(normals), axis=-1)
    n_x, n_y, n_z = (tf.cast(component, tf.float32) for component in normals)
    unused = tf.constant(0.0, tf.float64)
    if used_mask is not None:  # unused normals become 0: they count as walls (|n·g| = 0) that add nothing
        used_mask = tf.cast(used_mask, tf.bool)
        n_x, n_y, n_z = (tf.where(used_mask, component, 0.0) for component in (n_x, n_y, n_z))
        unused = tf.reduce_sum(tf.cast(~used_mask, tf.float64))
    gravity = tf.constant(initial, tf.float64)
    gravity = gravity / tf.norm(gravity)
    thresholds = [math.radians(t) for t, count in zip(angle_thresholds_deg, iterations) for _ in range(int(count))]
    if not thresholds:
        return gravity
    sines = tf.constant([math.sin(t) for t in thresholds], tf.float32)
    cosines = tf.constant([math.cos(t) for t in thresholds], tf.float32)

    # products n_i n_j (i <= j) of every normal, once for all iterations (as the numpy version), as rows
    components = [tf.reshape(component, [-1]) for component in (n_x, n_y, n_z)]
    products = tf.stack([components[i] * components[j] for i, j in _UPPER])

    def step(index, gravity):
        return index + 1, _gravity_step((n_x, n_y, n_z), products, unused, gravity, sines[index], cosines[index])

    return tf.while_loop(lambda index, _: index < len(thresholds), step, (tf.constant(0), gravity),
                         maximum_iterations=len(thresholds))[1]


def _total(values):
    """float64 sum of a float32 image: rows first (XLA fuses a minor-axis sum with the values it sums)."""
    return tf.reduce_sum(tf.cast(tf.reduce_sum(values, axis=-1), tf.float64))


def _gravity_step(normals, products, unused, gravity, sine, cosine):
    """One re-estimation (``getYDirHelper``): walls within the threshold of perpendicular (|n·g| < sin t),
    floors within it of parallel (|n·g| > cos t).

    The six matrix entries are one float32 matrix-vector product of the ``(6, N)`` products with the signs
    (under XLA ~8× faster than six sums, which it writes out before reducing); their rounding (~1e-6
    relative) moves the estimate by ~1e-6 rad, far below one grey level of the height and angle channels."""
    g = tf.cast(gravity, tf.float32)
    similarity = tf.abs(normals[0] * g[0] + normals[1] * g[1] + normals[2] * g[2])
    sign = tf.cast(similarity < sine, tf.float32) - tf.cast(similarity > cosine, tf.float32)
    used = _total(tf.abs(sign)) - unused
    sums = tf.cast(tf.linalg.matvec(products, tf.reshape(sign, [-1])), tf.float64)
    scatter = tf.gather(sums, _SYMMETRIC)
    scatter -= reference._TIE_BREAK * used * gravity[:, None] * gravity[None, :]
    _, eigenvectors = tf.linalg.eigh(scatter)
    estimate = eigenvectors[:, 0]
    estimate = tf.where(tf.reduce_sum(estimate * gravity) >= 0, estimate, -estimate)
    return tf.where(used > 0, estimate, gravity)


def _round_to_uint8(values):
    """MATLAB ``uint8()``: round half up, saturate to [0, 255]."""
    return tf.cast(tf.clip_by_value(tf.floor(values + 0.5), 0.0, 255.0), tf.uint8)


def depth_to_hha(depth_m, intrinsics, measured_mask=None, *, assert_valid: bool = True):
    """Encode depth as HHA (disparity, height above ground, angle with gravity), in the graph.

    Args:
      depth_m: ``(H, W)`` tensor, depth in metres (0, negative or non-finite = missing), any real dtype.
      intrinsics: 3×3 camera matrix ``[[fx, 0, cx], [0, fy, cy], [0, 0, 1]]`` or ``(fx, fy, cx, cy)``.
      measured_mask: optional ``(H, W)`` bool (or 0/1) of the measured pixels (e.g. ``raw > 0`` when
        ``depth_m`` is completed); normals and gravity are fitted to them only.
      assert_valid: add the run-time checks below (XLA drops Asserts: callers compiling with ``jit_compile``
        pass False and test validity themselves; with no valid pixel the result is then all 0, with no
        measured one every normal is undefined, gravity the camera's y axis).

    Returns:
      uint8 ``(H, W, 3)`` in Gupta et al.'s channel order; missing pixels are 0.

    Raises:
      ValueError: a depth that is not 2-D, bad intrinsics shape (at trace time).
      tf.errors.InvalidArgumentError: no valid pixel, or no valid measured pixel (at run time, with
        ``assert_valid``).
    """
    depth = tf.convert_to_tensor(depth_m)
    if depth.shape.rank != 2:
        raise ValueError(f"depth_m must be a 2-D (H, W) tensor, got shape {depth.shape}")
    depth = tf.cast(depth, tf.float32)
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
    ] if assert_valid else []
    with tf.control_dependencies(checks):
        z = tf.where(valid, depth, 0.0)
    images = {"w": tf.cast(fit_mask, tf.float32), "iz": tf.where(fit_mask, 1.0 / tf.where(fit_mask, z, 1.0), 0.0)}
    normals, defined = surface_normals(images, camera, reference.ANGLE_NORMAL_RADIUS)
    gravity_normals, gravity_defined = surface_normals(images, camera, reference.GRAVITY_NORMAL_RADIUS)
    down = tf.cast(estimate_gravity(gravity_normals, gravity_defined & valid), tf.float32)

    cm = reference._CM_PER_M
    z_cm = z * cm
    rows = tf.cast(tf.range(tf.shape(depth)[0]), tf.float32)[:, None]
    cols = tf.cast(tf.range(tf.shape(depth)[1]), tf.float32)[None, :]
    x_cm = (cols - cx) * z_cm / fx
    y_cm = (rows - cy) * z_cm / fy
    disparity = reference.DISPARITY_NUMERATOR_CM / tf.maximum(z_cm, reference.MIN_DISPARITY_DEPTH_CM)
    height = -(x_cm * down[0] + y_cm * down[1] + z_cm * down[2])
    lowest = tf.reduce_min(tf.reduce_min(tf.where(valid, height, math.inf), axis=-1))  # rows first: fused
    lowest = tf.where(lowest > reference.FLOOR_SEARCH_DEPTH_CM, reference.DEFAULT_FLOOR_HEIGHT_CM, lowest)
    height = height - lowest
    cosine = tf.clip_by_value(-(normals[0] * down[0] + normals[1] * down[1] + normals[2] * down[2]), -1.0, 1.0)
    angle = tf.where(defined, tf.acos(cosine) * (180.0 / math.pi), reference.UNDEFINED_NORMAL_ANGLE_DEG)
    hha = _round_to_uint8(tf.stack([disparity, height, angle + reference.ANGLE_OFFSET_DEG], axis=-1))
    return tf.where(valid[..., None], hha, tf.zeros_like(hha))
