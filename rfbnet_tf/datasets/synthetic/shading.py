"""Appearance of the synthetic dataset: solid textures, per-pixel albedo and Lambertian shading from one
point light plus ambient, with RGB sensor noise.
"""

from __future__ import annotations

import math

import numpy as np

from rfbnet_tf.datasets.synthetic.sensor import RGB_NOISE_SIGMA


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


def shade(scene, hits, rng):
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

