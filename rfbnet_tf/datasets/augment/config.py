"""Augmentation settings: :class:`AugmentConfig` (paper Sec. IV-B ranges) and the value checks it shares
with the ops."""

from __future__ import annotations

import dataclasses
import math

from rfbnet_tf.utils import checks


def is_finite_real(value) -> bool:
    """Whether ``value`` is a finite real number (not a bool)."""
    return checks.is_real(value) and math.isfinite(value)


def check_range(name, value, low, high):
    """``float(value)`` when it is a real number in [``low``, ``high``] (finite: an infinite ``high`` is open)."""
    return float(checks.number_in(name, value, low, high, high_open=math.isinf(high)))


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """Augmentation settings; defaults are the paper-style training augmentations.

    Each op is off at its neutral value (``flip=0``, ``scale_range=None``, ``rotation_degrees=0``,
    ``crop_size=None``, jitter/noise 0); :meth:`disabled` turns everything off.

    Attributes:
      flip: probability of a horizontal flip, in [0, 1].
      scale_range: ``(low, high)``, 0 < low <= high: the image is scaled by s ~ U(low, high),
        same factor on both axes; ``None`` = no scaling.
      rotation_degrees: angle ~ U(-r, r) degrees, counter-clockwise as displayed, about the
        image centre; in [0, 180].
      crop_size: ``(height, width)`` of the random crop taken after scaling/rotation; where the
        image is smaller the window extends past it (random placement) and the outside is padded
        (images 0, labels the ignore label).  ``None`` = a window of the input's own size, so the output
        always has the input's shape (with scaling on this is a random zoom).
      brightness: max additive brightness change, in 0..255 units (RGB only).
      contrast: contrast factor ~ U(1 - c, 1 + c), c in [0, 1] (RGB only).
      saturation: saturation factor ~ U(1 - s, 1 + s), s in [0, 1] (RGB only).
      hue: hue shift ~ U(-h, h) in turns of the colour wheel, h in [0, 0.5] (RGB only).
      rgb_noise_std: std of additive Gaussian noise on ``"rgb"``, 0..255 units.
      hha_noise_std: std of additive Gaussian noise on ``"hha"``, 0..255 units.
      depth_noise_std: std of additive Gaussian noise on ``"depth"`` (completed depth), in
        metres; pixels with depth 0 (missing / out of image) stay 0.  ``"depth_raw"`` and
        labels never get noise.
    """

    flip: float = 0.5
    scale_range: tuple[float, float] | None = (0.5, 2.0)
    rotation_degrees: float = 13.0
    crop_size: tuple[int, int] | None = None
    brightness: float = 40.0
    contrast: float = 0.5
    saturation: float = 0.3
    hue: float = 0.05
    rgb_noise_std: float = 3.0
    hha_noise_std: float = 3.0
    depth_noise_std: float = 0.01

    def __post_init__(self):
        check_range("flip", self.flip, 0.0, 1.0)
        if self.scale_range is not None:
            pair = self.scale_range
            ok = (
                isinstance(pair, (tuple, list))
                and len(pair) == 2
                and all(is_finite_real(v) and v > 0 for v in pair)
                and pair[0] <= pair[1]
            )
            if not ok:
                raise ValueError(
                    f"scale_range must be None or (low, high) with 0 < low <= high, got {pair!r}"
                )
            object.__setattr__(self, "scale_range", (float(pair[0]), float(pair[1])))
        check_range("rotation_degrees", self.rotation_degrees, 0.0, 180.0)
        if self.crop_size is not None:
            object.__setattr__(self, "crop_size", checks.size_hw("crop_size", self.crop_size))
        check_range("brightness", self.brightness, 0.0, 255.0)
        check_range("contrast", self.contrast, 0.0, 1.0)
        check_range("saturation", self.saturation, 0.0, 1.0)
        check_range("hue", self.hue, 0.0, 0.5)
        for name in ("rgb_noise_std", "hha_noise_std", "depth_noise_std"):
            check_range(name, getattr(self, name), 0.0, float("inf"))

    @classmethod
    def disabled(cls, **overrides) -> "AugmentConfig":
        """A config with every op off, then ``overrides`` applied (e.g. ``flip=1.0``)."""
        off = dict(
            flip=0.0, scale_range=None, rotation_degrees=0.0, crop_size=None, brightness=0.0,
            contrast=0.0, saturation=0.0, hue=0.0, rgb_noise_std=0.0, hha_noise_std=0.0,
            depth_noise_std=0.0,
        )
        off.update(overrides)
        return cls(**off)
