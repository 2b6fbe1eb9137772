"""Built-in synthetic RGB-D dataset: procedural indoor rooms rendered by ray casting.

This is the project's embedded default dataset. It needs no download: every frame is
rendered on demand from an integer seed with a pinhole camera by vectorised numpy ray
casting (no OpenGL), so the README walkthrough and the end-to-end tests can train on it
on a CPU in minutes. It is an invention of this project, not part of the RFBNet paper;
its job is to be a small RGB-D segmentation problem on which fusing RGB and depth
visibly matters (the paper's claim, Sec. I and IV, on ScanNet and Cityscapes).

Scene design
------------
World frame: metres, ``z`` up (gravity is ``-z``), floor at ``z = 0``. A room is the
axis-aligned box ``[0, Lx] x [0, Ly] x [0, Lz]`` (``Lx, Ly`` in 3.5-8 m, ``Lz`` in
2.5-3.2 m): a floor, four walls and a ceiling. The camera stands inside, 1.0-1.8 m
above the floor, with a random yaw, a pitch of 5-30 degrees down (80 % of frames) or
12 degrees up to 5 down (20 %, so that ceilings are seen) and a roll of at most
4 degrees; it faces at least 2.5 m of free floor when the room allows.
On the floor, mostly inside the camera's field of view, stand 4-8 non-overlapping
objects: boxes, crates (boxes again), vertical cylinders, spheres resting on the floor
and tables (a top slab on four legs). Flat, zero-thickness decals lie exactly in the
room's planes: a rug on the floor (85 % of frames) and 1-4 posters on the walls,
mostly the wall the camera faces.

Classes (``CLASS_NAMES``, labels ``0 .. NUM_CLASSES - 1``; every pixel is labelled, the
ignore label 255 is never produced):
floor, wall, ceiling, rug, poster, box, crate, cylinder, sphere, table.

Fusion matters by construction:

* RGB-ambiguous (same colour and texture distribution, different geometry):
  box, cylinder and poster all draw from the "warm" appearance family; crate and
  sphere both draw from the "cool" family; wall and ceiling share the paint palette.
* Depth-ambiguous (same geometry, different appearance): rug vs floor and poster vs
  wall (coplanar decals, identical depth); box vs crate (identical shape
  distribution, drawn by the same sampler, different palettes).
* Shading is Lambertian from one point light plus ambient (no cast shadows), so
  geometry is partly visible in RGB but does not decide the class alone.

Appearance: each surface has two colours (drawn in HSV from its class palette) and a
solid (3-D) texture evaluated on the object-local hit point: plain, stripes (period
0.1-0.33 m along a random direction) or a 3-D checker (cells 0.1-0.33 m; floor tiles
0.33-0.67 m). Palettes (HSV): walls and ceiling pale paint; floor wood planks or grey
tiles; rug saturated green or purple; "warm" family reds to yellows; "cool" family
cyans to blues; table dark wood. RGB gets Gaussian sensor noise (sigma 1.5 levels).

Depth (``depth``) imitates a Kinect v1, whose field of view (about 58 x 45 degrees at
640 x 480) sets ``default_intrinsics``:

* axial noise ``sigma(z) = 0.0012 + 0.0019 (z - 0.4)^2`` m (Nguyen, Izadi and Lovell,
  "Modeling Kinect Sensor Noise for Improved 3D Reconstruction and Tracking", 3DIMPVT
  2012), Gaussian truncated at +-3 sigma, so ``|depth - depth_true| <= 3 sigma``;
* missing (0) outside the 0.4-8 m range, at grazing incidence (angle between the ray
  and the surface normal above ~84 degrees), on the far side of depth discontinuities
  (a jump of more than 10 % between 4-neighbours; the band is ``max(1, round(W/320))``
  pixels wide) and at random: 0.3 % isolated pixels plus a Poisson(2) number of small
  round holes. ``kinect_depth`` applies this model to any exact depth map.

``depth_true`` is the exact z-depth (distance along the optical axis, as a Kinect
reports it) of the first surface hit by the ray through the pixel centre.

Public API: ``CLASS_NAMES``, ``NUM_CLASSES``, ``NATIVE_SIZE``, ``default_intrinsics``,
``render_scene``, ``split_seeds``, ``kinect_depth`` and ``depth_noise_sigma`` (the
sensor model, usable on any depth map).

Typical class frequencies (pixels, 300 frames): wall 48 %, floor 14 %, box 8 %,
crate 8 %, cylinder 6 %, poster 5 %, ceiling 3 %, sphere 3 %, rug 3 %, table 3 %.

Camera convention: OpenCV (x right, y down, z forward); pixel ``(row v, column u)``
looks along ``K^-1 [u, v, 1]``, so a pixel with depth ``z`` back-projects to
``z K^-1 [u, v, 1]`` in the camera frame and to
``camera_rotation @ that + camera_position`` in the world frame.

Determinism: a frame depends only on its seed. The scene (room, camera, objects,
materials, light) is drawn first from ``np.random.default_rng(seed)`` and does not
depend on the requested size, so one seed gives the same scene at every resolution;
sensor noise comes from ``np.random.default_rng([seed, 1])``. Per-pixel arithmetic uses
only correctly rounded operations (+, -, *, /, sqrt, floor) element-wise (no BLAS, no
vectorised transcendental functions; the few per-scene angles go through Python's
``math``), so the arrays are identical across runs, processes and machines that share
numpy's random streams (stable across releases except for documented changes) and a
correctly rounding C math library; ``tests/test_synthetic.py`` pins golden values.
"""

from __future__ import annotations

import colorsys
import math
import numbers

import numpy as np

CLASS_NAMES: tuple[str, ...] = (
    "floor",
    "wall",
    "ceiling",
    "rug",
    "poster",
    "box",
    "crate",
    "cylinder",
    "sphere",
    "table",
)
NUM_CLASSES: int = len(CLASS_NAMES)
PALETTE: tuple[tuple[int, int, int], ...] = (
    (152, 223, 138), (174, 199, 232), (255, 255, 180), (214, 39, 40), (255, 187, 120), (31, 119, 180),
    (140, 86, 75), (148, 103, 189), (23, 190, 207), (255, 127, 14),
)
"""RGB colour per class of the label images (none black: black is the ignore label's)."""
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

_CLASS = {name: index for index, name in enumerate(CLASS_NAMES)}
_EPS_T = 1e-9
_SPLIT_OFFSETS = {"train": 0, "val": 1, "test": 2}


# ----------------------------------------------------------------------------------
# Public helpers
# ----------------------------------------------------------------------------------


def _check_size(height, width):
    """Validated (height, width) as ints; ValueError naming a bad value."""
    for name, value in (("height", height), ("width", width)):
        if (
            isinstance(value, bool)
            or not isinstance(value, numbers.Integral)
            or value < MIN_SIZE
        ):
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
    height, width = _check_size(height, width)
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


def split_seeds(split: str, count: int, seed: int = 0) -> list[int]:
    """Scene seeds of a split: ``count`` distinct integers, deterministic in ``seed``.

    Seeds are ``3 * (seed * 2**32 + i) + k`` with ``k`` = 0 for "train", 1 for "val"
    and 2 for "test", so splits never share a seed whatever their counts.
    """
    if split not in _SPLIT_OFFSETS:
        raise ValueError(
            f"split must be one of {sorted(_SPLIT_OFFSETS)}, got {split!r}"
        )
    if isinstance(count, bool) or not isinstance(count, numbers.Integral) or count < 0:
        raise ValueError(f"count must be an integer >= 0, got {count!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    base = int(seed) * 2**32
    offset = _SPLIT_OFFSETS[split]
    return [3 * (base + i) + offset for i in range(int(count))]


def render_scene(seed: int, height: int = 480, width: int = 640) -> dict:
    """Render the synthetic RGB-D frame of ``seed`` at ``height x width``.

    Returns a dict:

    * ``rgb`` uint8 (H, W, 3); ``depth`` float32 (H, W) metres, sensor-like, 0 = missing;
      ``depth_true`` float32 (H, W) exact z-depth; ``label`` uint8 (H, W) class ids;
      ``instance`` int32 (H, W) index into ``objects``; ``normals`` float32 (H, W, 3)
      unit surface normals in the world frame, facing the camera.
    * ``intrinsics`` float64 (3, 3) (``default_intrinsics(height, width)``);
      ``camera_position`` float64 (3,) and ``camera_rotation`` float64 (3, 3)
      camera-to-world (columns: camera x, y, z axes in the world frame);
      ``camera_height`` float (m above the floor); ``up_in_camera`` float64 (3,), the
      world up direction in camera coordinates (gravity is its opposite);
      ``camera_yaw`` (radians, heading from +x towards +y), ``camera_pitch`` (radians,
      positive = looking down), ``camera_roll`` (radians, about the optical axis).
    * ``room_size`` float64 (3,) ``(Lx, Ly, Lz)``; ``light_position`` float64 (3,).
    * ``objects``: one dict per instance with ``instance``, ``label``, ``class_name``,
      ``shape`` and its parameters: ``"plane"`` (``axis``, ``offset``: the plane
      ``x[axis] = offset``), ``"rect"`` (decal on ``plane_instance``: ``center``,
      ``axes`` (2, 3), ``half_size`` (2,)), ``"box"`` (``center``, ``half_size``,
      ``yaw`` about z), ``"cylinder"`` (vertical: ``base_center``, ``radius``,
      ``height``), ``"sphere"`` (``center``, ``radius``), ``"table"`` (``parts``: boxes).
      Each also holds its ``material``.
    * ``seed`` int.
    """
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    height, width = _check_size(height, width)
    seed = int(seed)
    scene = _sample_scene(np.random.default_rng(seed))
    intrinsics = default_intrinsics(height, width)
    hits = _cast_rays(scene, intrinsics, height, width)
    noise_rng = np.random.default_rng([seed, 1])
    labels = np.array([obj["label"] for obj in scene["objects"]], dtype=np.uint8)
    rgb = _shade(scene, hits, noise_rng)
    depth = kinect_depth(hits["depth"], noise_rng, hits["cos_incidence"])
    rotation = scene["camera_rotation"]
    normals = np.stack([hits["nx"], hits["ny"], hits["nz"]], axis=-1)
    return {
        "rgb": rgb,
        "depth": depth,
        "depth_true": hits["depth"].astype(np.float32),
        "label": labels[hits["instance"]],
        "instance": hits["instance"],
        "normals": normals.astype(np.float32),
        "intrinsics": intrinsics,
        "camera_position": scene["camera_position"].copy(),
        "camera_rotation": rotation.copy(),
        "camera_height": float(scene["camera_position"][2]),
        "up_in_camera": rotation[2, :].copy(),
        "camera_yaw": scene["camera_yaw"],
        "camera_pitch": scene["camera_pitch"],
        "camera_roll": scene["camera_roll"],
        "room_size": scene["room_size"].copy(),
        "light_position": scene["light_position"].copy(),
        "objects": scene["objects"],
        "seed": seed,
    }


# ----------------------------------------------------------------------------------
# Scene sampling (all random draws of the scene, independent of the image size)
# ----------------------------------------------------------------------------------

# Palettes: (hue range in degrees, saturation range, value range).
_PALETTES = {
    "paint": ((0.0, 360.0), (0.0, 0.15), (0.72, 0.95)),
    "floor_wood": ((20.0, 40.0), (0.35, 0.6), (0.35, 0.6)),
    "floor_tile": ((0.0, 360.0), (0.0, 0.08), (0.4, 0.7)),
    "rug": ((100.0, 150.0), (0.5, 0.8), (0.35, 0.7)),
    "rug_alt": ((270.0, 320.0), (0.5, 0.8), (0.35, 0.7)),
    "warm": ((0.0, 50.0), (0.55, 0.9), (0.55, 0.9)),
    "cool": ((180.0, 240.0), (0.55, 0.9), (0.55, 0.9)),
    "dark_wood": ((18.0, 35.0), (0.4, 0.7), (0.15, 0.32)),
}

# Appearance family of each object class (shared families make RGB ambiguous).
_FAMILY = {"poster": "warm", "box": "warm", "cylinder": "warm",
           "crate": "cool", "sphere": "cool", "table": "dark_wood"}

_FLOOR_OBJECT_CLASSES = ("box", "crate", "cylinder", "sphere", "table")
_FLOOR_OBJECT_PROBS = (0.24, 0.24, 0.2, 0.2, 0.12)


def _color(rng, palette):
    """An RGB colour in [0, 1] drawn uniformly in the palette's HSV box."""
    (h0, h1), (s0, s1), (v0, v1) = _PALETTES[palette]
    hue = (rng.uniform(h0, h1) % 360.0) / 360.0
    return np.array(colorsys.hsv_to_rgb(hue, rng.uniform(s0, s1), rng.uniform(v0, v1)))


def _random_direction(rng, horizontal=False):
    """Uniform unit 3-vector (in the floor plane when ``horizontal``)."""
    while True:
        v = rng.normal(size=3)
        if horizontal:
            v[2] = 0.0
        n = math.sqrt(float(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]))
        if n > 1e-3:
            return v / n


def _pick(rng, options, probs):
    """One of ``options`` drawn with probabilities ``probs`` (one uniform draw)."""
    u, total = rng.random(), 0.0
    for option, prob in zip(options, probs):
        total += prob
        if u < total:
            return option
    return options[-1]


def _material(rng, palette, pattern_probs=(0.4, 0.3, 0.3), horizontal_stripes=False,
              contrast=None):
    """Two colours + a solid texture; ``contrast`` limits how far colour 2 may differ."""
    color = _color(rng, palette)
    if contrast is None:
        color2 = _color(rng, palette)
    else:
        color2 = np.clip(color * rng.uniform(1.0 - contrast, 1.0 + contrast), 0.0, 1.0)
    pattern = _pick(rng, ("plain", "stripes", "checker"), pattern_probs)
    return {
        "color": color,
        "color2": color2,
        "pattern": pattern,
        "frequency": rng.uniform(3.0, 10.0),  # cycles per metre
        "direction": _random_direction(rng, horizontal=horizontal_stripes),
        "phase": rng.uniform(0.0, 1.0, size=3),
    }


def _horizontal_exit(x, y, angle, room):
    """Distance from (x, y) along a horizontal direction to the room's walls."""
    dx, dy = math.cos(angle), math.sin(angle)
    dist = math.inf
    for pos, d, size in ((x, dx, room[0]), (y, dy, room[1])):
        if d > 1e-12:
            dist = min(dist, (size - pos) / d)
        elif d < -1e-12:
            dist = min(dist, -pos / d)
    return dist


def _camera_rotation(yaw, pitch, roll):
    """Camera-to-world rotation: OpenCV camera axes (right, down, forward) as columns."""
    forward = np.array([math.cos(yaw) * math.cos(pitch),
                        math.sin(yaw) * math.cos(pitch),
                        -math.sin(pitch)])
    right = np.array([math.sin(yaw), -math.cos(yaw), 0.0])  # forward x up, normalised
    down = np.cross(forward, right)
    c, s = math.cos(roll), math.sin(roll)
    right, down = c * right + s * down, -s * right + c * down
    return np.stack([right, down, forward], axis=1)


def _sample_camera(rng, room):
    """Camera position (x, y, height), yaw, pitch (> 0 looks down) and roll."""
    height = rng.uniform(1.0, 1.8)
    # Mostly tilted down (hand-held style), sometimes up enough to see the ceiling.
    pitch = math.radians(rng.uniform(5.0, 30.0) if rng.random() < 0.8 else rng.uniform(-12.0, 5.0))
    roll = math.radians(rng.uniform(-4.0, 4.0))
    want = min(2.5, 0.6 * max(room[0], room[1]))
    for _ in range(100):
        x = rng.uniform(0.4, room[0] - 0.4)
        y = rng.uniform(0.4, room[1] - 0.4)
        yaw = rng.uniform(0.0, 2.0 * math.pi)
        if _horizontal_exit(x, y, yaw, room) >= want:
            break
    else:  # face the room centre
        yaw = math.atan2(room[1] / 2.0 - y, room[0] / 2.0 - x)
    return np.array([x, y, height]), yaw, pitch, roll


def _room_objects(rng, room):
    """Floor, ceiling and the four walls (instances 0..5) with their materials."""
    lx, ly, lz = room
    floor_palette = "floor_wood" if rng.random() < 0.6 else "floor_tile"
    if floor_palette == "floor_wood":
        floor_mat = _material(rng, floor_palette, (0.0, 1.0, 0.0), horizontal_stripes=True,
                              contrast=0.25)
    else:
        floor_mat = _material(rng, floor_palette, (0.0, 0.0, 1.0), contrast=0.2)
        floor_mat["frequency"] = rng.uniform(1.5, 3.0)
    wall_mat = _material(rng, "paint", (0.6, 0.4, 0.0), horizontal_stripes=True,
                         contrast=0.08)
    ceiling_mat = _material(rng, "paint", (1.0, 0.0, 0.0), contrast=0.0)
    planes = [
        ("floor", 2, 0.0, floor_mat),
        ("ceiling", 2, lz, ceiling_mat),
        ("wall", 0, 0.0, wall_mat),
        ("wall", 0, lx, wall_mat),
        ("wall", 1, 0.0, wall_mat),
        ("wall", 1, ly, wall_mat),
    ]
    return [
        {"class_name": name, "shape": "plane", "axis": axis, "offset": offset,
         "material": dict(mat, origin=np.zeros(3), yaw=0.0)}
        for name, axis, offset, mat in planes
    ]


def _wall_frame(wall_index, room):
    """Wall instance 2..5 -> (origin on wall, unit along-wall axis, wall length)."""
    lx, ly, _ = room
    axis, offset = ((0, 0.0), (0, lx), (1, 0.0), (1, ly))[wall_index - 2]
    if axis == 0:
        return np.array([offset, 0.0, 0.0]), np.array([0.0, 1.0, 0.0]), ly
    return np.array([0.0, offset, 0.0]), np.array([1.0, 0.0, 0.0]), lx


def _facing_wall(cam, yaw, room):
    """Wall instance hit by the camera's horizontal viewing direction and the hit point."""
    dist = _horizontal_exit(cam[0], cam[1], yaw, room)
    hit = np.array([cam[0] + dist * math.cos(yaw), cam[1] + dist * math.sin(yaw), 0.0])
    gaps = [abs(hit[0]), abs(hit[0] - room[0]), abs(hit[1]), abs(hit[1] - room[1])]
    return 2 + int(np.argmin(gaps)), hit


def _posters(rng, room, cam, yaw):
    """1-4 non-overlapping posters, 70 % of them on the wall the camera faces."""
    facing, hit = _facing_wall(cam, yaw, room)
    placed = []  # (wall, s0, s1, z0, z1)
    posters = []
    for _ in range(int(rng.integers(1, 5))):
        wall = facing if rng.random() < 0.7 else int(rng.integers(2, 6))
        origin, along, length = _wall_frame(wall, room)
        half_w = rng.uniform(0.25, 0.7)
        half_h = rng.uniform(0.25, 0.6)
        z_c = min(rng.uniform(0.8, 1.6) + half_h, room[2] - 0.1 - half_h)
        s_hit = float(sum((hit[k] - origin[k]) * along[k] for k in range(3)))
        s_c = s_hit + rng.uniform(-1.5, 1.5) if wall == facing else rng.uniform(0, length)
        s_c = min(max(s_c, half_w + 0.05), length - half_w - 0.05)
        if s_c - half_w < 0.0 or any(
            w == wall and s_c - half_w < s1 and s_c + half_w > s0 and z_c - half_h < z1
            and z_c + half_h > z0 for w, s0, s1, z0, z1 in placed
        ):
            continue
        placed.append((wall, s_c - half_w, s_c + half_w, z_c - half_h, z_c + half_h))
        center = origin + s_c * along + np.array([0.0, 0.0, z_c])
        material = _material(rng, _FAMILY["poster"])
        posters.append({
            "class_name": "poster", "shape": "rect", "plane_instance": wall,
            "center": center, "axes": np.stack([along, np.array([0.0, 0.0, 1.0])]),
            "half_size": np.array([half_w, half_h]),
            "material": dict(material, origin=center, yaw=0.0),
        })
    return posters


def _in_view_position(rng, cam, yaw, room, radius, min_dist=0.9, max_dist=6.0):
    """A floor point inside the horizontal field of view, clear of the walls."""
    half_fov = math.radians(HORIZONTAL_FOV_DEG / 2.0) + 0.1
    angle = yaw + rng.uniform(-half_fov, half_fov)
    far = min(max_dist, _horizontal_exit(cam[0], cam[1], angle, room) - radius - 0.05)
    dist = rng.uniform(min_dist, max(min_dist, far))
    return np.array([cam[0] + dist * math.cos(angle), cam[1] + dist * math.sin(angle)])


def _rugs(rng, room, cam, yaw):
    """At most one rug (85 % of frames), in view and inside the room."""
    rugs = []
    if rng.random() < 0.85:
        half = np.array([rng.uniform(0.6, 1.5), rng.uniform(0.4, 1.0)])
        rug_yaw = rng.uniform(0.0, math.pi)
        xy = _in_view_position(rng, cam, yaw, room, 0.0, 1.0, 4.0)
        c, s = math.cos(rug_yaw), math.sin(rug_yaw)
        axes = np.array([[c, s, 0.0], [-s, c, 0.0]])
        # Shrink until the rug lies inside the room.
        for _ in range(20):
            corners = [xy + sx * half[0] * axes[0, :2] + sy * half[1] * axes[1, :2]
                       for sx in (-1, 1) for sy in (-1, 1)]
            if all(0.05 <= p[0] <= room[0] - 0.05 and 0.05 <= p[1] <= room[1] - 0.05
                   for p in corners):
                break
            half = half * 0.8
        else:
            return rugs
        palette = "rug" if rng.random() < 0.5 else "rug_alt"
        material = _material(rng, palette, (0.3, 0.4, 0.3))
        center = np.array([xy[0], xy[1], 0.0])
        rugs.append({
            "class_name": "rug", "shape": "rect", "plane_instance": 0, "center": center,
            "axes": axes, "half_size": half,
            "material": dict(material, origin=center, yaw=rug_yaw),
        })
    return rugs


def _box_shape(rng):
    """Box and crate share this sampler: identical shape distributions."""
    return np.array([rng.uniform(0.15, 0.5), rng.uniform(0.15, 0.5),
                     rng.uniform(0.15, 0.6)])


def _floor_object(rng, class_name, xy):
    """Shape of a floor object at ``xy`` (no material yet); returns (object, yaw)."""
    yaw = rng.uniform(0.0, math.pi)
    if class_name in ("box", "crate"):
        half = _box_shape(rng)
        obj = {"shape": "box", "center": np.array([xy[0], xy[1], half[2]]),
               "half_size": half, "yaw": yaw}
    elif class_name == "cylinder":
        radius, height = rng.uniform(0.15, 0.45), rng.uniform(0.3, 1.2)
        obj = {"shape": "cylinder", "base_center": np.array([xy[0], xy[1], 0.0]),
               "radius": radius, "height": height}
    elif class_name == "sphere":
        radius = rng.uniform(0.15, 0.45)
        obj = {"shape": "sphere", "center": np.array([xy[0], xy[1], radius]),
               "radius": radius}
    else:  # table: a top slab on four square legs
        half = np.array([rng.uniform(0.45, 0.8), rng.uniform(0.3, 0.5)])
        top = rng.uniform(0.65, 0.8)
        c, s = math.cos(yaw), math.sin(yaw)
        parts = [{"center": np.array([xy[0], xy[1], top - 0.02]),
                  "half_size": np.array([half[0], half[1], 0.02]), "yaw": yaw}]
        for sx in (-1, 1):
            for sy in (-1, 1):
                lx, ly = sx * (half[0] - 0.08), sy * (half[1] - 0.08)
                parts.append({"center": np.array([xy[0] + c * lx - s * ly,
                                                  xy[1] + s * lx + c * ly,
                                                  (top - 0.04) / 2.0]),
                              "half_size": np.array([0.025, 0.025, (top - 0.04) / 2.0]),
                              "yaw": yaw})
        obj = {"shape": "table", "parts": parts}
    obj["class_name"] = class_name
    return obj, yaw


def _planar_distance(ax, ay, bx, by):
    """Euclidean distance in the floor plane (sqrt only: reproducible everywhere)."""
    return math.sqrt((ax - bx) * (ax - bx) + (ay - by) * (ay - by))


def _footprint_radius(obj):
    """Radius of a vertical cylinder around the object, used to keep objects apart."""
    box = obj["parts"][0] if obj["shape"] == "table" else obj
    if obj["shape"] in ("box", "table"):
        return _planar_distance(box["half_size"][0], box["half_size"][1], 0.0, 0.0)
    return float(obj["radius"])


def _floor_objects(rng, room, cam, yaw):
    """4-8 objects (fewer if the room is crowded), 85 % of placements in view; their
    footprint discs do not overlap each other, the walls or the camera."""
    objects, discs = [], []
    for _ in range(int(rng.integers(4, 9))):
        class_name = _pick(rng, _FLOOR_OBJECT_CLASSES, _FLOOR_OBJECT_PROBS)
        for _attempt in range(30):
            in_view = rng.random() < 0.85
            if in_view:
                xy = _in_view_position(rng, cam, yaw, room, 0.5)
            else:
                xy = rng.uniform([0.0, 0.0], room[:2])
            obj, obj_yaw = _floor_object(rng, class_name, xy)
            r = _footprint_radius(obj)
            clear = (
                r + 0.02 <= xy[0] <= room[0] - r - 0.02
                and r + 0.02 <= xy[1] <= room[1] - r - 0.02
                and _planar_distance(xy[0], xy[1], cam[0], cam[1]) >= r + 0.45
                and all(_planar_distance(xy[0], xy[1], x, y) >= r + rr + 0.05
                        for x, y, rr in discs)
            )
            if clear:
                discs.append((xy[0], xy[1], r))
                material = _material(rng, _FAMILY[class_name])
                obj["material"] = dict(material, origin=np.array([xy[0], xy[1], 0.0]),
                                       yaw=obj_yaw)
                objects.append(obj)
                break
    return objects


def _sample_scene(rng):
    """Every random choice of a frame: room, camera, objects, materials, light."""
    room = np.array([rng.uniform(3.5, 8.0), rng.uniform(3.5, 8.0), rng.uniform(2.5, 3.2)])
    cam, yaw, pitch, roll = _sample_camera(rng, room)
    objects = _room_objects(rng, room)
    objects += _rugs(rng, room, cam, yaw)
    objects += _posters(rng, room, cam, yaw)
    objects += _floor_objects(rng, room, cam, yaw)
    for index, obj in enumerate(objects):
        obj["instance"] = index
        obj["label"] = _CLASS[obj["class_name"]]
    light = np.array([rng.uniform(0.2, 0.8) * room[0], rng.uniform(0.2, 0.8) * room[1],
                      room[2] - 0.4])
    return {
        "room_size": room,
        "camera_position": cam,
        "camera_yaw": yaw,
        "camera_pitch": pitch,
        "camera_roll": roll,
        "camera_rotation": _camera_rotation(yaw, pitch, roll),
        "objects": objects,
        "light_position": light,
        "ambient": rng.uniform(0.3, 0.5),
        "exposure": rng.uniform(0.9, 1.15),
    }


# ----------------------------------------------------------------------------------
# Ray casting: every ray is O + t D with D = R K^-1 [u, v, 1], so t is the z-depth.
# ----------------------------------------------------------------------------------


def _box_local(box, x, y, z):
    """World coordinates (scalars or arrays) -> box-local (rotated by -yaw about z)."""
    c, s = math.cos(box["yaw"]), math.sin(box["yaw"])
    rx, ry = x - box["center"][0], y - box["center"][1]
    return c * rx + s * ry, -s * rx + c * ry, z - box["center"][2]


def _intersect_box(o, d, box):
    """Ray/oriented-box slab test: entry t, inf where missed (camera is outside)."""
    c, s = math.cos(box["yaw"]), math.sin(box["yaw"])
    local_o = _box_local(box, o[0], o[1], o[2])
    local_d = (c * d[0] + s * d[1], -s * d[0] + c * d[1], d[2])
    t_near = t_far = None
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for lo, ld, h in zip(local_o, local_d, box["half_size"]):
            t1, t2 = (-h - lo) / ld, (h - lo) / ld
            near, far = np.minimum(t1, t2), np.maximum(t1, t2)
            t_near = near if t_near is None else np.maximum(t_near, near)
            t_far = far if t_far is None else np.minimum(t_far, far)
        return np.where((t_near <= t_far) & (t_near > _EPS_T), t_near, np.inf)


def _box_normal(box, x, y, z):
    """Outward normal at points on the box surface: the face with largest |q_k| / h_k."""
    q = _box_local(box, x, y, z)
    ratio = [np.abs(qk) / hk for qk, hk in zip(q, box["half_size"])]
    face = np.where(ratio[0] >= np.maximum(ratio[1], ratio[2]), 0,
                    np.where(ratio[1] >= ratio[2], 1, 2))
    local = [np.where(face == k, np.sign(q[k]), 0.0) for k in range(3)]
    c, s = math.cos(box["yaw"]), math.sin(box["yaw"])
    return c * local[0] - s * local[1], s * local[0] + c * local[1], local[2]


def _intersect_cylinder(o, d, cyl):
    """Ray/vertical finite cylinder (side and both caps): entry t, inf where missed."""
    bx, by, z0 = cyl["base_center"]
    r, h = cyl["radius"], cyl["height"]
    rx, ry = o[0] - bx, o[1] - by
    a = d[0] * d[0] + d[1] * d[1]
    b = rx * d[0] + ry * d[1]
    c = rx * rx + ry * ry - r * r
    disc = b * b - a * c
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        t_side = (-b - np.sqrt(np.maximum(disc, 0.0))) / a
        z_side = o[2] + t_side * d[2]
        side_ok = (disc >= 0.0) & (t_side > _EPS_T) & (z_side >= z0) & (z_side <= z0 + h)
        t = np.where(side_ok, t_side, np.inf)
        for z_cap in (z0 + h, z0):
            t_cap = (z_cap - o[2]) / d[2]
            px, py = rx + t_cap * d[0], ry + t_cap * d[1]
            ok = (t_cap > _EPS_T) & (px * px + py * py <= r * r)
            t = np.minimum(t, np.where(ok, t_cap, np.inf))
    return t


def _cylinder_normal(cyl, x, y, z):
    """Outward normal: radial on the side, +-z on a cap (whichever surface is nearer)."""
    bx, by, z0 = cyl["base_center"]
    r, h = cyl["radius"], cyl["height"]
    rx, ry = x - bx, y - by
    rho = np.sqrt(rx * rx + ry * ry)
    to_top, to_bottom = np.abs(z - (z0 + h)), np.abs(z - z0)
    side = np.abs(rho - r) < np.minimum(to_top, to_bottom)
    cap = np.where(to_top <= to_bottom, 1.0, -1.0)
    return np.where(side, rx / r, 0.0), np.where(side, ry / r, 0.0), np.where(side, 0.0, cap)


def _intersect_sphere(o, d, sphere):
    """Ray/sphere: entry t, inf where missed."""
    rx, ry, rz = (o[k] - sphere["center"][k] for k in range(3))
    r = sphere["radius"]
    a = d[0] * d[0] + d[1] * d[1] + d[2] * d[2]
    b = rx * d[0] + ry * d[1] + rz * d[2]
    c = rx * rx + ry * ry + rz * rz - r * r
    disc = b * b - a * c
    t = (-b - np.sqrt(np.maximum(disc, 0.0))) / a
    return np.where((disc >= 0.0) & (t > _EPS_T), t, np.inf)


def _sphere_normal(sphere, x, y, z):
    """Outward normal (p - c) / r."""
    cx, cy, cz = sphere["center"]
    r = sphere["radius"]
    return (x - cx) / r, (y - cy) / r, (z - cz) / r


# Solid primitives: kind -> (intersection, normal at surface points).
_PRIMITIVES = {
    "box": (_intersect_box, _box_normal),
    "cylinder": (_intersect_cylinder, _cylinder_normal),
    "sphere": (_intersect_sphere, _sphere_normal),
}


def _primitives(obj):
    """The solid primitives an object is made of: (kind, params) pairs."""
    if obj["shape"] == "table":
        return [("box", part) for part in obj["parts"]]
    if obj["shape"] in _PRIMITIVES:
        return [(obj["shape"], obj)]
    return []


def _bounding_corners(kind, prim):
    """The 8 corners of a world-axis-aligned box around one primitive."""
    if kind == "box":
        c, s = math.cos(prim["yaw"]), math.sin(prim["yaw"])
        hx, hy, hz = prim["half_size"]
        ex, ey = abs(c) * hx + abs(s) * hy, abs(s) * hx + abs(c) * hy
        lo = prim["center"] - np.array([ex, ey, hz])
        hi = prim["center"] + np.array([ex, ey, hz])
    elif kind == "cylinder":
        r = prim["radius"]
        lo = prim["base_center"] - np.array([r, r, 0.0])
        hi = prim["base_center"] + np.array([r, r, prim["height"]])
    else:
        lo, hi = prim["center"] - prim["radius"], prim["center"] + prim["radius"]
    return np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1])
                     for z in (lo[2], hi[2])])


def _screen_window(corners, cam, rotation, intrinsics, height, width):
    """Pixel rectangle (r0, r1, c0, c1) containing the projection of 3-D ``corners``."""
    corners = (corners - cam) @ rotation  # camera coordinates
    z = corners[:, 2]
    if np.all(z <= 1e-6):
        return None
    if np.any(z <= 1e-6):
        return 0, height, 0, width
    u = intrinsics[0, 0] * corners[:, 0] / z + intrinsics[0, 2]
    v = intrinsics[1, 1] * corners[:, 1] / z + intrinsics[1, 2]
    c0, c1 = max(0, int(math.floor(u.min())) - 1), min(width, int(math.ceil(u.max())) + 2)
    r0, r1 = max(0, int(math.floor(v.min())) - 1), min(height, int(math.ceil(v.max())) + 2)
    if c0 >= c1 or r0 >= r1:
        return None
    return r0, r1, c0, c1


def _surface_normal(obj, objects):
    """Inward unit normal of a room plane or of the plane a decal lies on; 0 for solids."""
    if obj["shape"] == "rect":
        obj = objects[obj["plane_instance"]]
    normal = np.zeros(3)
    if obj["shape"] == "plane":
        normal[obj["axis"]] = 1.0 if obj["offset"] == 0.0 else -1.0
    return normal


def _cast_rays(scene, intrinsics, height, width):
    """First hit of every pixel's ray: z-depth, instance, normal, point, incidence."""
    cam = scene["camera_position"]
    rot = scene["camera_rotation"]
    room = scene["room_size"]
    xs = (np.arange(width, dtype=np.float64) - intrinsics[0, 2]) / intrinsics[0, 0]
    ys = (np.arange(height, dtype=np.float64) - intrinsics[1, 2]) / intrinsics[1, 1]
    xs, ys = xs[None, :], ys[:, None]
    d = tuple(rot[k, 0] * xs + rot[k, 1] * ys + rot[k, 2] for k in range(3))

    # Room: the ray leaves the box through the nearest of its six planes.
    t_axes = []
    for axis in range(3):
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (np.where(d[axis] > 0.0, room[axis], 0.0) - cam[axis]) / d[axis]
        t_axes.append(np.where(d[axis] == 0.0, np.inf, t))
    t0, t1, t2 = t_axes
    exit_axis = np.where(t0 <= t1, np.where(t0 <= t2, 0, 2), np.where(t1 <= t2, 1, 2))
    depth = np.minimum(np.minimum(t0, t1), t2)
    positive = np.where(exit_axis == 0, d[0] > 0.0,
                        np.where(exit_axis == 1, d[1] > 0.0, d[2] > 0.0))
    plane_instance = np.array([[2, 3], [4, 5], [0, 1]], dtype=np.int32)
    instance = plane_instance[exit_axis, positive.astype(np.intp)]

    # Decals: relabel room-plane hits that fall inside a rug or poster rectangle.
    for obj in scene["objects"]:
        if obj["shape"] != "rect":
            continue
        on_plane = instance == obj["plane_instance"]
        t = depth[on_plane]
        inside = np.ones(t.shape, dtype=bool)
        for axis_vec, half in zip(obj["axes"], obj["half_size"]):
            coord = sum(axis_vec[k] * (cam[k] - obj["center"][k] + t * d[k][on_plane])
                        for k in range(3))
            inside &= np.abs(coord) <= half
        sub = instance[on_plane]
        sub[inside] = obj["instance"]
        instance[on_plane] = sub
    plane_normals = np.array([_surface_normal(obj, scene["objects"])
                              for obj in scene["objects"]])
    normal = [np.take(plane_normals[:, k], instance) for k in range(3)]

    # Solids, each primitive tested only inside its projected bounding rectangle.
    for obj in scene["objects"]:
        for kind, prim in _primitives(obj):
            window = _screen_window(_bounding_corners(kind, prim), cam, rot, intrinsics,
                                    height, width)
            if window is None:
                continue
            r0, r1, c0, c1 = window
            intersect, normal_at = _PRIMITIVES[kind]
            t = intersect(cam, tuple(dk[r0:r1, c0:c1] for dk in d), prim)
            closer = t < depth[r0:r1, c0:c1]
            if not closer.any():
                continue
            t = t[closer]
            depth[r0:r1, c0:c1][closer] = t
            instance[r0:r1, c0:c1][closer] = obj["instance"]
            hit = [cam[k] + t * d[k][r0:r1, c0:c1][closer] for k in range(3)]
            for k, nk in enumerate(normal_at(prim, *hit)):
                normal[k][r0:r1, c0:c1][closer] = nk

    ray_norm = np.sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2])
    cos_incidence = -(normal[0] * d[0] + normal[1] * d[1] + normal[2] * d[2]) / ray_norm
    points = [cam[k] + depth * d[k] for k in range(3)]
    return {"depth": depth, "instance": instance, "nx": normal[0], "ny": normal[1],
            "nz": normal[2], "points": points, "cos_incidence": cos_incidence}


# ----------------------------------------------------------------------------------
# Appearance and sensor
# ----------------------------------------------------------------------------------


def _texture_value(material, points):
    """0/1 solid texture of ``material`` at world points (3, N): which colour to use.

    The point is moved into the object's frame (origin, rotation by ``-yaw`` about z);
    stripes: ``floor(f * p . direction + phase) mod 2``; checker: parity of
    ``sum_k floor(f * p_k + phase_k)``.
    """
    if material["pattern"] == "plain":
        return np.zeros(points.shape[1], dtype=bool)
    c, s = math.cos(material["yaw"]), math.sin(material["yaw"])
    rel = points - material["origin"][:, None]
    local = (c * rel[0] + s * rel[1], -s * rel[0] + c * rel[1], rel[2])
    freq, phase = material["frequency"], material["phase"]
    if material["pattern"] == "stripes":
        along = sum(material["direction"][k] * local[k] for k in range(3))
        return np.floor(freq * along + phase[0]) % 2.0 > 0.5
    return sum(np.floor(freq * local[k] + phase[k]) for k in range(3)) % 2.0 > 0.5


def _albedo(objects, instance, points):
    """Per-pixel surface colour (H, W, 3) in [0, 1] from each instance's material."""
    flat = instance.ravel()
    flat_points = np.stack([p.ravel() for p in points])
    albedo = np.empty((flat.size, 3), dtype=np.float32)
    for obj in objects:
        idx = np.flatnonzero(flat == obj["instance"])
        if idx.size == 0:
            continue
        material = obj["material"]
        second = _texture_value(material, flat_points[:, idx])
        albedo[idx] = np.where(second[:, None], material["color2"], material["color"])
    return albedo.reshape(instance.shape + (3,))


def _shade(scene, hits, rng):
    """Lambertian shading from a point light plus ambient, then sensor noise."""
    albedo = _albedo(scene["objects"], hits["instance"], hits["points"])
    light = scene["light_position"]
    to_light = [light[k] - hits["points"][k] for k in range(3)]
    dist2 = to_light[0] * to_light[0] + to_light[1] * to_light[1] + to_light[2] * to_light[2]
    n_dot_l = (hits["nx"] * to_light[0] + hits["ny"] * to_light[1]
               + hits["nz"] * to_light[2]) / np.sqrt(dist2)
    ambient = scene["ambient"]
    diffuse = np.maximum(n_dot_l, 0.0) / (1.0 + 0.05 * dist2)
    gain = (255.0 * scene["exposure"]) * (ambient + (1.0 - ambient) * 1.6 * diffuse)
    rgb = albedo * gain.astype(np.float32)[..., None]
    rgb += RGB_NOISE_SIGMA * rng.standard_normal(rgb.shape, dtype=np.float32)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


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
