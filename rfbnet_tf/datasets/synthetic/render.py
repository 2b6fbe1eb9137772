"""``render_scene``: one synthetic RGB-D frame from its seed (scene sampling, ray casting, shading, sensor)."""

from __future__ import annotations

import numpy as np

from rfbnet_tf.datasets.synthetic.ray_casting import cast_rays
from rfbnet_tf.datasets.synthetic.scene import sample_scene
from rfbnet_tf.datasets.synthetic.sensor import check_size, default_intrinsics, kinect_depth
from rfbnet_tf.datasets.synthetic.shading import shade
from rfbnet_tf.utils.checks import int_at_least


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
    int_at_least("seed", seed, 0)
    height, width = check_size(height, width)
    seed = int(seed)
    scene = sample_scene(np.random.default_rng(seed))
    intrinsics = default_intrinsics(height, width)
    hits = cast_rays(scene, intrinsics, height, width)
    noise_rng = np.random.default_rng([seed, 1])
    labels = np.array([obj["label"] for obj in scene["objects"]], dtype=np.uint8)
    rgb = shade(scene, hits, noise_rng)
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

