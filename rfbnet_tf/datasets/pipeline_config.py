"""``PipelineConfig``: what :func:`rfbnet_tf.datasets.pipeline.make_dataset` builds (batch size, sizes, training
stream, augmentation), each value checked here, once, with the defaults that depend on ``training`` resolved."""

from __future__ import annotations

import dataclasses

import tensorflow as tf

from rfbnet_tf.datasets import augment as augment_lib
from rfbnet_tf.utils import checks
from rfbnet_tf.utils.checks import int_at_least, positive_int

DEPTH_INPUTS = ("hha", "depth")
"""``depth_input`` choices: the HHA image (3 channels) or completed depth in metres (1)."""


def check_depth_input(depth_input):
    if depth_input not in DEPTH_INPUTS:
        raise ValueError(f"depth_input must be one of {DEPTH_INPUTS}, got {depth_input!r}")


def _is_count(value, minimum):
    return checks.is_int(value) and value >= minimum


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """The options of ``make_dataset``.

    Fields:
      batch_size: examples per batch.
      training: shuffle + repeat + augment + drop remainder (each overridable below); else
        deterministic evaluation order without augmentation (``augment``/``crop_size`` ignored).
      image_size: ``(h, w)`` to resize to before augmentation; ``None`` keeps the stored size
        (batches then need equally sized frames).
      crop_size: ``(h, w)`` of the training crop (sets ``augment.crop_size``); ``None`` keeps
        ``augment.crop_size`` (``None`` there = output at the input size).
      depth_input: ``"hha"`` (3 channels) or ``"depth"`` (completed depth, metres, 1 channel).
      augment: an :class:`~rfbnet_tf.datasets.augment.AugmentConfig`; ``None`` = paper defaults.
      shuffle_buffer: records in the shuffle buffer (training; 0 or 1 = no record shuffle).
      seed: int, makes training reproducible (shuffles and augmentation); ``None`` = random.
      start: training: the stream's first position (examples already consumed: a resumed run passes
        ``step * batch_size``); the stream from there is the uninterrupted one's, element for element.
      repeat: ``None`` (= training), ``True`` forever, ``False`` once, or a number of epochs.
      drop_remainder: ``None`` (= training) or bool.
      keep_full_label: evaluation at the stored resolution (as the paper benchmarks): elements
        become ``(inputs, label, label_full)`` with ``label_full`` int32 (1, H, W); needs
        ``batch_size=1`` and ``training=False``.
      num_parallel_calls: parallelism of the per-example map (``tf.data.AUTOTUNE`` or an int).
      statistics: where the normalisation statistics come from: ``None`` = ``record_dir``'s
        ``dataset_info.json``, or a dict with a ``normalization`` entry (a trained run's
        ``run_info.json``: evaluate normalises other records exactly as the run was trained).
    """

    batch_size: int
    training: bool
    image_size: tuple | None = None
    crop_size: tuple | None = None
    depth_input: str = "hha"
    augment: augment_lib.AugmentConfig | None = None
    shuffle_buffer: int = 256
    seed: int | None = None
    start: int = 0
    repeat: bool | int | None = None
    drop_remainder: bool | None = None
    keep_full_label: bool = False
    num_parallel_calls: int = tf.data.AUTOTUNE
    statistics: dict | None = None

    def __post_init__(self):
        object.__setattr__(self, "batch_size", positive_int("batch_size", self.batch_size))
        if not isinstance(self.training, bool):
            raise ValueError(f"training must be a bool, got {self.training!r}")
        for name in ("image_size", "crop_size"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, checks.size_hw(name, getattr(self, name)))
        check_depth_input(self.depth_input)
        object.__setattr__(self, "shuffle_buffer", int_at_least("shuffle_buffer", self.shuffle_buffer, 0))
        if self.seed is not None and not (_is_count(self.seed, 0) and self.seed < 2**62):
            raise ValueError(f"seed must be None or an int in [0, 2**62), got {self.seed!r}")
        if not _is_count(self.start, 0) or (self.start and not self.training):
            raise ValueError(f"start must be an int >= 0 (and 0 unless training), got {self.start!r}")
        if self.repeat is None:
            object.__setattr__(self, "repeat", self.training)
        if not (isinstance(self.repeat, bool) or _is_count(self.repeat, 1)):
            raise ValueError(f"repeat must be None, a bool or a positive int, got {self.repeat!r}")
        if self.drop_remainder is None:
            object.__setattr__(self, "drop_remainder", self.training)
        if not isinstance(self.drop_remainder, bool):
            raise ValueError(f"drop_remainder must be None or a bool, got {self.drop_remainder!r}")
        if not isinstance(self.keep_full_label, bool):
            raise ValueError(f"keep_full_label must be a bool, got {self.keep_full_label!r}")
        if self.keep_full_label and (self.batch_size != 1 or self.training):
            raise ValueError("keep_full_label=True needs batch_size=1 and training=False, got "
                             f"batch_size={self.batch_size!r}, training={self.training!r}")
        if self.num_parallel_calls != tf.data.AUTOTUNE:
            object.__setattr__(self, "num_parallel_calls", positive_int("num_parallel_calls", self.num_parallel_calls))
        if self.training:
            object.__setattr__(self, "augment", _training_augment(self.augment, self.crop_size))

    @property
    def augment_config(self) -> augment_lib.AugmentConfig | None:
        """The training augmentation (``augment`` with ``crop_size`` set), None when not training (evaluation
        ignores ``augment`` and ``crop_size``)."""
        return self.augment if self.training else None


def _training_augment(augment, crop_size) -> augment_lib.AugmentConfig:
    augment = augment_lib.AugmentConfig() if augment is None else augment
    if not isinstance(augment, augment_lib.AugmentConfig):
        raise ValueError(f"augment must be None or an AugmentConfig, got {augment!r}")
    if crop_size is not None:
        if augment.crop_size not in (None, crop_size):
            raise ValueError(f"crop_size {crop_size!r} conflicts with augment.crop_size {augment.crop_size!r}")
        augment = dataclasses.replace(augment, crop_size=crop_size)
    return augment

