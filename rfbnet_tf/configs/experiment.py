"""``ExperimentConfig``: one training run's whole configuration — model, data, optimizer, train — and its two
serial forms: the flat train flags (``--model=... --batch_size=...``; flagfiles, Python dicts)
and the nested dict ``model_dir/flags.json`` holds (:meth:`ExperimentConfig.as_dict`)."""

from __future__ import annotations

import dataclasses
import types

from rfbnet_tf.configs.data import DataConfig, augment_dict, augment_flag_value
from rfbnet_tf.configs.fields import flag_fields, flag_name
from rfbnet_tf.configs.model import ModelConfig
from rfbnet_tf.configs.optimizer import OptimizerConfig
from rfbnet_tf.configs.train import TrainConfig
from rfbnet_tf.models import model_spec

SECTIONS = (("model", ModelConfig), ("data", DataConfig), ("optimizer", OptimizerConfig), ("train", TrainConfig))
"""The sections of an experiment, in flag order."""
FLAG_SECTIONS = {flag_name(field): (section, field.name) for section, cls in SECTIONS for field in flag_fields(cls)}
"""``{train flag: (section, field)}``."""
FLAG_NAMES = tuple(FLAG_SECTIONS)
FORMAT = 2
"""``flags.json`` format: 2 = nested sections (format 1, before typed configs: the flat flags plus dataset facts)."""


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """The four sections, each validated on construction; ``optimizer.weight_decay`` unset takes the model's
    default (``ModelSpec.weight_decay``: 5e-4 AdapNet++, 1e-4 ERFNetEnc)."""

    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)

    def __post_init__(self):
        for section, cls in SECTIONS:
            if not isinstance(getattr(self, section), cls):
                raise ValueError(f"ExperimentConfig.{section} must be a {cls.__name__}")
        check_freezing(self.model.name, self.train.freeze_encoders)
        if self.optimizer.weight_decay is None:
            object.__setattr__(self, "optimizer", dataclasses.replace(
                self.optimizer, weight_decay=self.model.spec.weight_decay))

    # ----------------------------------------------------------------------------------------- flat flags

    @classmethod
    def from_flags(cls, values: dict) -> ExperimentConfig:
        """From ``{train flag: value}`` (missing flags take their defaults). Unknown flags are an error."""
        unknown = sorted(set(values) - set(FLAG_SECTIONS))
        if unknown:
            raise ValueError(f"unknown train flag(s) {['--' + name for name in unknown]}; known: {sorted(FLAG_NAMES)}")
        fields = {section: {} for section, _ in SECTIONS}
        for flag, value in values.items():
            section, field = FLAG_SECTIONS[flag]
            fields[section][field] = value
        return cls(**{section: section_cls(**fields[section]) for section, section_cls in SECTIONS})

    def flags(self) -> dict:
        """``{train flag: value}`` (``--augment``: true / false for the presets, else the settings dict)."""
        values = {}
        for section, cls in SECTIONS:
            part = getattr(self, section)
            for field in flag_fields(cls):
                value = getattr(part, field.name)
                values[flag_name(field)] = augment_flag_value(value) if field.name == "augment" else value
        return values

    # ----------------------------------------------------------------------------------------- flags.json

    def as_dict(self) -> dict:
        """The ``flags.json`` content: ``{"format": 2, "model": {...}, "data": {...}, ...}`` (JSON-able)."""
        content = {"format": FORMAT}
        for section, _ in SECTIONS:
            part = {field.name: getattr(getattr(self, section), field.name)
                    for field in dataclasses.fields(getattr(self, section))}
            if section == "data":
                part["augment"] = augment_dict(part["augment"])
            content[section] = part
        return content

    @classmethod
    def from_dict(cls, content: dict) -> ExperimentConfig:
        """From :meth:`as_dict` output (a format-1 ``flags.json`` of an older run is converted where it is read,
        :func:`rfbnet_tf.rundir.config_file.load_run_config`)."""
        if content.get("format") != FORMAT:
            raise ValueError(f"not a format-{FORMAT} configuration (format {content.get('format', 1)!r})")
        return cls(**{section: section_cls(**content[section]) for section, section_cls in SECTIONS})

    def replace(self, **sections) -> ExperimentConfig:
        """A copy with sections replaced by field updates: ``replace(data={"image_size": [64, 80]})``."""
        updates = {name: dataclasses.replace(getattr(self, name), **fields) for name, fields in sections.items()}
        return dataclasses.replace(self, **updates)


def check_freezing(model, freeze_encoders):
    """``ValueError`` when ``--freeze_encoders`` is set for a unimodal model."""
    if freeze_encoders and not model_spec(model).multimodal:
        raise ValueError(f"--freeze_encoders applies to multimodal models, not --model={model}")


def flag_defaults() -> dict:
    """``{train flag: default}`` (``--augment``: True), unvalidated: what a format-1 ``flags.json`` that lacks a
    flag (written before the flag existed) ran with."""
    values = {}
    for section, cls in SECTIONS:
        for field in flag_fields(cls):
            default = field.default_factory() if callable(field.default_factory) else field.default
            values[flag_name(field)] = True if field.name == "augment" else default
    return values


def resolve(flag_source) -> ExperimentConfig:
    """An ``ExperimentConfig`` from an ``ExperimentConfig``, a dict of train flags, a namespace
    (``argparse.Namespace``, ``SimpleNamespace``) or absl ``FlagValues`` (only the train flags are read).

    Raises ``ValueError`` naming the first bad flag and its value.
    """
    if isinstance(flag_source, ExperimentConfig):
        return flag_source
    from absl import flags

    if isinstance(flag_source, flags.FlagValues):
        values = {name: flag_source[name].value for name in FLAG_NAMES if name in flag_source}
    elif isinstance(flag_source, dict):
        values = dict(flag_source)
    elif isinstance(flag_source, types.SimpleNamespace) or hasattr(flag_source, "__dict__"):
        values = dict(vars(flag_source))
    else:
        raise ValueError(f"flags must be a dict, a namespace or absl FlagValues, received {type(flag_source).__name__}")
    return ExperimentConfig.from_flags(values)
