"""Tests of rfbnet_tf.preprocessing.depth_completion (Ku et al. fill_in_fast)."""

import numpy as np
import pytest

from rfbnet_tf.preprocessing.depth_completion import complete_depth, diamond_kernel

HEIGHT, WIDTH = 60, 80


def smooth_depth():
    rows, cols = np.indices((HEIGHT, WIDTH), dtype=np.float64)
    return (1.5 + 0.02 * cols + 0.5 * np.sin(rows / 7.0)).astype(np.float32)


def with_holes(depth, seed=0, fraction=0.25):
    rng = np.random.default_rng(seed)
    holed = depth.copy()
    holed[rng.random(depth.shape) < fraction] = 0.0
    holed[20:25, 30:36] = 0.0  # a block hole
    holed[40, 10] = np.nan
    holed[41, 10] = np.inf
    holed[42, 10] = -1.0
    return holed


@pytest.mark.parametrize("blur_type", ["bilateral", "gaussian"])
def test_valid_pixels_unchanged_bit_for_bit(blur_type):
    holed = with_holes(smooth_depth())
    completed = complete_depth(holed, blur_type=blur_type)
    assert completed.dtype == np.float32 and completed.shape == holed.shape
    valid = np.isfinite(holed) & (holed > 0)
    assert np.array_equal(completed[valid].view(np.uint32), holed[valid].view(np.uint32))


@pytest.mark.parametrize("blur_type", ["bilateral", "gaussian"])
def test_holes_filled_within_range_of_neighbours(blur_type):
    truth = smooth_depth()
    holed = with_holes(truth)
    completed = complete_depth(holed, blur_type=blur_type)
    missing = ~(np.isfinite(holed) & (holed > 0))
    assert np.isfinite(completed).all() and (completed > 0).all()
    valid_values = np.where(missing, np.nan, holed)
    radius = 10
    for row, col in zip(*np.nonzero(missing)):
        neighbours = valid_values[
            max(row - radius, 0) : row + radius + 1, max(col - radius, 0) : col + radius + 1
        ]
        low, high = np.nanmin(neighbours), np.nanmax(neighbours)
        assert low - 1e-5 <= completed[row, col] <= high + 1e-5, (row, col)
    # The smooth surface is recovered closely (slope < 0.08 m per pixel).
    assert np.abs(completed - truth)[missing].max() < 0.25


def test_constant_plane_completes_to_constant():
    plane = np.full((HEIGHT, WIDTH), 2.75, np.float32)
    holed = with_holes(plane, fraction=0.5)
    holed[0:10, :] = 0.0  # the top rows need the extrapolation
    completed = complete_depth(holed)
    np.testing.assert_allclose(completed, 2.75, rtol=1e-6)


def test_nearest_surface_wins_in_a_hole_between_two_depths():
    # Dilation of inverted depth propagates the nearer surface into a thin gap; the
    # final 5x5 blur only partly mixes in the far side (a plain average gives 2.5).
    depth = np.full((HEIGHT, WIDTH), 4.0, np.float32)
    depth[:, :40] = 1.0
    depth[:, 40:42] = 0.0  # 2-pixel gap at the edge
    for blur_type in ("bilateral", "gaussian"):
        completed = complete_depth(depth, blur_type=blur_type)
        assert np.all(completed[:, 40:42] < 2.0), blur_type
        assert np.all(completed[:, 40:42] >= 1.0), blur_type


def test_large_hole_and_top_region_are_filled():
    depth = np.zeros((HEIGHT, WIDTH), np.float32)
    depth[45:, :] = 3.0  # only the bottom rows are measured
    depth[50:55, 0:5] = 5.0
    completed = complete_depth(depth, extrapolate=False)  # nearest fill reaches all
    assert np.isfinite(completed).all()
    assert (completed >= 3.0 - 1e-6).all() and (completed <= 5.0 + 1e-6).all()
    np.testing.assert_allclose(complete_depth(depth)[:30], 3.0, rtol=1e-6)


def test_far_valid_depths_beyond_max_depth_are_kept():
    depth = np.full((HEIGHT, WIDTH), 30.0, np.float32)
    depth[10:12, 10:12] = 0.0
    completed = complete_depth(depth, max_depth=10.0)
    assert np.all(completed[depth > 0] == 30.0)
    # The hole is filled with the clipped far depth (max_depth).
    np.testing.assert_allclose(completed[10:12, 10:12], 10.0, rtol=1e-6)
    np.testing.assert_allclose(complete_depth(depth, max_depth=100.0)[10:12, 10:12], 30.0, rtol=1e-6)


def test_integer_input_is_cast():
    depth = np.full((HEIGHT, WIDTH), 3, np.uint16)
    depth[5, 5] = 0
    completed = complete_depth(depth)
    assert completed.dtype == np.float32
    np.testing.assert_allclose(completed, 3.0, rtol=1e-6)


def test_diamond_kernel_matches_ip_basic():
    expected = np.array(
        [
            [0, 0, 1, 0, 0],
            [0, 1, 1, 1, 0],
            [1, 1, 1, 1, 1],
            [0, 1, 1, 1, 0],
            [0, 0, 1, 0, 0],
        ],
        np.uint8,
    )
    assert np.array_equal(diamond_kernel(5), expected)
    assert diamond_kernel(7).sum() == 25


@pytest.mark.parametrize(
    "depth, kwargs, message",
    [
        (np.ones((4, 5, 1)), {}, r"\(4, 5, 1\)"),
        (np.ones(7), {}, r"\(7,\)"),
        (np.zeros((0, 4)), {}, r"\(0, 4\)"),
        (np.zeros((6, 8)), {}, "no valid"),
        (np.full((6, 8), np.nan), {}, "48 NaN"),
        (np.full((6, 8), -2.0), {}, "48 negative"),
        (np.array([["a", "b"]]), {}, "dtype <U1"),
        (np.ones((6, 8), complex), {}, "complex"),
        (np.ones((6, 8), bool), {}, "bool"),
        (np.ones((6, 8)), {"max_depth": 0.0}, "max_depth.*0.0"),
        (np.ones((6, 8)), {"max_depth": np.inf}, "max_depth.*inf"),
        (np.ones((6, 8)), {"kernel_size": 4}, "kernel size.*4"),
        (np.ones((6, 8)), {"blur_type": "box"}, "'box'"),
    ],
)
def test_bad_input_raises_value_error(depth, kwargs, message):
    with pytest.raises(ValueError, match=message):
        complete_depth(depth, **kwargs)
