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

Public API: ``CLASS_NAMES``, ``NUM_CLASSES``, ``PALETTE``, ``NATIVE_SIZE``, ``default_intrinsics``,
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

from rfbnet_tf.datasets.synthetic.dataset import DATASET
from rfbnet_tf.datasets.synthetic.render import render_scene
from rfbnet_tf.datasets.synthetic.scene import CLASS_NAMES, NUM_CLASSES, PALETTE, split_seeds
from rfbnet_tf.datasets.synthetic.sensor import (
    DROPOUT_BLOBS_MEAN,
    DROPOUT_PROBABILITY,
    EDGE_RELATIVE_JUMP,
    GRAZING_COS,
    HORIZONTAL_FOV_DEG,
    MAX_RANGE_M,
    MIN_RANGE_M,
    MIN_SIZE,
    NATIVE_SIZE,
    NOISE_SIGMA_BASE_M,
    NOISE_SIGMA_QUAD,
    NOISE_TRUNCATION,
    RGB_NOISE_SIGMA,
    default_intrinsics,
    depth_noise_sigma,
    kinect_depth,
)

__all__ = [
    "DATASET",
    "CLASS_NAMES",
    "NUM_CLASSES",
    "PALETTE",
    "NATIVE_SIZE",
    "MIN_SIZE",
    "default_intrinsics",
    "render_scene",
    "split_seeds",
    "kinect_depth",
    "depth_noise_sigma",
    "HORIZONTAL_FOV_DEG",
    "MIN_RANGE_M",
    "MAX_RANGE_M",
    "NOISE_SIGMA_BASE_M",
    "NOISE_SIGMA_QUAD",
    "NOISE_TRUNCATION",
    "GRAZING_COS",
    "EDGE_RELATIVE_JUMP",
    "DROPOUT_PROBABILITY",
    "DROPOUT_BLOBS_MEAN",
    "RGB_NOISE_SIGMA",
]
