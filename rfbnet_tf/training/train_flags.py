"""Every flag of ``python -m rfbnet_tf.train``, with its help text and validation, in one place.

Each flag is one :class:`FlagSpec` in :data:`FLAG_SPECS`: name, kind, default, help and a checker.  The same
checkers serve both entry points, so a bad value fails the same way, before any work:

* the binary: :func:`define_flags` defines the absl flags and registers a validator per flag plus one
  multi-flag validator for the cross-flag rules; absl stops at parse time with
  ``flag --batch_size=0: must be an int >= 1``;
* Python: :func:`resolve_config` (used by ``rfbnet_tf.train.train``) takes a dict / namespace / FlagValues and
  raises ``ValueError("--batch_size=0: must be an int >= 1")``.

Defaults follow the paper (Sec. IV-B) for RFBNet(ERFNetEnc): Adam, poly power 0.9, initial learning rate
5e-4, 25K steps with a mini-batch of 9 (the multimodal ERFNetEnc setting; unimodal: 100K steps, batch 12), and
weight decay per backbone (``model_spec(model).weight_decay``: 5e-4 AdapNet++, 1e-4 ERFNetEnc).  Checks that need the disk
(record_dir, init models, resuming) happen at the start of ``train()``, still before any model is built.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import types
from typing import Any, Callable

from absl import flags

from rfbnet_tf.models import MODEL_NAMES, model_options, model_spec
from rfbnet_tf.training.distribution import STRATEGIES
from rfbnet_tf.training.optimization import OPTIMIZERS
from rfbnet_tf.training.run_setup import MODEL_DEFINING_KEYS  # noqa: F401 (re-exported)

DEPTH_INPUTS = ("hha", "depth")
DEPTH_CHANNELS = {"hha": 3, "depth": 1}
ADD_POINTS = ("R", "T", "none")
COMBINATIONS = ("concat", "sum", "ssma")
MODEL_OPTION_FLAGS = ("modality", "shrink_depth", "gates", "add_point", "combination", "aux_losses", "dilations")
"""Flags that become ``build_model`` options when the chosen model accepts them (None = model default)."""


# --------------------------------------------------------------------------------------------- checkers
# Each takes the value and returns it normalised, or raises ValueError with the reason (no flag name).


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _int_at_least(minimum, optional=False):
    def check(value):
        if value is None and optional:
            return None
        if isinstance(value, str):
            try:
                value = int(value)
            except ValueError:
                pass
        if not _is_int(value) or value < minimum:
            raise ValueError(f"must be an int >= {minimum}" + (" (or unset)" if optional else ""))
        return int(value)

    return check


def _float_range(low, high=math.inf, low_inclusive=False, optional=False):
    def check(value):
        if value is None and optional:
            return None
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                pass
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
        ok = ok and (value >= low if low_inclusive else value > low) and value <= high
        if not ok:
            bound = f"{'>=' if low_inclusive else '>'} {low}" + (f" and <= {high}" if high != math.inf else "")
            raise ValueError(f"must be a finite number {bound}")
        return float(value)

    return check


def _choice(choices, optional=False):
    def check(value):
        if value is None and optional:
            return None
        if value not in choices:
            raise ValueError(f"must be one of {list(choices)}")
        return value

    return check


def _bool(optional=False):
    def check(value):
        if value is None and optional:
            return None
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value

    return check


def _string(optional=True):
    def check(value):
        if value in (None, "") and optional:
            return None
        if not isinstance(value, str) or not value:
            raise ValueError("must be a non-empty string")
        return value

    return check


def _string_or_empty(value):
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return value


def _size(value):
    """``(height, width)`` from None, "h,w", or a list/tuple of two positive ints (or digit strings)."""
    if value is None or value == "" or (isinstance(value, (list, tuple)) and len(value) == 0):
        return None
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError("must be height,width (two positive ints)")
    try:
        size = [int(str(v).strip()) if isinstance(v, str) else v for v in value]
    except ValueError:
        raise ValueError("must be height,width (two positive ints)") from None
    if not all(_is_int(v) and v > 0 for v in size):
        raise ValueError("must be height,width (two positive ints)")
    return [int(size[0]), int(size[1])]


def _class_weights(value):
    if value in (None, ""):
        return None
    if isinstance(value, (list, tuple)):
        value = ",".join(str(v) for v in value)
    if not isinstance(value, str):
        raise ValueError("must be 'median_frequency' or a comma list of numbers")
    if value.strip() == "median_frequency":
        return "median_frequency"
    try:
        numbers_ = [float(v) for v in value.split(",")]
    except ValueError:
        raise ValueError("must be 'median_frequency' or a comma list of numbers") from None
    if not all(math.isfinite(v) and v >= 0 for v in numbers_) or not any(v > 0 for v in numbers_):
        raise ValueError("class weights must be finite, >= 0 and not all 0")
    return ",".join(repr(v) for v in numbers_)


# --------------------------------------------------------------------------------------------- the flags


@dataclasses.dataclass(frozen=True)
class FlagSpec:
    """One train flag: ``kind`` is the absl flag type (enum, bool, int, float, string, list)."""

    name: str
    kind: str
    default: Any
    help: str
    check: Callable[[Any], Any]
    choices: tuple = ()


FLAG_SPECS = (
    # Model (paper Sec. III, IV-B; options of rfbnet_tf.models.build_model).
    FlagSpec("model", "enum", "rfbnet_erfnet_enc", "Model to train (rfbnet_tf.models.MODEL_NAMES).",
             _choice(MODEL_NAMES), MODEL_NAMES),
    FlagSpec("modality", "enum", None, "Unimodal models: input 'rgb' or 'depth' (default: the model's, rgb).",
             _choice(("rgb", "depth"), optional=True), ("rgb", "depth")),
    FlagSpec("depth_input", "enum", "hha", "Depth encoding fed to the model: 'hha' (3 channels, the paper) or "
             "'depth' (completed depth in metres, 1 channel); sets the model's depth_channels.",
             _choice(DEPTH_INPUTS), DEPTH_INPUTS),
    FlagSpec("shrink_depth", "bool", None, "Multimodal: shrink the depth input by 2 inside the model "
             "(Sec. III-B, Table III; default: the model's).", _bool(optional=True)),
    FlagSpec("gates", "bool", None, "RFBNet: gates G of the GFU on/off (Table IV; default on).",
             _bool(optional=True)),
    FlagSpec("add_point", "enum", None, "RFBNet: where the complementary feature enters the RU: 'R' (residual), "
             "'T' (trunk) or 'none' (Table IV; default R).", _choice(ADD_POINTS, optional=True), ADD_POINTS),
    FlagSpec("combination", "enum", None, "RFBNet: how the three streams are combined before the decoder "
             "(default ssma).", _choice(COMBINATIONS, optional=True), COMBINATIONS),
    FlagSpec("aux_losses", "bool", None, "AdapNet++ models: auxiliary outputs and losses (weights 0.6, 0.5).",
             _bool(optional=True)),
    # Data.
    FlagSpec("record_dir", "string", None, "Directory of the TFRecord shards and dataset_info.json "
             "(python -m rfbnet_tf.prepare_data). Required.", _string(optional=False)),
    FlagSpec("train_split", "string", "train", "Split to train on.", _string(optional=False)),
    FlagSpec("val_split", "string", "val", "Split to validate on (when --val_every > 0).", _string(optional=False)),
    FlagSpec("image_size", "list", None, "height,width to resize every frame to (paper: ScanNet 480,640; "
             "Cityscapes 512,1024). Default: the stored size.", _size),
    FlagSpec("crop_size", "list", None, "height,width of the random training crop (paper: Cityscapes 384,768). "
             "Default: no crop.", _size),
    FlagSpec("augment", "bool", True, "Training augmentations of the paper (flip, scale, rotation, colour "
             "jitter, noise; rfbnet_tf.datasets.augment.AugmentConfig defaults). False: none (crop only).",
             _bool()),
    FlagSpec("shuffle_buffer", "int", 256, "Records in the training shuffle buffer (it is part of the data "
             "position saved in checkpoints).", _int_at_least(0)),
    FlagSpec("create_synthetic", "bool", False, "Generate the synthetic dataset in --record_dir first if it has "
             "no dataset_info.json.", _bool()),
    FlagSpec("synthetic_train", "int", 200, "--create_synthetic: training frames.", _int_at_least(1)),
    FlagSpec("synthetic_val", "int", 50, "--create_synthetic: validation frames.", _int_at_least(1)),
    FlagSpec("synthetic_size", "list", ["120", "160"], "--create_synthetic: frame height,width.", _size),
    FlagSpec("synthetic_workers", "int", None, "--create_synthetic: worker processes (default: CPU count).",
             _int_at_least(1, optional=True)),
    # Optimisation (Sec. IV-B).
    FlagSpec("batch_size", "int", 9, "Global mini-batch (split across replicas). Paper ERFNetEnc: 12 unimodal, "
             "9 multimodal.", _int_at_least(1)),
    FlagSpec("steps", "int", 25000, "Total training steps (paper ERFNetEnc: 100K unimodal, 25K multimodal).",
             _int_at_least(1)),
    FlagSpec("learning_rate", "float", 5e-4, "Initial learning rate of the poly schedule (paper ERFNetEnc 5e-4).",
             _float_range(0.0)),
    FlagSpec("poly_power", "float", 0.9, "Power of the poly schedule lr·(1 − step/steps)^power.",
             _float_range(0.0)),
    FlagSpec("weight_decay", "float", None, "L2 weight decay λ (loss += λ·Σ‖W‖²/2 over conv/dense kernels). "
             "Default per backbone: 5e-4 AdapNet++, 1e-4 ERFNetEnc.",
             _float_range(0.0, low_inclusive=True, optional=True)),
    FlagSpec("optimizer", "enum", "adam", "Optimizer: 'adam' (the paper) or 'sgd' (momentum 0.9).",
             _choice(OPTIMIZERS), OPTIMIZERS),
    FlagSpec("class_weights", "string", None, "Per-class loss weights: a comma list (one per class) or "
             "'median_frequency' (from the train split's class histogram). Default: none.", _class_weights),
    # Initialisation and freezing: two-stage training (Sec. IV-B) and the AdapNet++ protocol of SSMA [12]
    # (rfbnet_tf.training.stream_init, rfbnet_tf.training.freezing).
    FlagSpec("rgb_init", "string", None, "model_dir (or .weights.h5) of a trained unimodal RGB model whose "
             "encoder initialises the RGB stream, or imagenet:PATH — the Keras ResNet50V2 ImageNet weights file "
             "(resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5) for an AdapNet++ encoder.", _string()),
    FlagSpec("depth_init", "string", None, "Same as --rgb_init for the depth stream (imagenet:PATH: the HHA "
             "stream takes the RGB stem kernel as-is).", _string()),
    FlagSpec("init_model", "string", None, "Run directory of a finished run of the same model: every layer "
             "starts from its weights (fine-tuning stage of [12]); batch size, learning rate, steps and the "
             "optimizer start anew in --model_dir.", _string()),
    FlagSpec("freeze_encoders", "bool", False, "Multimodal models: freeze both modality streams (SSMA: the "
             "encoders; RFBNet: the streams' residual units, stems, skips and eASPP; batch norm on its moving "
             "statistics, dropout off) — the fusion stage of [12].", _bool()),
    FlagSpec("dilations", "enum", None, "AdapNet++ models: dilation rates of the multiscale units, 'official' "
             "(the released code's, default) or 'paper' (the AdapNet++ paper's).",
             _choice(("official", "paper"), optional=True), ("official", "paper")),
    # Run.
    FlagSpec("model_dir", "string", None, "Output directory (checkpoints, flags.json, logs). Re-running with the "
             "same model_dir resumes at the last checkpoint. Required.", _string(optional=False)),
    FlagSpec("checkpoint_every", "int", 1000, "Steps between training checkpoints (one is always written at the "
             "end).", _int_at_least(1)),
    FlagSpec("keep_checkpoints", "int", 3, "Training checkpoints kept.", _int_at_least(1)),
    FlagSpec("checkpoint_data_iterator", "bool", True, "Save the training data iterator (shuffle buffer "
             "included) in checkpoints, so a resumed run continues at the exact data position. False: smaller "
             "checkpoints; a resumed run restarts the data stream with a step-derived seed.", _bool()),
    FlagSpec("summary_every", "int", 100, "Steps between TensorBoard scalar summaries (loss, lr, train mIoU).",
             _int_at_least(1)),
    FlagSpec("val_every", "int", 2500, "Steps between validations (val loss, mIoU, per-class IoU); 0 = never.",
             _int_at_least(0)),
    FlagSpec("val_steps", "int", None, "Batches per validation (default: the whole split).",
             _int_at_least(1, optional=True)),
    FlagSpec("val_batch_size", "int", None, "Validation batch (default: --batch_size).",
             _int_at_least(1, optional=True)),
    FlagSpec("image_summary_every", "int", 1000, "Steps between image summaries (RGB, depth, ground truth, "
             "prediction, gate maps) of fixed validation frames; 0 = never.", _int_at_least(0)),
    FlagSpec("num_summary_images", "int", 3, "Frames shown in image summaries.", _int_at_least(1)),
    FlagSpec("mixed_precision", "bool", False, "mixed_float16 (GPU; dynamic loss scaling) or mixed_bfloat16 "
             "(TPU) compute.", _bool()),
    FlagSpec("distribution_strategy", "enum", "default", "tf.distribute strategy; multi-replica strategies "
             "switch on synchronized batch norm.", _choice(STRATEGIES), STRATEGIES),
    FlagSpec("tpu", "string", "", "TPU name or address for --distribution_strategy=tpu ('' = local).",
             _string_or_empty),
    FlagSpec("seed", "int", 0, "Seed of weights, dropout and the data stream.", _int_at_least(0)),
    FlagSpec("deterministic", "bool", False, "tf.config.experimental.enable_op_determinism(): bit-exact reruns "
             "(slower).", _bool()),
    FlagSpec("progress", "bool", True, "Keras progress bar on the console.", _bool()),
)
SPECS = {spec.name: spec for spec in FLAG_SPECS}
FLAG_NAMES = tuple(SPECS)


def defaults() -> dict:
    """``{flag: default}`` (list defaults as lists)."""
    return {spec.name: list(spec.default) if isinstance(spec.default, list) else spec.default for spec in FLAG_SPECS}


def check_flag(name, value):
    """The normalised value of flag ``name``; ``ValueError("--name=value: reason")`` if it is bad."""
    if name not in SPECS:
        raise ValueError(f"unknown train flag --{name}; known: {sorted(SPECS)}")
    try:
        return SPECS[name].check(value)
    except ValueError as error:
        raise ValueError(f"--{name}={value!r}: {error}") from None


def _check_relations(config):
    """Cross-flag rules on checked values; raises ``ValueError`` naming the flags."""
    model = config["model"]
    accepted = model_options(model)
    for name in MODEL_OPTION_FLAGS:
        if config[name] is not None and name not in accepted:
            raise ValueError(
                f"--{name}={config[name]!r} does not apply to --model={model} (its options: {sorted(accepted)})"
            )
    _check_init_relations(config)
    if config["crop_size"] is not None and config["image_size"] is not None:
        if any(c > i for c, i in zip(config["crop_size"], config["image_size"])):
            raise ValueError(
                f"--crop_size={config['crop_size']} is larger than --image_size={config['image_size']}"
            )


def _check_init_relations(config):
    """--init_model excludes --rgb_init / --depth_init; --freeze_encoders needs a multimodal model."""
    streams = [f"--{name}" for name in ("rgb_init", "depth_init") if config.get(name)]
    if config.get("init_model") and streams:
        raise ValueError(f"--init_model={config['init_model']!r} initialises the whole model: drop {streams}")
    if config.get("freeze_encoders") and not model_spec(config["model"]).multimodal:
        raise ValueError(f"--freeze_encoders applies to multimodal models, not --model={config['model']}")


def model_options_of(config) -> dict:
    """The ``build_model`` options of a checked config: option flags that are set, ``depth_channels`` from
    ``depth_input``, every other option at the model's default."""
    options = model_options(config["model"])
    for name in MODEL_OPTION_FLAGS:
        if config[name] is not None and name in options:
            options[name] = None if (name == "add_point" and config[name] == "none") else config[name]
    if "depth_channels" in options:
        options["depth_channels"] = DEPTH_CHANNELS[config["depth_input"]]
    return options


def as_dict(flag_source) -> dict:
    """Flag values from a dict, a namespace (``argparse.Namespace``, ``SimpleNamespace``) or absl FlagValues
    (only the train flags are taken from FlagValues; other containers must hold train flags only)."""
    if isinstance(flag_source, flags.FlagValues):
        return {name: flag_source[name].value for name in FLAG_NAMES if name in flag_source}
    if isinstance(flag_source, dict):
        return dict(flag_source)
    if isinstance(flag_source, types.SimpleNamespace) or hasattr(flag_source, "__dict__"):
        return dict(vars(flag_source))
    raise ValueError(f"flags must be a dict, a namespace or absl FlagValues, received {type(flag_source).__name__}")


def resolve_config(flag_source) -> dict:
    """Check every flag and derive the run settings: a JSON-able dict with every flag plus ``model_options``
    and ``weight_decay`` resolved.  Raises ``ValueError`` naming the first bad flag and its value.

    Unknown keys are rejected; missing ones take their defaults.  Disk checks are done by ``train()``.
    """
    values = as_dict(flag_source)
    unknown = sorted(set(values) - set(SPECS))
    if unknown:
        raise ValueError(f"unknown train flag(s) {['--' + name for name in unknown]}; known: {sorted(SPECS)}")
    config = defaults()
    config.update(values)
    for name in FLAG_NAMES:
        config[name] = check_flag(name, config[name])
    _check_relations(config)
    config["model_options"] = model_options_of(config)
    if config["weight_decay"] is None:
        config["weight_decay"] = model_spec(config["model"]).weight_decay
    return config


# --------------------------------------------------------------------------------------------- absl


def _absl_validator(spec):
    def validate(value):
        try:
            spec.check(value)
        except ValueError as error:
            raise flags.ValidationError(str(error)) from None
        return True

    return validate


def _relations_validator(values):
    try:
        config = defaults()
        config.update({name: SPECS[name].check(value) for name, value in values.items()})
        _check_relations(config)
    except ValueError as error:
        raise flags.ValidationError(str(error)) from None
    return True


def define_flags(flag_values=flags.FLAGS):
    """Define every train flag on ``flag_values`` (default: the global absl FLAGS) with its validators.

    ``--record_dir`` and ``--model_dir`` are marked required.
    """
    for spec in FLAG_SPECS:
        if spec.kind == "enum":
            flags.DEFINE_enum(spec.name, spec.default, list(spec.choices), spec.help, flag_values=flag_values)
        elif spec.kind == "bool":
            flags.DEFINE_bool(spec.name, spec.default, spec.help, flag_values=flag_values)
        elif spec.kind == "int":
            flags.DEFINE_integer(spec.name, spec.default, spec.help, flag_values=flag_values)
        elif spec.kind == "float":
            flags.DEFINE_float(spec.name, spec.default, spec.help, flag_values=flag_values)
        elif spec.kind == "list":
            flags.DEFINE_list(spec.name, spec.default, spec.help, flag_values=flag_values)
        else:
            flags.DEFINE_string(spec.name, spec.default, spec.help, flag_values=flag_values)
        if spec.name not in ("record_dir", "model_dir"):  # required: absl's own message for those
            flags.register_validator(spec.name, _absl_validator(spec), flag_values=flag_values)
    flags.mark_flags_as_required(["record_dir", "model_dir"], flag_values=flag_values)
    flags.register_multi_flags_validator(
        list(MODEL_OPTION_FLAGS) + ["model", "depth_input", "crop_size", "image_size", "rgb_init", "depth_init",
                                    "init_model", "freeze_encoders"],
        _relations_validator,
        message="inconsistent model / size flags",
        flag_values=flag_values,
    )
