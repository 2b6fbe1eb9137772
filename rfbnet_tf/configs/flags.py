"""The train flags of ``python -m rfbnet_tf.train``, defined from the config fields: absl only parses them;
the values are checked by the configs themselves, once (the same checks Python callers get)."""

from __future__ import annotations

from absl import flags

from rfbnet_tf.configs.experiment import SECTIONS, flag_defaults
from rfbnet_tf.configs.fields import flag_fields, flag_name

REQUIRED = ("record_dir", "model_dir")
HELP_GROUPS = {"model": "model", "data": "data", "optimizer": "optimisation", "train": "run"}
"""``--help`` heading of each config section."""

_DEFINE = {"enum": None, "bool": flags.DEFINE_bool, "int": flags.DEFINE_integer, "float": flags.DEFINE_float,
           "list": flags.DEFINE_list, "string": flags.DEFINE_string}


def flag_fields_by_name() -> dict:
    """``{train flag: dataclass field}``."""
    return {flag_name(field): field for _, cls in SECTIONS for field in flag_fields(cls)}


def flag_groups() -> dict:
    """``{help heading: [train flag, ...]}``: the flags of each config section (``--help`` groups them so)."""
    return {HELP_GROUPS[section]: [flag_name(field) for field in flag_fields(cls)] for section, cls in SECTIONS}


def define_flags(flag_values=flags.FLAGS):
    """Define every train flag on ``flag_values`` (default: the global absl FLAGS); ``--record_dir`` and
    ``--model_dir`` are required. absl parses the values by type (int, float, enum choices); the configs check
    them, once, when the binary builds its ``ExperimentConfig`` (``configs.resolve``) before any work."""
    defaults = flag_defaults()
    for name, field in flag_fields_by_name().items():
        kind, help_text, default = field.metadata["kind"], field.metadata["help"], defaults[name]
        if kind == "enum":
            flags.DEFINE_enum(name, default, list(field.metadata["choices"]), help_text, flag_values=flag_values)
        else:
            _DEFINE[kind](name, default, help_text, flag_values=flag_values)
    flags.mark_flags_as_required(list(REQUIRED), flag_values=flag_values)
