"""Depth completion (Ku et al., ``fill_in_fast``) as TensorFlow ops: runs in ``tf.function`` and a SavedModel.

The graph counterpart of :func:`rfbnet_tf.preprocessing.depth_completion.complete_depth` (paper Sec. IV-B,
ref. [38]; the numpy module's docstring lists the steps and our deviations from ip_basic).  The same steps in
the same order, each with the same kernel, border handling and arithmetic precision (float32), except:

* **Nearest fill** (numpy: ``cv2.distanceTransformWithLabels``, the one nearest filled pixel in L2 distance):
  repeated 3×3 grey dilations of the empty pixels until none is left, i.e. the value of a filled pixel at the
  smallest *chessboard* distance, the nearest surface (largest inverted value) among equally near ones.  Both
  give a value of a filled pixel near the hole; they differ only inside holes wider than the 31×31 fill
  reaches (rare after the column extrapolation), and only there.
* **Bilateral blur** (numpy: ``cv2.bilateralFilter(d=5, sigmaColor=1.5, sigmaSpace=2.0)``): the same filter —
  the 13 offsets of the radius-2 disc, spatial weight ``exp(-r²/2σs²)``, reflect-101 border — with the colour
  weight ``exp(-Δ²/2σc²)`` computed exactly instead of from OpenCV's 4096-bin interpolated table (a relative
  weight difference below 1e-6 for depths within 10 m).
* **Median** (numpy: ``cv2.medianBlur(5)``, replicated border): the same 5×5 median (exact), from a selection
  network — Batcher's odd-even merge sort of 32 wires pruned to the 153 comparators the middle output depends
  on — of min/max over the 25 window images (``top_k`` per window measured ~15× slower).
* **Gaussian blur** (numpy: ``cv2.GaussianBlur((5, 5), 0)``): OpenCV's fixed 5-tap kernel (1 4 6 4 1)/16 for
  that size, reflect-101 border (the same numbers).

Grey dilations and erosions are ``max_pool2d`` with ``SAME`` padding (padding never wins, as OpenCV's
default morphology border); the diamond kernel is the union of the rectangles ``(2(r-k)+1) × (2k+1)``.
Measured on the frames of ``tests/test_graph_preprocessing.py`` (synthetic scenes, the numpy tests' cases):
within 3e-6 m of the numpy version everywhere with ``extrapolate=True``; without it, holes wider than the 7×7
fill differ (the nearest fill above).  Under XLA (``jit_compile``, as the export runs it) ~5 ms CPU per
640×480 frame (``python -m rfbnet_tf.benchmark --end_to_end``): the window images are slices that fuse into
the median network and the filters (``extract_patches`` and ``conv2d`` lower to convolutions, ~7× slower).
"""

from __future__ import annotations

import tensorflow as tf

from rfbnet_tf.preprocessing import depth_completion as reference
from rfbnet_tf.preprocessing.graph.filters import tap_sum
from rfbnet_tf.utils.checks import positive_number

_MEDIAN_RADIUS = reference._MEDIAN_KSIZE // 2
_BILATERAL_RADIUS = reference._BILATERAL_D // 2
_GAUSSIAN_TAPS = (1.0 / 16, 4.0 / 16, 6.0 / 16, 4.0 / 16, 1.0 / 16)  # cv2.getGaussianKernel(5, 0)


def valid_depth_mask(depth):
    """Measured depth: finite and strictly positive (as the numpy ``valid_depth_mask``)."""
    return tf.math.is_finite(depth) & (depth > 0)


def _max_filter(image, height, width):
    """Grey dilation of ``(1, H, W, 1)`` with a full ``height × width`` kernel (out-of-image ignored).

    Separable: a column max, then a row max (TensorFlow's MaxPool costs ``height × width`` per pixel)."""
    if height > 1:
        image = tf.nn.max_pool2d(image, (height, 1), 1, "SAME")
    if width > 1:
        image = tf.nn.max_pool2d(image, (1, width), 1, "SAME")
    return image


def _dilate_diamond(image, size):
    radius = size // 2
    out = image
    for k in range(radius + 1):
        out = tf.maximum(out, _max_filter(image, 2 * (radius - k) + 1, 2 * k + 1))
    return out


def _close(image, size):
    """Morphological closing (dilate, then erode) with a full ``size × size`` kernel."""
    dilated = _max_filter(image, size, size)
    return -_max_filter(-dilated, size, size)


def _fill_empty(image, size):
    """Empty (0) pixels take the ``size × size`` dilation; the others are kept."""
    return tf.where(image == 0, _max_filter(image, size, size), image)


def _extend_top(image):
    """Copy each column's highest filled value to the empty rows above it (numpy ``_extend_top``)."""
    height = tf.shape(image)[1]
    rows = tf.range(height)[None, :, None, None]
    first = tf.reduce_min(tf.where(image > 0, rows, height), axis=1, keepdims=True)  # H: column empty
    first = tf.where(first == height, 0, first)
    top_value = tf.reduce_sum(tf.where(rows == first, image, 0.0), axis=1, keepdims=True)
    return tf.where(rows < first, top_value, image)


def _fill_nearest(image):
    """Fill every remaining empty pixel from its nearest filled pixels (3×3 dilations until none is empty).

    Bounded: at most ``max(H, W) - 1`` dilations reach every pixel from any filled one (the chessboard
    diameter), so the loop's bound ``max(H, W)`` never cuts it short; an image with no filled pixel (no valid
    depth: under XLA, which drops the Assert, it gets here) stops at once instead of dilating forever."""

    def fill(x):
        return (tf.where(x == 0, _max_filter(x, 3, 3), x),)

    def unfinished(x):
        return tf.reduce_any(x == 0) & tf.reduce_any(x > 0)

    bound = tf.maximum(tf.shape(image)[1], tf.shape(image)[2])
    return tf.while_loop(unfinished, fill, (image,), maximum_iterations=bound)[0]


def _pad_replicate(image, radius):
    rows = tf.concat([tf.repeat(image[:, :1], radius, axis=1), image, tf.repeat(image[:, -1:], radius, axis=1)], 1)
    return tf.concat([tf.repeat(rows[:, :, :1], radius, axis=2), rows,
                      tf.repeat(rows[:, :, -1:], radius, axis=2)], 2)


def _odd_even_merge_sort(count):
    """Comparators ``(i, j)``, i < j, of Batcher's odd-even merge sort of ``count`` (a power of 2) wires."""
    pairs = []
    p = 1
    while p < count:
        k = p
        while k >= 1:
            for j in range(k % p, count - k, 2 * k):
                for i in range(min(k, count - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        pairs.append((i + j, i + j + k))
            k //= 2
        p *= 2
    return pairs


def _selection_network(count, rank):
    """The comparators of a sorting network of ``count`` wires that the output ``rank`` depends on, in order.

    Wires ``count``... up to the next power of 2 hold +inf and are left out of the returned comparators
    (a comparator with one infinite wire only moves the finite value to its lower wire)."""
    size = 1 << (count - 1).bit_length()
    network = _odd_even_merge_sort(size)
    needed, kept = {rank}, []
    for i, j in reversed(network):
        if i in needed or j in needed:
            needed.update((i, j))
            kept.append((i, j))
    return kept[::-1]


def _median(image, radius):
    """``cv2.medianBlur`` of float32: window median, replicated border (exact).

    A selection network of min/max over the window's shifted images: sorting (``top_k``) every window
    costs ~15× more in TensorFlow."""
    count = (2 * radius + 1) ** 2
    wires = _windows(_pad_replicate(image, radius), radius)
    wires += [None] * ((1 << (count - 1).bit_length()) - count)  # None = +inf
    for i, j in _selection_network(count, count // 2):
        low, high = wires[i], wires[j]
        if high is None:
            continue
        if low is None:
            wires[i], wires[j] = high, None
        else:
            wires[i], wires[j] = tf.minimum(low, high), tf.maximum(low, high)
    return wires[count // 2]


def _pad_reflect(image, radius):
    """OpenCV's ``BORDER_REFLECT_101`` (tf's ``REFLECT``)."""
    return tf.pad(image, [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode="REFLECT")


def _windows(padded, radius):
    """The (2r+1)² window values of every pixel of a padded ``(1, H+2r, W+2r, 1)`` image, as a list of
    ``(1, H, W, 1)`` images in row-major window order (offset ``(dv, du)`` at ``(dv + r) (2r+1) + du + r``).

    Slices of the padded image: under XLA they fuse into their consumers (``tf.image.extract_patches`` is
    lowered to a convolution with a one-hot kernel, ~10× slower for the median and the bilateral filter)."""
    size = 2 * radius + 1
    height, width = tf.shape(padded)[1] - 2 * radius, tf.shape(padded)[2] - 2 * radius
    return [padded[:, dv:dv + height, du:du + width] for dv in range(size) for du in range(size)]


def _bilateral(image, radius, sigma_color, sigma_space):
    """``cv2.bilateralFilter`` of float32 (radius-``radius`` disc, reflect-101 border, exact colour weight)."""
    windows = _windows(_pad_reflect(image, radius), radius)
    total = tf.zeros_like(image)
    weights = tf.zeros_like(image)
    for dv in range(-radius, radius + 1):
        for du in range(-radius, radius + 1):
            squared = dv * dv + du * du
            if squared > radius * radius:
                continue
            value = windows[(dv + radius) * (2 * radius + 1) + du + radius]
            difference = value - image
            weight = tf.exp(-0.5 * squared / sigma_space**2
                            - 0.5 * difference * difference / sigma_color**2)
            total += weight * value
            weights += weight
    smooth = total / weights
    # OpenCV returns a constant image unchanged
    constant = tf.reduce_max(image) - tf.reduce_min(image) < 1.1920929e-07
    return tf.where(constant, image, smooth)


def _gaussian(image):
    """``cv2.GaussianBlur((5, 5), 0)``: the separable 5-tap kernel, reflect-101 border (shifted slices)."""
    padded = _pad_reflect(image, len(_GAUSSIAN_TAPS) // 2)
    rows = tap_sum(padded, _GAUSSIAN_TAPS, 2, tf.shape(image)[2])
    return tap_sum(rows, _GAUSSIAN_TAPS, 1, tf.shape(image)[1])


def complete_depth(depth_m, max_depth: float = 10.0, kernel_size: int = 5, extrapolate: bool = True,
                   blur_type: str = "bilateral", *, assert_valid: bool = True):
    """Fill missing depth, in the graph (module docstring); the options are Python values fixed at trace time.

    Args:
      depth_m: ``(H, W)`` tensor of depth in metres, any real dtype; 0, NaN, ±inf and negative values are
        missing.
      max_depth, kernel_size, extrapolate, blur_type: as the numpy ``complete_depth``.
      assert_valid: add the run-time check that some pixel is valid. XLA drops Asserts (``jit_compile``):
        callers compiling with it pass False and test validity themselves; a depth with no valid pixel then
        completes to ``max_depth`` + 0.1 m (the inversion offset) everywhere, promptly.

    Returns:
      float32 ``(H, W)`` dense depth; measured pixels hold their input value cast to float32.

    Raises:
      ValueError: bad options or a tensor that is not 2-D (at trace time).
      tf.errors.InvalidArgumentError: the depth has no valid pixel (at run time, with ``assert_valid``).
    """
    positive_number("max_depth", max_depth, "metres")
    diamond = reference.diamond_kernel(kernel_size)  # validates kernel_size
    if blur_type not in reference.BLUR_TYPES:
        raise ValueError(f"blur_type must be one of {reference.BLUR_TYPES}, got {blur_type!r}")
    depth = tf.convert_to_tensor(depth_m)
    if depth.shape.rank != 2:
        raise ValueError(f"depth_m must be a 2-D (H, W) tensor, got shape {depth.shape}")
    if not (depth.dtype.is_floating or depth.dtype.is_integer):
        raise ValueError(f"depth_m must hold real numbers, got dtype {depth.dtype.name}")
    depth = tf.cast(depth, tf.float64)
    valid = valid_depth_mask(depth)
    checks = [tf.debugging.assert_equal(tf.reduce_any(valid), True,
                                        message="depth_m has no valid (finite, > 0) pixel")] if assert_valid else []
    with tf.control_dependencies(checks):
        offset = float(max_depth) + reference._INVERSION_MARGIN
        inverted = tf.where(valid, offset - tf.minimum(tf.where(valid, depth, 0.0), max_depth), 0.0)
    image = tf.cast(inverted, tf.float32)[None, :, :, None]
    image = _dilate_diamond(image, len(diamond))
    image = _close(image, len(reference._CLOSING_KERNEL))
    image = _fill_empty(image, len(reference._SMALL_FILL_KERNEL))
    if extrapolate:
        image = _fill_empty(_extend_top(image), len(reference._LARGE_FILL_KERNEL))
    image = _fill_nearest(image)
    image = _median(image, _MEDIAN_RADIUS)
    if blur_type == "bilateral":
        image = _bilateral(image, _BILATERAL_RADIUS, reference._BILATERAL_SIGMA_COLOR,
                           reference._BILATERAL_SIGMA_SPACE)
    else:
        image = _gaussian(image)
    completed = tf.constant(offset, tf.float32) - image[0, :, :, 0]
    return tf.where(valid, tf.cast(depth, tf.float32), completed)
