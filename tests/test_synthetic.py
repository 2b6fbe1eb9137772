"""Tests of the built-in synthetic RGB-D dataset (rfbnet_tf/datasets/synthetic.py).

Geometry is checked independently of the renderer: every pixel is back-projected with
``depth_true``, the intrinsics and the returned camera pose, and its 3-D point must lie
on the surface of the object its label names (planes, rectangles, boxes, cylinders,
spheres, tables), with residuals computed here from the returned object parameters.
"""

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rfbnet_tf.datasets.synthetic import (
    CLASS_NAMES,
    NATIVE_SIZE,
    NUM_CLASSES,
    default_intrinsics,
    kinect_depth,
    render_scene,
    split_seeds,
)

SMALL = (48, 64)
GEOMETRY_TOL_M = 1e-4


@pytest.fixture(scope="module")
def frames():
    """40 small scenes shared by the statistical tests (about 0.5 s in all)."""
    return [render_scene(seed, *SMALL) for seed in range(40)]


def camera_points(frame):
    """Back-project every pixel with depth_true: (H, W, 3) points in the camera frame."""
    k = frame["intrinsics"]
    z = frame["depth_true"].astype(np.float64)
    v, u = np.mgrid[0 : z.shape[0], 0 : z.shape[1]]
    return np.stack([(u - k[0, 2]) / k[0, 0] * z, (v - k[1, 2]) / k[1, 1] * z, z], axis=-1)


def world_points(frame):
    """(H, W, 3) world points of every pixel, through the returned camera pose."""
    return camera_points(frame) @ frame["camera_rotation"].T + frame["camera_position"]


# ----------------------------------------------------------------------------------
# Surface residuals (distance of points to an object's surface), written from scratch.
# ----------------------------------------------------------------------------------


def _box_residual(box, p):
    c, s = math.cos(box["yaw"]), math.sin(box["yaw"])
    rel = p - box["center"]
    q = np.stack([c * rel[:, 0] + s * rel[:, 1], -s * rel[:, 0] + c * rel[:, 1], rel[:, 2]], 1)
    excess = np.abs(q) - box["half_size"]
    return np.abs(excess.max(axis=1))  # 0 on the surface: on one face, inside the others


def _residual(obj, objects, p):
    shape = obj["shape"]
    if shape == "plane":
        return np.abs(p[:, obj["axis"]] - obj["offset"])
    if shape == "rect":
        on_plane = _residual(objects[obj["plane_instance"]], objects, p)
        rel = p - obj["center"]
        outside = np.max(np.abs(rel @ obj["axes"].T) - obj["half_size"], axis=1)
        return np.maximum(on_plane, np.maximum(outside, 0.0))
    if shape == "box":
        return _box_residual(obj, p)
    if shape == "table":
        return np.min([_box_residual(part, p) for part in obj["parts"]], axis=0)
    if shape == "sphere":
        return np.abs(np.linalg.norm(p - obj["center"], axis=1) - obj["radius"])
    if shape == "cylinder":
        base, r, h = obj["base_center"], obj["radius"], obj["height"]
        rho = np.linalg.norm(p[:, :2] - base[:2], axis=1)
        z = p[:, 2] - base[2]
        side = np.maximum(np.abs(rho - r), np.maximum(-z, z - h))
        top = np.maximum(np.abs(z - h), rho - r)
        bottom = np.maximum(np.abs(z), rho - r)
        return np.minimum(side, np.minimum(top, bottom))
    raise AssertionError(f"unknown shape {shape}")


# ----------------------------------------------------------------------------------
# Constants, intrinsics, argument checking
# ----------------------------------------------------------------------------------


def test_class_constants():
    assert NUM_CLASSES == len(CLASS_NAMES) == 10
    assert len(set(CLASS_NAMES)) == NUM_CLASSES
    assert NATIVE_SIZE == (480, 640)
    for name in ("floor", "wall", "ceiling", "rug", "poster", "box", "crate", "cylinder",
                 "sphere", "table"):
        assert name in CLASS_NAMES


def test_default_intrinsics_kinect_fov_and_scaling():
    k = default_intrinsics(480, 640)
    assert k.dtype == np.float64 and k.shape == (3, 3)
    # fx = 320 / tan(29 deg) = 577.295; square pixels at 640 x 480.
    assert k[0, 0] == pytest.approx(577.2953, abs=1e-3)
    assert k[1, 1] == pytest.approx(k[0, 0])
    assert math.degrees(2 * math.atan(320 / k[0, 0])) == pytest.approx(58.0)
    assert math.degrees(2 * math.atan(240 / k[1, 1])) == pytest.approx(45.2, abs=0.1)
    assert (k[0, 2], k[1, 2]) == (319.5, 239.5)
    assert k[2].tolist() == [0.0, 0.0, 1.0] and k[0, 1] == k[1, 0] == 0.0
    small = default_intrinsics(120, 160)
    np.testing.assert_allclose(small[:2, :2], k[:2, :2] / 4)
    assert (small[0, 2], small[1, 2]) == (79.5, 59.5)
    other = default_intrinsics(128, 160)  # fy keeps the 45 degree vertical field of view
    assert other[1, 1] == pytest.approx(k[1, 1] * 128 / 480)


@pytest.mark.parametrize("height,width,bad", [
    (15, 64, 15), (64, 15, 15), (0, 64, 0), (-5, 64, -5), (16.0, 64, 16.0),
    ("32", 64, "32"), (True, 64, True), (None, 64, None)])
def test_bad_sizes_raise(height, width, bad):
    with pytest.raises(ValueError, match=re.escape(repr(bad))):
        render_scene(0, height, width)
    with pytest.raises(ValueError, match=re.escape(repr(bad))):
        default_intrinsics(height, width)


def test_minimum_size_renders():
    frame = render_scene(5, 16, 16)
    assert frame["rgb"].shape == (16, 16, 3)


@pytest.mark.parametrize("seed", [-1, 1.5, "3", None, True])
def test_bad_seed_raises(seed):
    with pytest.raises(ValueError, match=re.escape(repr(seed))):
        render_scene(seed, 16, 16)


# ----------------------------------------------------------------------------------
# Splits and determinism
# ----------------------------------------------------------------------------------


def test_split_seeds_deterministic_and_disjoint():
    train = split_seeds("train", 500)
    val = split_seeds("val", 500)
    test = split_seeds("test", 100)
    assert train == split_seeds("train", 500) and len(train) == len(set(train)) == 500
    assert not set(train) & set(val) and not set(train) & set(test)
    assert not set(val) & set(test)
    assert split_seeds("train", 3) == train[:3]  # growing a split keeps its first seeds
    assert split_seeds("train", 0) == []
    other = split_seeds("train", 500, seed=1)
    assert not set(other) & set(train)
    assert not set(split_seeds("val", 500, seed=1)) & set(other)
    assert all(isinstance(s, int) and s >= 0 for s in train + val)


@pytest.mark.parametrize("args,bad", [
    (("training", 3), "training"), (("train", -1), -1), (("train", 2.0), 2.0),
    (("val", 3, -2), -2), (("val", 3, 0.5), 0.5)])
def test_split_seeds_bad_arguments(args, bad):
    with pytest.raises(ValueError, match=re.escape(repr(bad))):
        split_seeds(*args)


def _assert_frames_equal(a, b):
    for key in ("rgb", "depth", "depth_true", "label", "instance", "normals",
                "intrinsics", "camera_position", "camera_rotation"):
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_same_seed_identical_different_seeds_differ():
    a, b = render_scene(11, *SMALL), render_scene(11, *SMALL)
    _assert_frames_equal(a, b)
    c = render_scene(12, *SMALL)
    assert not np.array_equal(a["rgb"], c["rgb"])
    assert not np.array_equal(a["depth_true"], c["depth_true"])


def test_same_scene_at_every_size():
    small, large = render_scene(4, 32, 48), render_scene(4, 60, 80)
    np.testing.assert_array_equal(small["camera_position"], large["camera_position"])
    np.testing.assert_array_equal(small["room_size"], large["room_size"])
    assert [o["class_name"] for o in small["objects"]] == [
        o["class_name"] for o in large["objects"]]


_DIGEST_CODE = (
    "import hashlib, numpy as np\n"
    "from rfbnet_tf.datasets.synthetic import render_scene\n"
    "f = render_scene(23, 32, 48)\n"
    "h = hashlib.sha256()\n"
    "for k in ('rgb', 'depth', 'depth_true', 'label'):\n"
    "    h.update(np.ascontiguousarray(f[k]).tobytes())\n"
    "print(h.hexdigest())\n"
)


def test_identical_in_a_fresh_process():
    namespace = {}
    exec(_DIGEST_CODE.replace("print(h.hexdigest())", "digest = h.hexdigest()"), namespace)
    repo_root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (repo_root, os.environ.get("PYTHONPATH")) if p))
    out = subprocess.run([sys.executable, "-c", _DIGEST_CODE], capture_output=True,
                         text=True, check=True, env=env)
    assert out.stdout.strip() == namespace["digest"]


def test_golden_values():
    """Pins the generator: a change here changes every prepared synthetic dataset."""
    frame = render_scene(0, 32, 48)
    np.testing.assert_allclose(frame["room_size"], GOLDEN_ROOM_SIZE, rtol=0, atol=1e-12)
    assert frame["camera_height"] == pytest.approx(GOLDEN_CAMERA_HEIGHT, abs=1e-12)
    assert [o["class_name"] for o in frame["objects"]] == GOLDEN_CLASSES
    assert np.bincount(frame["label"].ravel(), minlength=NUM_CLASSES).tolist() == (
        GOLDEN_LABEL_COUNTS)
    assert frame["rgb"].astype(np.int64).sum() == GOLDEN_RGB_SUM
    assert int((frame["depth"] == 0).sum()) == GOLDEN_HOLES


GOLDEN_ROOM_SIZE = [6.366327592946544, 4.714040211937416, 2.5286814667553363]
GOLDEN_CAMERA_HEIGHT = 1.0132221084228232
GOLDEN_CLASSES = ["floor", "ceiling", "wall", "wall", "wall", "wall", "rug", "poster",
                  "crate", "crate", "table", "box", "cylinder", "crate"]
GOLDEN_LABEL_COUNTS = [124, 500, 35, 6, 15, 69, 728, 0, 0, 59]
GOLDEN_RGB_SUM = 552350
GOLDEN_HOLES = 173


# ----------------------------------------------------------------------------------
# Values, dtypes, shapes
# ----------------------------------------------------------------------------------


def test_output_types_shapes_and_ranges():
    h, w = 32, 48
    f = render_scene(2, h, w)
    assert f["rgb"].dtype == np.uint8 and f["rgb"].shape == (h, w, 3)
    assert f["depth"].dtype == np.float32 and f["depth"].shape == (h, w)
    assert f["depth_true"].dtype == np.float32 and f["depth_true"].shape == (h, w)
    assert f["label"].dtype == np.uint8 and f["label"].shape == (h, w)
    assert f["instance"].shape == (h, w) and f["normals"].shape == (h, w, 3)
    assert f["label"].max() < NUM_CLASSES  # no ignore pixels: the room is closed
    np.testing.assert_array_equal(f["intrinsics"], default_intrinsics(h, w))
    assert f["depth_true"].min() > 0 and np.isfinite(f["depth_true"]).all()
    assert f["depth"].min() >= 0
    assert 1.0 <= f["camera_height"] <= 1.8
    assert f["camera_height"] == f["camera_position"][2]
    rot = f["camera_rotation"]
    np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(rot) == pytest.approx(1.0)
    np.testing.assert_allclose(f["up_in_camera"], rot.T @ [0.0, 0.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(f["normals"], axis=-1), 1.0, atol=1e-5)
    assert f["rgb"].std() > 10  # not a flat image
    assert f["seed"] == 2


# ----------------------------------------------------------------------------------
# Labels agree with geometry
# ----------------------------------------------------------------------------------


def test_every_pixel_lies_on_the_surface_its_instance_names(frames):
    checked = set()
    for f in frames[:15]:
        p = world_points(f).reshape(-1, 3)
        inst = f["instance"].ravel()
        labels = np.array([o["label"] for o in f["objects"]])
        np.testing.assert_array_equal(f["label"].ravel(), labels[inst])
        for obj in f["objects"]:
            assert CLASS_NAMES[obj["label"]] == obj["class_name"]
            mask = inst == obj["instance"]
            if not mask.any():
                continue
            residual = _residual(obj, f["objects"], p[mask])
            assert residual.max() < GEOMETRY_TOL_M, (f["seed"], obj["class_name"])
            checked.add(obj["shape"])
    assert checked == {"plane", "rect", "box", "cylinder", "sphere", "table"}


def test_floor_wall_ceiling_from_camera_pose_alone(frames):
    """Room surfaces checked from camera height / up vector and room size only."""
    for f in frames[:15]:
        label = f["label"]
        pc = camera_points(f)
        # Height above the floor in the camera frame: up . p + camera_height.
        height = pc @ f["up_in_camera"] + f["camera_height"]
        for name in ("floor", "rug"):
            sel = label == CLASS_NAMES.index(name)
            assert np.abs(height[sel]).max(initial=0) < GEOMETRY_TOL_M
        lx, ly, lz = f["room_size"]
        sel = label == CLASS_NAMES.index("ceiling")
        assert np.abs(height[sel] - lz).max(initial=0) < GEOMETRY_TOL_M
        pw = world_points(f)
        for name in ("wall", "poster"):
            q = pw[label == CLASS_NAMES.index(name)]
            gap = np.min(np.abs(np.stack([q[:, 0], q[:, 0] - lx, q[:, 1], q[:, 1] - ly])),
                         axis=0)
            assert gap.max(initial=0) < GEOMETRY_TOL_M
            assert (q[:, 2] > -GEOMETRY_TOL_M).all() and (q[:, 2] < lz + 1e-4).all()
        # Solid objects stand above the floor and below the ceiling.
        assert (height > -GEOMETRY_TOL_M).all() and (height < lz + GEOMETRY_TOL_M).all()


def test_normals_match_geometry(frames):
    for f in frames[:10]:
        n = f["normals"]
        p = world_points(f)
        floor = f["label"] == CLASS_NAMES.index("floor")
        np.testing.assert_allclose(n[floor], np.broadcast_to([0, 0, 1], n[floor].shape))
        for obj in f["objects"]:
            if obj["shape"] != "sphere":
                continue
            sel = f["instance"] == obj["instance"]
            expected = (p[sel] - obj["center"]) / obj["radius"]
            np.testing.assert_allclose(n[sel], expected, atol=1e-3)
        # Every visible surface faces the camera.
        to_cam = f["camera_position"] - p
        assert (np.sum(n * to_cam, axis=-1) > 0).all()


def test_nothing_hides_behind_a_sphere(frames):
    """Occlusion order: intersect every pixel's ray with each sphere analytically; the
    pixel's depth is never beyond the sphere, and equals it exactly on that sphere."""
    spheres = 0
    for f in frames:
        k = f["intrinsics"]
        h, w = f["depth_true"].shape
        v, u = np.mgrid[0:h, 0:w]
        rays = np.stack([(u - k[0, 2]) / k[0, 0], (v - k[1, 2]) / k[1, 1], np.ones((h, w))],
                        axis=-1) @ f["camera_rotation"].T  # z-depth parametrisation
        z = f["depth_true"].astype(np.float64)
        for obj in f["objects"]:
            if obj["shape"] != "sphere":
                continue
            oc = f["camera_position"] - obj["center"]
            a = np.sum(rays * rays, axis=-1)
            b = rays @ oc
            c = oc @ oc - obj["radius"] ** 2
            disc = b * b - a * c
            with np.errstate(invalid="ignore"):
                t_all = (-b - np.sqrt(disc)) / a
            hit = (disc > 0) & (t_all > 0)  # in front of the camera
            t = t_all[hit]
            assert (z[hit] <= t * (1 + 1e-6)).all()
            on_sphere = f["instance"][hit] == obj["instance"]
            np.testing.assert_allclose(z[hit][on_sphere], t[on_sphere], rtol=1e-6)
            assert (z[hit][~on_sphere] < t[~on_sphere]).all()
            spheres += on_sphere.any()
    assert spheres >= 5


def test_every_class_appears(frames):
    seen = np.zeros(NUM_CLASSES, dtype=bool)
    for f in frames:
        seen[np.unique(f["label"])] = True
    assert seen.all(), [c for c, s in zip(CLASS_NAMES, seen) if not s]


# ----------------------------------------------------------------------------------
# Sensor depth
# ----------------------------------------------------------------------------------


def _sigma(z):
    return 0.0012 + 0.0019 * (z - 0.4) ** 2


def test_noisy_depth_within_noise_bound_with_holes(frames):
    residuals, depths = [], []
    for f in frames:
        d, z = f["depth"].astype(np.float64), f["depth_true"].astype(np.float64)
        valid = d > 0
        assert valid.mean() > 0.7
        assert (~valid).any()  # holes
        err = d[valid] - z[valid]
        assert (np.abs(err) <= 3 * _sigma(z[valid]) + 1e-6).all()
        residuals.append(err / _sigma(z[valid]))
        depths.append(z[valid])
        # Far side of each depth discontinuity (> 10 % jump) is missing.
        for a, b in ((z[:, :-1], z[:, 1:]), (z[:-1, :], z[1:, :])):
            jump = np.abs(b - a) > 0.1 * np.minimum(a, b)
            far_b = np.zeros_like(valid)
            far_a = np.zeros_like(valid)
            if a.shape[1] < z.shape[1]:
                far_b[:, 1:] = jump & (b > a)
                far_a[:, :-1] = jump & (a > b)
            else:
                far_b[1:, :] = jump & (b > a)
                far_a[:-1, :] = jump & (a > b)
            assert not valid[far_a | far_b].any()
    r, z = np.concatenate(residuals), np.concatenate(depths)
    # A N(0, 1) truncated at +-3 has std 0.9865: the noise scales as sigma(z) at
    # every distance, i.e. it grows quadratically with depth.
    for sel in (z < 2.5, z >= 2.5):
        assert sel.sum() > 1000
        assert r[sel].std() == pytest.approx(0.9865, abs=0.05)
        assert abs(r[sel].mean()) < 0.05


def test_kinect_depth_range_limits_and_noise_growth():
    rng = np.random.default_rng(0)
    z = np.tile(np.linspace(0.2, 10.0, 400), (300, 1))  # smooth ramp: no 10 % jumps
    d = kinect_depth(z, rng)
    assert d.dtype == np.float32
    assert (d[z < 0.4] == 0).all() and (d[z > 8.0] == 0).all()
    inside = (z > 0.45) & (z < 7.9)
    assert (d[inside] > 0).mean() > 0.95
    near, far = inside & (z < 1.5), inside & (z > 6.0) & (d > 0)
    near &= d > 0
    assert np.std(d[near] - z[near]) < 0.01 < np.std(d[far] - z[far])
    cos = np.full(z.shape, 0.5)
    cos[:, :50] = 0.05  # grazing incidence
    d2 = kinect_depth(z, np.random.default_rng(0), cos)
    assert (d2[:, :50] == 0).all()
    np.testing.assert_array_equal(d2[:, 50:], d[:, 50:])


@pytest.mark.parametrize("bad", [np.zeros(5), np.zeros((0, 3)), np.zeros((2, 2, 2))])
def test_kinect_depth_bad_input(bad):
    with pytest.raises(ValueError, match=re.escape(str(bad.shape))):
        kinect_depth(bad, np.random.default_rng(0))
    with pytest.raises(ValueError, match="Generator"):
        kinect_depth(np.ones((4, 4)), 3)
    with pytest.raises(ValueError, match=re.escape("(3, 4)")):
        kinect_depth(np.ones((4, 4)), np.random.default_rng(0), np.ones((3, 4)))


# ----------------------------------------------------------------------------------
# Fusion matters: RGB-ambiguous and depth-ambiguous class pairs
# ----------------------------------------------------------------------------------


def _chromaticity_histogram(rgb):
    x = rgb.astype(np.float64) + 1.0
    total = x.sum(axis=1)
    hist, _, _ = np.histogram2d(x[:, 0] / total, x[:, 1] / total, bins=8,
                                range=[[0, 1], [0, 1]])
    return hist / hist.sum()


def _turning_angles(points):
    """Angle (deg) between successive steps of three horizontally adjacent 3-D points:
    0 on any plane (a plane cuts a row's ray fan in a straight line), > 0 on curved
    surfaces."""
    a = points[:, 1:-1] - points[:, :-2]
    b = points[:, 2:] - points[:, 1:-1]
    sin = np.linalg.norm(np.cross(a, b), axis=-1) / (
        np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    return np.degrees(np.arcsin(np.clip(sin, 0.0, 1.0)))


@pytest.fixture(scope="module")
def class_statistics(frames):
    """Per class: mean per-object chromaticity histogram and curved-pixel fractions."""
    hists = {c: [] for c in CLASS_NAMES}
    curved = {c: [] for c in CLASS_NAMES}
    for f in frames:
        inst = f["instance"]
        angles = _turning_angles(world_points(f))
        mid = inst[:, 1:-1]
        same = (mid == inst[:, :-2]) & (mid == inst[:, 2:])
        for obj in f["objects"]:
            mask = inst == obj["instance"]
            if mask.sum() < 20:
                continue
            hists[obj["class_name"]].append(_chromaticity_histogram(f["rgb"][mask]))
            triples = same & (mid == obj["instance"])
            if triples.sum() >= 10:
                curved[obj["class_name"]].append(float((angles[triples] > 2.0).mean()))
    mean_hist = {c: np.mean(h, axis=0) for c, h in hists.items() if h}
    mean_curved = {c: float(np.mean(v)) for c, v in curved.items() if v}
    return mean_hist, mean_curved


def _overlap(hist, a, b):
    return float(np.minimum(hist[a], hist[b]).sum())  # histogram intersection in [0, 1]


@pytest.mark.parametrize("a,b", [("box", "cylinder"), ("crate", "sphere")])
def test_rgb_ambiguous_pairs_differ_in_geometry(class_statistics, a, b):
    hist, curved = class_statistics
    assert _overlap(hist, a, b) > 0.6  # same colour/texture distribution
    assert curved[b] - curved[a] > 0.4  # planar faces vs curved surface


def test_poster_looks_like_a_box_but_is_flat_on_a_wall(class_statistics):
    hist, curved = class_statistics
    assert _overlap(hist, "box", "poster") > 0.6
    assert curved["poster"] == 0.0  # geometry (wall plane) is what tells them apart


@pytest.mark.parametrize("a,b", [("floor", "rug"), ("wall", "poster"), ("box", "crate")])
def test_depth_ambiguous_pairs_differ_in_colour(class_statistics, a, b):
    hist, curved = class_statistics
    assert _overlap(hist, a, b) < 0.2
    assert curved[a] < 0.2 and curved[b] < 0.2  # both planar: depth cannot tell


def test_box_and_crate_share_the_shape_distribution():
    """Same sampler: the half sizes of boxes and crates have matching statistics."""
    sizes = {"box": [], "crate": []}
    for seed in range(250):
        for obj in render_scene(seed, 16, 16)["objects"]:
            if obj["class_name"] in sizes:
                sizes[obj["class_name"]].append(obj["half_size"])
    box, crate = np.array(sizes["box"]), np.array(sizes["crate"])
    assert len(box) > 150 and len(crate) > 150
    np.testing.assert_allclose(box.mean(axis=0), crate.mean(axis=0), atol=0.03)
    np.testing.assert_allclose(box.std(axis=0), crate.std(axis=0), atol=0.03)
