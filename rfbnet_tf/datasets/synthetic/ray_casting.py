"""Ray casting of the synthetic dataset: every ray is O + t D with D = R K^-1 [u, v, 1], so t is the z-depth.

:func:`cast_rays` finds the first hit of every pixel's ray: the room box, the decals lying in its planes,
then the solid primitives (boxes, vertical cylinders, spheres), each tested only inside its projected
bounding rectangle.
"""

from __future__ import annotations

import math

import numpy as np

_EPS_T = 1e-9


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


def cast_rays(scene, intrinsics, height, width):
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

