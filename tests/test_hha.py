"""Tests of rfbnet_tf.preprocessing.hha on analytic scenes rendered with a known camera.

Scene: a horizontal floor and a vertical wall, seen by a pinhole camera 1.5 m above
the floor, pitched down (and optionally rolled).  Ray casting gives the exact depth,
the true height of every 3-D point and the true gravity direction in camera axes.
"""

import numpy as np
import pytest

from rfbnet_tf.preprocessing.hha import (
    depth_to_hha,
    estimate_gravity,
    point_cloud,
    surface_normals,
)

HEIGHT, WIDTH = 60, 80
FOCAL = 60.0
K = np.array([[FOCAL, 0.0, 39.5], [0.0, FOCAL, 29.5], [0.0, 0.0, 1.0]])
CAMERA_HEIGHT = 1.5
WALL_DISTANCE = 3.0
FLOOR, WALL = 0, 1


def rotation_x(degrees):
    a = np.deg2rad(degrees)
    return np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])


def rotation_z(degrees):
    a = np.deg2rad(degrees)
    return np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])


def render_room(pitch_down_deg=20.0, roll_deg=0.0):
    """Ray-cast a floor (world Y = 0) and a wall (world Z = WALL_DISTANCE).

    World axes: X right, Y down (gravity = +Y), Z forward, camera at Y = -1.5 m.
    Returns depth (z in camera axes, metres), true height above the floor (metres),
    surface label (FLOOR / WALL) and the true gravity direction in camera axes.
    """
    # Camera axes in world coordinates; the forward axis dips by pitch_down_deg.
    camera_to_world = rotation_x(-pitch_down_deg) @ rotation_z(roll_deg)
    assert camera_to_world[1, 2] > 0 or pitch_down_deg <= 0  # forward points down
    rows, cols = np.indices((HEIGHT, WIDTH), dtype=np.float64)
    rays_camera = np.stack(
        [(cols - K[0, 2]) / FOCAL, (rows - K[1, 2]) / FOCAL, np.ones_like(cols)], axis=-1
    )
    rays_world = rays_camera @ camera_to_world.T
    centre = np.array([0.0, -CAMERA_HEIGHT, 0.0])
    with np.errstate(divide="ignore"):
        t_floor = np.where(rays_world[..., 1] > 0, -centre[1] / rays_world[..., 1], np.inf)
        t_wall = np.where(rays_world[..., 2] > 0, WALL_DISTANCE / rays_world[..., 2], np.inf)
    t = np.minimum(t_floor, t_wall)
    assert np.isfinite(t).all()
    label = np.where(t_floor <= t_wall, FLOOR, WALL)
    points = centre + t[..., None] * rays_world
    true_height = -points[..., 1]
    gravity_camera = camera_to_world.T @ np.array([0.0, 1.0, 0.0])
    return t, true_height, label, gravity_camera


def interior(mask, radius):
    """Pixels of ``mask`` whose (2r+1)^2 window lies entirely inside ``mask``."""
    padded = np.pad(mask, radius, constant_values=False)
    out = np.ones_like(mask)
    for dv in range(2 * radius + 1):
        for du in range(2 * radius + 1):
            out &= padded[dv : dv + HEIGHT, du : du + WIDTH]
    return out


def angle_deg(a, b):
    cosine = np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))
    return np.degrees(np.arccos(np.clip(cosine, -1, 1)))


@pytest.fixture(scope="module")
def room():
    depth, true_height, label, gravity = render_room()
    return depth, true_height, label, gravity, depth_to_hha(depth, K)


def test_scene_sees_floor_and_wall(room):
    _, true_height, label, _, _ = room
    assert (label == FLOOR).sum() > 500 and (label == WALL).sum() > 500
    np.testing.assert_allclose(true_height[label == FLOOR], 0.0, atol=1e-9)


def test_output_type_and_shape(room):
    *_, hha = room
    assert hha.dtype == np.uint8 and hha.shape == (HEIGHT, WIDTH, 3)


def test_disparity_channel_is_31000_over_depth_cm(room):
    depth, *_, hha = room
    for row, col in [(0, 0), (10, 40), (25, 70), (45, 10), (59, 79)]:
        expected = np.floor(31000.0 / max(100.0 * depth[row, col], 100.0) + 0.5)
        assert hha[row, col, 0] == min(expected, 255), (row, col, depth[row, col])


def test_disparity_exact_values_and_saturation():
    # Fronto-parallel slabs at known depths: 31000 / cm, depth clamped to >= 100 cm.
    depth = np.full((HEIGHT, WIDTH), 2.0)
    depth[:, 20:40] = 3.1
    depth[:, 40:60] = 6.2
    depth[:, 60:70] = 0.5
    depth[:, 70:] = 4.0
    hha = depth_to_hha(depth, K)
    assert hha[30, 5, 0] == 155  # 31000 / 200
    assert hha[30, 30, 0] == 100  # 31000 / 310
    assert hha[30, 50, 0] == 50  # 31000 / 620
    assert hha[30, 65, 0] == 255  # 31000 / max(50, 100) = 310 -> saturates
    assert hha[30, 75, 0] == 78  # 31000 / 400 = 77.5 -> rounds half up


def test_height_channel_is_true_height_in_cm(room):
    depth, true_height, label, _, hha = room
    # The floor is the lowest point (150 cm below the camera, < -90 cm), so the
    # channel is the height above it in cm; saturates above 255 cm (not reached).
    expected = np.floor(100.0 * true_height + 0.5)
    assert true_height.max() < 2.55
    difference = np.abs(hha[..., 1].astype(float) - expected)
    assert difference.max() <= 1.0
    # Specific wall pixels, heights by hand: rows near the top see the wall highest.
    wall_rows = [r for r in range(HEIGHT) if label[r, 40] == WALL]
    assert len(wall_rows) > 10
    heights = hha[wall_rows, 40, 1].astype(float)
    assert np.all(np.diff(heights) <= 0)  # decreasing downwards
    # Linear in the true height: slope 1 cm per cm, intercept 0.
    slope, intercept = np.polyfit(true_height[wall_rows, 40] * 100, heights, 1)
    assert abs(slope - 1.0) < 0.01 and abs(intercept) < 1.0
    assert np.all(hha[label == FLOOR, 1] <= 1)


def test_angle_channel_floor_and_wall(room):
    _, _, label, _, hha = room
    floor = interior(label == FLOOR, 3)
    wall = interior(label == WALL, 3)
    assert floor.sum() > 100 and wall.sum() > 100
    # acosd(n . up) + 128 - 90: floor 0 deg -> 38, wall 90 deg -> 128.
    assert np.all(hha[floor, 2] == 38)
    assert np.all(hha[wall, 2] == 128)


def test_height_uses_130cm_floor_when_lowest_point_is_high():
    # Level camera facing a wall 1.5 m away: the lowest visible point is
    # 1.5 * 30.5 / 60 = 0.76 m below the camera (> -90 cm), so the floor is assumed
    # 130 cm below the camera: channel = 130 - Y_cm, Y = (v - cy) z / fy.
    depth = np.full((HEIGHT, WIDTH), 1.5)
    hha = depth_to_hha(depth, K)
    for row in (0, 10, 29, 45, 59):
        y_cm = 100 * (row - K[1, 2]) * 1.5 / FOCAL
        assert hha[row, 40, 1] == np.floor(130 - y_cm + 0.5), row
    assert np.all(hha[interior(np.ones((HEIGHT, WIDTH), bool), 3), 2] == 128)


@pytest.mark.parametrize("pitch, roll", [(20.0, 0.0), (25.0, 10.0), (10.0, -15.0)])
def test_gravity_estimate_recovers_true_direction(pitch, roll):
    depth, _, _, gravity = render_room(pitch, roll)
    normals = surface_normals(depth, K, radius=10)
    estimate = estimate_gravity(normals)
    # The estimate starts from the camera y axis, which is far from the truth ...
    assert angle_deg(gravity, [0, 1, 0]) > min(abs(pitch), 10) - 1e-6
    # ... and converges to it: up = -estimate.
    assert angle_deg(estimate, gravity) < 1.0
    assert angle_deg(-estimate, -gravity) < 1.0


def test_gravity_from_noisy_synthetic_normals():
    rng = np.random.default_rng(0)
    gravity = np.array([0.2, 0.9, -0.3])
    gravity /= np.linalg.norm(gravity)
    floor = -gravity + 0.05 * rng.standard_normal((400, 3))
    helper = np.cross(gravity, [1.0, 0.0, 0.0])
    helper /= np.linalg.norm(helper)
    other = np.cross(gravity, helper)
    phases = rng.uniform(0, 2 * np.pi, 600)
    walls = np.cos(phases)[:, None] * helper + np.sin(phases)[:, None] * other
    walls += 0.05 * rng.standard_normal(walls.shape)
    normals = np.concatenate([floor, walls])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    normals = np.concatenate([normals, np.full((5, 3), np.nan)])  # ignored
    assert angle_deg(estimate_gravity(normals), gravity) < 2.0


def test_surface_normals_of_planes(room):
    depth, _, label, gravity, _ = room
    normals = surface_normals(depth, K, radius=3)
    floor = interior(label == FLOOR, 3)
    # Floor normals point up (= -gravity) and towards the camera.
    np.testing.assert_allclose(normals[floor], np.broadcast_to(-gravity, normals[floor].shape), atol=1e-6)
    points = point_cloud(depth, K)
    assert np.all(np.einsum("nc,nc->n", normals[floor], points[floor]) < 0)
    np.testing.assert_allclose(np.linalg.norm(normals[floor], axis=-1), 1.0, atol=1e-9)


def test_point_cloud_back_projection():
    depth = np.full((HEIGHT, WIDTH), 2.0)
    points = point_cloud(depth, K)
    np.testing.assert_allclose(points[29, 79], [(79 - 39.5) * 2 / 60, (29 - 29.5) * 2 / 60, 2.0])


def test_missing_pixels_are_zero_and_rest_unaffected(room):
    depth, _, label, _, hha_full = room
    holed = depth.copy()
    holed[5:8, 30:33] = 0.0
    holed[50, 60] = np.nan
    hha = depth_to_hha(holed, K)
    assert np.all(hha[5:8, 30:33] == 0) and np.all(hha[50, 60] == 0)
    # Far from the holes the HHA is unchanged (same gravity, same floor height).
    far = np.ones_like(label, bool)
    far[0:20, 20:45] = False
    far[40:60, 50:70] = False
    assert np.abs(hha[far].astype(int) - hha_full[far].astype(int)).max() <= 1


def test_measured_mask_keeps_normals_from_measured_points_only(room):
    depth, _, label, _, hha_full = room
    corrupted = depth.copy()
    corrupted[45:52, 30:40] *= 0.8  # wrong "completed" values
    measured = np.ones(depth.shape, bool)
    measured[45:52, 30:40] = False
    hha = depth_to_hha(corrupted, K, measured_mask=measured)
    # Angle next to the corrupted block is still the floor's (38): fitted to
    # measured floor points only.  Without the mask it is not.
    assert np.all(hha[42:44, 30:40, 2] == 38)
    assert np.any(depth_to_hha(corrupted, K)[42:44, 30:40, 2] != 38)
    # Unmeasured pixels still get an HHA value from their (completed) depth.
    assert corrupted[48, 35] > 1.25
    assert hha[48, 35, 0] == np.floor(31000 / (100 * corrupted[48, 35]) + 0.5)
    assert hha_full[48, 35, 2] == 38


@pytest.mark.parametrize(
    "depth, intrinsics, mask, message",
    [
        (np.ones((4, 5, 2)), K, None, "2-D"),
        (np.zeros((6, 8)), K, None, "no valid"),
        (np.full((6, 8), np.nan), K, None, "no valid"),
        (np.array([["a"]]), K, None, "dtype"),
        (np.ones((6, 8)), np.eye(4), None, "3x3"),
        (np.ones((6, 8)), [[0, 0, 4], [0, 60, 3], [0, 0, 1]], None, "fx=0"),
        (np.ones((6, 8)), [[60, 0, 4], [0, -1, 3], [0, 0, 1]], None, "fy=-1"),
        (np.ones((6, 8)), K, np.ones((6, 7), bool), "(6, 7)"),
        (np.ones((6, 8)), K, np.zeros((6, 8), bool), "measured_mask"),
    ],
)
def test_bad_input_raises_value_error(depth, intrinsics, mask, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        depth_to_hha(depth, intrinsics, measured_mask=mask)


def test_bad_gravity_arguments():
    with pytest.raises(ValueError, match=r"\(4, 2\)"):
        estimate_gravity(np.ones((4, 2)))
    with pytest.raises(ValueError, match="no finite"):
        estimate_gravity(np.full((4, 3), np.nan))
    with pytest.raises(ValueError, match="radius"):
        surface_normals(np.ones((6, 8)), K, radius=0)


def test_surface_normals_match_brute_force_least_squares():
    # Noisy curved surface with holes: fit (X/Z, Y/Z, 1) . n = 1/Z per window with
    # numpy's lstsq and compare with the vectorised normals.
    rng = np.random.default_rng(3)
    rows, cols = np.indices((HEIGHT, WIDTH), dtype=np.float64)
    depth = 2.0 + 0.3 * np.sin(cols / 9.0) + 0.2 * (rows / HEIGHT) ** 2
    depth *= 1 + 0.01 * rng.standard_normal(depth.shape)
    depth[rng.random(depth.shape) < 0.2] = 0.0
    radius = 3
    normals = surface_normals(depth, K, radius=radius)
    points = point_cloud(depth, K)
    for row, col in [(0, 0), (10, 17), (30, 40), (59, 5), (44, 79)]:
        window = points[
            max(row - radius, 0) : row + radius + 1, max(col - radius, 0) : col + radius + 1
        ].reshape(-1, 3)
        window = window[np.isfinite(window).all(axis=1)]
        design = np.column_stack(
            [window[:, 0] / window[:, 2], window[:, 1] / window[:, 2], np.ones(len(window))]
        )
        solution, *_ = np.linalg.lstsq(design, 1.0 / window[:, 2], rcond=None)
        expected = -solution / np.linalg.norm(solution)  # towards the camera
        np.testing.assert_allclose(normals[row, col], expected, atol=1e-7)
