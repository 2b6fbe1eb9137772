"""``DataConfig``: the records a run trains and validates on, their size, and the augmentations (paper Sec. IV-B),
with the augmentation settings embedded as :class:`rfbnet_tf.datasets.augment.AugmentConfig`."""

from __future__ import annotations

import dataclasses

from rfbnet_tf.configs import checks
from rfbnet_tf.configs.fields import option, validate
from rfbnet_tf.datasets.augment import AugmentConfig


def augment_setting(value) -> AugmentConfig:
    """``--augment``: true → the paper's augmentations (``AugmentConfig()``), false → none; an ``AugmentConfig``
    or its dict (``flags.json``) as given."""
    if isinstance(value, AugmentConfig):
        return value
    if isinstance(value, dict):
        try:
            return AugmentConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in value.items()})
        except TypeError as error:
            raise ValueError(f"not AugmentConfig settings ({error})") from None
    enabled = checks.boolean()(value)
    return AugmentConfig() if enabled else AugmentConfig.disabled()


def augment_flag_value(augment: AugmentConfig):
    """The ``--augment`` value of ``augment``: True / False for the two presets, else its dict."""
    if augment == AugmentConfig():
        return True
    if augment == AugmentConfig.disabled():
        return False
    return augment_dict(augment)


def augment_dict(augment: AugmentConfig) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(augment).items()}


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the frames come from and how they are sized and augmented."""

    record_dir: str | None = option(None, "Directory of the TFRecord shards and dataset_info.json "
                                    "(python -m rfbnet_tf.prepare_data). Required.", checks.string(),
                                    kind="string")
    train_split: str = option("train", "Split to train on.", checks.string(optional=False), kind="string")
    val_split: str = option("val", "Split to validate on (when --val_every > 0).", checks.string(optional=False),
                            kind="string")
    image_size: list | None = option(None, "height,width to resize every frame to (paper: ScanNet 480,640; "
                                     "Cityscapes 512,1024). Default: the stored size.", checks.size, kind="list")
    crop_size: list | None = option(None, "height,width of the random training crop (paper: Cityscapes 384,768). "
                                    "Default: no crop.", checks.size, kind="list")
    augment: AugmentConfig = option(True, "Training augmentations of the paper (flip, scale, rotation, colour "
                                    "jitter, noise; rfbnet_tf.datasets.augment.AugmentConfig defaults). False: none "
                                    "(crop only).", augment_setting, kind="bool")
    shuffle_buffer: int = option(256, "Training record shuffle: > 1 permutes the whole train split anew each "
                                 "epoch (seeded by --seed and the epoch; no buffer is held, so any value > 1 "
                                 "gives the same order); 0 or 1: shard order.", checks.int_at_least(0), kind="int")
    create_synthetic: bool = option(False, "Generate the synthetic dataset in --record_dir first if it has no "
                                    "dataset_info.json.", checks.boolean(), kind="bool")
    synthetic_train: int = option(200, "--create_synthetic: training frames.", checks.int_at_least(1), kind="int")
    synthetic_val: int = option(50, "--create_synthetic: validation frames.", checks.int_at_least(1), kind="int")
    synthetic_size: list = option(["120", "160"], "--create_synthetic: frame height,width.", checks.size,
                                  kind="list")
    synthetic_workers: int | None = option(None, "--create_synthetic: worker processes (default: CPU count).",
                                           checks.int_at_least(1, optional=True), kind="int")

    def __post_init__(self):
        validate(self)
        check_crop(self.crop_size, self.image_size)


def check_crop(crop_size, image_size):
    """``ValueError`` when the crop is larger than the image size (both checked, None = unset)."""
    if crop_size is not None and image_size is not None and any(c > i for c, i in zip(crop_size, image_size)):
        raise ValueError(f"--crop_size={crop_size} is larger than --image_size={image_size}")
