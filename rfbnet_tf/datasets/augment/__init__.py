"""Training augmentations of RFBNet (paper Sec. IV-B) for RGB-D segmentation examples.

The paper lists "flipping, scaling, rotation, cropping, color jittering, and Gaussian noise"
without values.  RFBNet follows the training procedure of AdapNet++/SSMA (its ref. [12]: Valada
et al., IJCV 2019, arXiv:1808.03833), whose augmentations are rotation −13°..13°, scaling
0.5..2.0, brightness −40..40, contrast 0.5..1.5 and flipping (plus skewing, vignetting and
cropping 0.8..0.9, not used here); :class:`AugmentConfig` defaults to those ranges and picks
mild saturation/hue jitter and noise levels where neither paper gives values.

An *example* is a dict of spatial tensors sharing one height and width:

* image keys :data:`IMAGE_KEYS` (``"rgb"``, ``"hha"`` uint8/float 0..255; ``"depth"``,
  ``"depth_raw"`` float metres), shape (H, W, C) with a static C;
* label keys :data:`LABEL_KEYS` (``"label"``, uint8/uint16/int32 train ids), shape (H, W, 1).

Other keys (``"intrinsics"``, ``"name"``) pass through unchanged: geometric ops do *not* update
the camera matrix (HHA is precomputed, nothing downstream reads it).

Conventions shared by every op:

* **One draw per example.** Each random parameter (flip, scale, angle, crop window, jitter
  factors) is drawn once and applied to every spatial key, so RGB, depth and label stay aligned.
* **Resampling.** Images bilinear, labels nearest-neighbour (labels never take values that are
  not in the input).  Geometric ops return images as float32 (bilinear values are not integers);
  labels keep their dtype.
* **Out-of-image regions** (zoom-out, rotation corners, padding for a crop larger than the
  image) are :data:`IMAGE_FILL` = 0 in images and the ignore label in labels, :data:`LABEL_FILL` = 255 (uint8 and
  int32 labels) or :data:`LABEL_FILL_16` = 65535 (uint16 labels: records of more than 255 classes, where 255 is a
  class), so the loss ignores them; a pixel is outside when its nearest source pixel is, for images and
  labels alike.
* **Pixel coordinates** are pixel centres (half-pixel convention of ``tf.image.resize``): a scale
  by ``s`` maps output x to input ``(x + 0.5) / s - 0.5``.
* **Determinism.** Every op is a stateless function of ``seed`` (a Python int or a shape-[2]
  integer tensor).  Each op folds its own tag into the seed, so the ops draw independent values
  from one per-example seed, and :func:`augment` with one op enabled equals that op called alone
  with the same seed.  Works eagerly and inside ``tf.data.Dataset.map``.

:func:`augment` composes flip → scale → rotation → crop into ONE affine map and resamples each
spatial key once, directly at the crop size (cheaper than resizing to up to 2× and rotating the
large image, and no double interpolation), with ``tf.raw_ops.ImageProjectiveTransformV3`` (no
tensorflow-addons; pure graph, no Python in the pipeline).  Colour jitter (RGB only) and Gaussian noise
follow.

Speed: the per-pixel work runs in fused XLA kernels of :mod:`rfbnet_tf.datasets.pixel_kernels`
(the warp itself when input and output sizes are static, masking, the colour map, noise
addition) and the Gaussian noise is drawn by ``pixel_kernels.stateless_normal`` (the values of
``tf.random.stateless_normal``, ~1.8× cheaper).  Outputs equal the plain-op formulation up to
float rounding; at 640×480 the training augmentations cost ~45 instead of ~85 CPU ms/example.
"""

from __future__ import annotations

from rfbnet_tf.datasets.augment.compose import augment
from rfbnet_tf.datasets.augment.config import AugmentConfig
from rfbnet_tf.datasets.augment.example import (IMAGE_FILL, IMAGE_KEYS, LABEL_FILL, LABEL_FILL_16, LABEL_KEYS, as_seed,
                                                label_fill, spatial_size)
from rfbnet_tf.datasets.augment.geometry import random_crop, random_flip, random_rotation, random_scale, resize, rotate
from rfbnet_tf.datasets.augment.photometric import color_jitter, gaussian_noise

__all__ = [
    "AugmentConfig",
    "IMAGE_FILL",
    "IMAGE_KEYS",
    "LABEL_FILL",
    "LABEL_FILL_16",
    "LABEL_KEYS",
    "as_seed",
    "augment",
    "color_jitter",
    "gaussian_noise",
    "label_fill",
    "random_crop",
    "random_flip",
    "random_rotation",
    "random_scale",
    "resize",
    "rotate",
    "spatial_size",
]
