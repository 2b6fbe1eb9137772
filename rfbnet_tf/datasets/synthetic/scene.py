"""Scene sampling of the synthetic dataset: every random draw of a frame (room, camera, objects, materials,
light), independent of the image size; the classes; the scene seeds of a split.

The scene design is described in the :mod:`rfbnet_tf.datasets.synthetic` docstring.
"""

from __future__ import annotations

import colorsys
import math

import numpy as np

from rfbnet_tf.datasets.synthetic.sensor import HORIZONTAL_FOV_DEG
from rfbnet_tf.utils.checks import int_at_least


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

_CLASS = {name: index for index, name in enumerate(CLASS_NAMES)}
_SPLIT_OFFSETS = {"train": 0, "val": 1, "test": 2}


def split_seeds(split: str, count: int, seed: int = 0) -> list[int]:
    """Scene seeds of a split: ``count`` distinct integers, deterministic in ``seed``.

    Seeds are ``3 * (seed * 2**32 + i) + k`` with ``k`` = 0 for "train", 1 for "val"
    and 2 for "test", so splits never share a seed whatever their counts.
    """
    if split not in _SPLIT_OFFSETS:
        raise ValueError(
            f"split must be one of {sorted(_SPLIT_OFFSETS)}, got {split!r}"
        )
    int_at_least("count", count, 0)
    int_at_least("seed", seed, 0)
    base = int(seed) * 2**32
    offset = _SPLIT_OFFSETS[split]
    return [3 * (base + i) + offset for i in range(int(count))]



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


def sample_scene(rng):
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

