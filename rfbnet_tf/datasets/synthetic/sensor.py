"""The synthetic dataset's camera and sensor: a Kinect v1 (intrinsics, depth noise and missing depth).

The depth model (sources in the :mod:`rfbnet_tf.datasets.synthetic` docstring): axial noise
``sigma(z) = 0.0012 + 0.0019 (z - 0.4)^2`` m truncated at +-3 sigma; missing outside 0.4-8 m, at grazing
incidence, on the far side of depth discontinuities and at random (:func:`kinect_depth`).
"""

from __future__ import annotations

import math

import numpy as np

from rfbnet_tf.utils import checks

NATIVE_SIZE = (480, 640)  # (height, width), a Kinect v1 depth frame
MIN_SIZE = 16

# Kinect v1 field of view, about 58 x 45 degrees at 640 x 480 (square pixels there).
HORIZONTAL_FOV_DEG = 58.0
_NATIVE_FOCAL = (NATIVE_SIZE[1] / 2.0) / math.tan(math.radians(HORIZONTAL_FOV_DEG / 2.0))

# Sensor model (module docstring gives the sources).
MIN_RANGE_M = 0.4
MAX_RANGE_M = 8.0
NOISE_SIGMA_BASE_M = 0.0012
NOISE_SIGMA_QUAD = 0.0019
NOISE_TRUNCATION = 3.0
GRAZING_COS = 0.1  # cos(84.3 deg)
EDGE_RELATIVE_JUMP = 0.10
DROPOUT_PROBABILITY = 0.003
DROPOUT_BLOBS_MEAN = 2.0
RGB_NOISE_SIGMA = 1.5


def check_size(height, width):
    """Validated (height, width) as ints; ValueError naming a bad value."""
    for name, value in (("height", height), ("width", width)):
        if not checks.is_int(value) or value < MIN_SIZE:
            raise ValueError(
                f"{name} must be an integer >= {MIN_SIZE}, got {value!r}"
            )
    return int(height), int(width)


def default_intrinsics(height: int, width: int) -> np.ndarray:
    """3x3 camera matrix (float64) with a Kinect v1 field of view at ``height x width``.

    At 640 x 480 the focal length is ``320 / tan(29 deg) = 577.3`` px (58 x 45 degrees
    field of view, square pixels); other sizes scale ``fx`` by ``width / 640`` and
    ``fy`` by ``height / 480`` so the field of view is kept. The principal point is
    the image centre in pixel-centre coordinates, ``((W - 1) / 2, (H - 1) / 2)``.
    """
    height, width = check_size(height, width)
    fx = _NATIVE_FOCAL * width / NATIVE_SIZE[1]
    fy = _NATIVE_FOCAL * height / NATIVE_SIZE[0]
    return np.array(
        [[fx, 0.0, (width - 1) / 2.0], [0.0, fy, (height - 1) / 2.0], [0.0, 0.0, 1.0]],
        dtype=np.float64,
    )


def depth_noise_sigma(depth_m):
    """Axial Kinect noise sigma in metres at depth ``depth_m`` (Nguyen et al. 2012)."""
    depth_m = np.asarray(depth_m, dtype=np.float64)
    return NOISE_SIGMA_BASE_M + NOISE_SIGMA_QUAD * (depth_m - 0.4) ** 2



def _occlusion_edges(z, width):
    """Far side of depth discontinuities (> EDGE_RELATIVE_JUMP), dilated to a band."""
    edge = np.zeros(z.shape, dtype=bool)
    for axis in (0, 1):
        a = z[:-1, :] if axis == 0 else z[:, :-1]
        b = z[1:, :] if axis == 0 else z[:, 1:]
        jump = np.abs(b - a) > EDGE_RELATIVE_JUMP * np.minimum(a, b)
        if axis == 0:
            edge[1:, :] |= jump & (b > a)
            edge[:-1, :] |= jump & (a > b)
        else:
            edge[:, 1:] |= jump & (b > a)
            edge[:, :-1] |= jump & (a > b)
    for _ in range(max(1, round(width / 320)) - 1):
        grown = edge.copy()
        grown[1:, :] |= edge[:-1, :]
        grown[:-1, :] |= edge[1:, :]
        grown[:, 1:] |= edge[:, :-1]
        grown[:, :-1] |= edge[:, 1:]
        edge = grown
    return edge


def kinect_depth(depth_true, rng, cos_incidence=None) -> np.ndarray:
    """Apply the Kinect v1 sensor model (module docstring) to an exact depth map.

    ``depth_true``: (H, W) metres, ``rng``: a ``np.random.Generator``,
    ``cos_incidence``: optional (H, W) cosine between the viewing ray and the surface
    normal (pixels below ``GRAZING_COS`` become missing). Returns float32 (H, W)
    metres with truncated Gaussian noise of ``depth_noise_sigma`` and 0 for missing.
    """
    z = np.asarray(depth_true, dtype=np.float64)
    if z.ndim != 2 or z.size == 0:
        raise ValueError(f"depth_true must be a 2-D (H, W) array, got shape {z.shape}")
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {rng!r}")
    if cos_incidence is not None and np.shape(cos_incidence) != z.shape:
        raise ValueError(
            f"cos_incidence must have the depth's shape {z.shape}, "
            f"got {np.shape(cos_incidence)}")
    height, width = z.shape
    gauss = np.clip(rng.standard_normal(z.shape), -NOISE_TRUNCATION, NOISE_TRUNCATION)
    with np.errstate(invalid="ignore", over="ignore"):
        depth = (z + gauss * depth_noise_sigma(z)).astype(np.float32)
        missing = ~np.isfinite(z) | (z < MIN_RANGE_M) | (z > MAX_RANGE_M)
        if cos_incidence is not None:
            missing |= np.asarray(cos_incidence) < GRAZING_COS
        missing |= _occlusion_edges(z, width)
    missing |= rng.random(z.shape) < DROPOUT_PROBABILITY
    rows = np.arange(height)[:, None]
    cols = np.arange(width)[None, :]
    for _ in range(int(rng.poisson(DROPOUT_BLOBS_MEAN))):
        r, c = rng.uniform(0, height), rng.uniform(0, width)
        radius = max(0.7, rng.uniform(0.004, 0.015) * width)
        missing |= (rows - r) ** 2 + (cols - c) ** 2 <= radius * radius
    depth[missing] = 0.0
    return depth
