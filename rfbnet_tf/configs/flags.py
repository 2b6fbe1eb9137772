"""The train flags of ``python -m rfbnet_tf.train``, defined from the config fields: absl only parses them;
the values are checked by the configs themselves (the same checks Python callers get)."""

from __future__ import annotations

from absl import flags

from rfbnet_tf.configs.data import check_crop
from rfbnet_tf.configs.experiment import SECTIONS, check_freezing, flag_defaults
from rfbnet_tf.configs.fields import flag_fields, flag_name
from rfbnet_tf.configs.model import OPTION_FIELDS, check_model_options
from rfbnet_tf.configs.train import check_init_combination

REQUIRED = ("record_dir", "model_dir")
HELP_GROUPS = {"model": "model", "data": "data", "optimizer": "optimisation", "train": "run"}
"""``--help`` heading of each config section."""

_DEFINE = {"enum": None, "bool": flags.DEFINE_bool, "int": flags.DEFINE_integer, "float": flags.DEFINE_float,
           "list": flags.DEFINE_list, "string": flags.DEFINE_string}


def _validator(field):
    def validate(value):
        try:
            field.metadata["check"](value)
        except ValueError as error:
            raise flags.ValidationError(str(error)) from None
        return True

    return validate


def _relations(values):
    try:
        model = values["model"]
        check_model_options(model, {name: values[name] for name in OPTION_FIELDS})
        fields = flag_fields_by_name()
        sizes = {name: fields[name].metadata["check"](values[name]) for name in ("crop_size", "image_size")}
        check_crop(sizes["crop_size"], sizes["image_size"])
        check_freezing(model, values["freeze_encoders"])
        check_init_combination(values["init_model"], values["rgb_init"], values["depth_init"])
    except ValueError as error:
        raise flags.ValidationError(str(error)) from None
    return True


def flag_fields_by_name() -> dict:
    """``{train flag: dataclass field}``."""
    return {flag_name(field): field for _, cls in SECTIONS for field in flag_fields(cls)}


def flag_groups() -> dict:
    """``{help heading: [train flag, ...]}``: the flags of each config section (``--help`` groups them so)."""
    return {HELP_GROUPS[section]: [flag_name(field) for field in flag_fields(cls)] for section, cls in SECTIONS}


def define_flags(flag_values=flags.FLAGS):
    """Define every train flag on ``flag_values`` (default: the global absl FLAGS) with a validator each, plus
    the cross-flag rules; ``--record_dir`` and ``--model_dir`` are required."""
    defaults = flag_defaults()
    for name, field in flag_fields_by_name().items():
        kind, help_text, default = field.metadata["kind"], field.metadata["help"], defaults[name]
        if kind == "enum":
            flags.DEFINE_enum(name, default, list(field.metadata["choices"]), help_text, flag_values=flag_values)
        else:
            _DEFINE[kind](name, default, help_text, flag_values=flag_values)
        if name not in REQUIRED:  # required: absl's own message for those
            flags.register_validator(name, _validator(field), flag_values=flag_values)
    flags.mark_flags_as_required(list(REQUIRED), flag_values=flag_values)
    flags.register_multi_flags_validator(
        list(OPTION_FIELDS) + ["model", "crop_size", "image_size", "rgb_init", "depth_init", "init_model",
                               "freeze_encoders"], _relations,
        message="inconsistent model / size flags", flag_values=flag_values)
