"""What an export serves: :class:`InputSpec` (inputs, depth encoding, normalisation, size policy, classes) built from
a run's ``flags.json`` and ``run_info.json`` (:func:`input_spec`), the signature names, and the spec's JSON record
(:func:`spec_json`). The serving steps are :mod:`rfbnet_tf.inference.serving_ops`, the module
:mod:`rfbnet_tf.inference.serving`."""

from __future__ import annotations

import dataclasses
import json

from rfbnet_tf.constants import IGNORE_LABEL
from rfbnet_tf.datasets import pipeline
from rfbnet_tf.models import model_spec
from rfbnet_tf.rundir.config_file import RunConfig

SIZE_POLICIES = ("resize", "pad")
SIGNATURE_DEFAULT = "serving_default"
SIGNATURE_DEPTH_METRES = "serving_depth_metres"
"""Extra signature of raw-depth runs: depth as float32 metres instead of uint16 millimetres."""
SIGNATURE_RAW = "serving_raw"
"""Signature of multimodal runs taking the sensor's raw depth: ``rgb`` uint8 (B,H,W,3), ``depth`` uint16
(B,H,W,1) in sensor units, ``depth_scale`` float32 metres per unit, ``intrinsics`` float32 (fx, fy, cx, cy);
the depth is completed (and HHA-encoded) in the graph (:func:`raw_model_depth`). Outputs: ``class_ids``,
``probabilities`` and bool (B,) ``valid`` (False: no valid depth pixel; the frame's class ids are then the
ignore label, its probabilities 0) and ``depth_plausible`` (False: the depth looks in the wrong units, the rule
of ``rfbnet_tf.preprocessing.depth_plausibility``)."""


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """Everything the preprocessing needs to know about a trained run.

    Attributes:
      model_inputs: model input keys in call order: ``("rgb", "depth")``, ``("rgb",)`` or ``("depth",)``.
      depth_input: ``"hha"`` (uint8, 3 channels) or ``"depth"`` (metres, 1 channel).
      mean, std: ``{key: tuple of floats}`` per model input key (the depth entry holds the
        statistics of ``depth_input``).
      num_classes: K.
      size_policy: ``"resize"`` or ``"pad"`` (module docstring).
      model_size: ``(h, w)`` the model runs at under ``"resize"`` (None under ``"pad"``).
      size_divisor: model input sizes must be multiples of it.
      max_depth: depth range in metres of the run's records (``run_info.json``; raw depth beyond it is
        dropped by the ``serving_raw`` preprocessing), None when unknown.
      ignore_label: the run's ignore label (``run_info.json``): ``serving_raw``'s class ids of a frame with no
        valid depth.
    """

    model_inputs: tuple
    depth_input: str
    mean: dict
    std: dict
    num_classes: int
    size_policy: str
    model_size: tuple | None
    size_divisor: int
    max_depth: float | None = None
    ignore_label: int = IGNORE_LABEL

    def channels(self, key: str) -> int:
        """Channels of model input ``key``."""
        return 3 if key == "rgb" or self.depth_input == "hha" else 1

    def to_json(self) -> dict:
        """A JSON-serialisable description (written next to the SavedModel)."""
        out = dataclasses.asdict(self)
        out["model_inputs"] = list(self.model_inputs)
        out["model_size"] = list(self.model_size) if self.model_size else None
        out["mean"] = {k: list(v) for k, v in self.mean.items()}
        out["std"] = {k: list(v) for k, v in self.std.items()}
        return out


def input_spec(run: RunConfig, run_info: dict, size_policy: str | None = None) -> InputSpec:
    """The :class:`InputSpec` of a run from its configuration (``rundir.config_file.load_run_config``) and
    ``run_info.json`` (``rfbnet_tf.rundir.facts.load_run_info``).

    Args:
      run: the run's configuration (model, options, depth input, training ``image_size``, class count).
      run_info: the run's dataset facts; its ``normalization`` statistics are used.
      size_policy: ``"resize"``, ``"pad"`` or None (= ``"resize"`` when the run has an
        ``image_size``, else ``"pad"``).

    Raises:
      ValueError: unknown policy, ``"resize"`` without a training size, a training size that is
        not a multiple of the model's size divisor, or unusable statistics.
    """
    if size_policy is not None and size_policy not in SIZE_POLICIES:
        raise ValueError(f"size_policy must be one of {SIZE_POLICIES} or None, received {size_policy!r}")
    name, options, depth_input = run.model.name, run.model_options, run.model.depth_input
    keys = model_spec(name).input_keys(options)
    if not isinstance(run_info, dict) or not isinstance(run_info.get("normalization"), dict):
        received = sorted(run_info) if isinstance(run_info, dict) else type(run_info).__name__
        raise ValueError(f"run_info (run_info.json) must be a dict with 'normalization', received {received}")
    stats = pipeline.normalization({"normalization": run_info["normalization"]}, depth_input)
    model_size = None if run.data.image_size is None else tuple(run.data.image_size)
    divisor = model_spec(name).size_divisor(options)
    if size_policy is None:
        size_policy = "resize" if model_size else "pad"
    if size_policy == "resize":
        if model_size is None:
            raise ValueError("size_policy 'resize' needs the run's image_size, but flags.json has image_size=None")
        if model_size[0] % divisor or model_size[1] % divisor:
            raise ValueError(
                f"training image_size {model_size} is not a multiple of the model's size divisor {divisor}"
            )
    else:
        model_size = None
    return InputSpec(
        model_inputs=keys,
        depth_input=depth_input,
        mean={k: tuple(float(v) for v in stats[k]["mean"]) for k in keys},
        std={k: tuple(float(v) for v in stats[k]["std"]) for k in keys},
        num_classes=run.num_classes,
        size_policy=size_policy,
        model_size=model_size,
        size_divisor=divisor,
        max_depth=None if run_info.get("max_depth") is None else float(run_info["max_depth"]),
        ignore_label=int(run_info.get("ignore_label", IGNORE_LABEL)),
    )


# --------------------------------------------------------------------------- graph functions


def spec_json(spec: InputSpec, run: RunConfig | None, step) -> str:
    """The JSON stored beside an export (``assets.extra/rfbnet_export.json``)."""
    return json.dumps(
        {
            "input_spec": spec.to_json(),
            "model": None if run is None else run.model.name,
            "model_options": None if run is None else run.model_options,
            "class_names": None if run is None or run.class_names is None else list(run.class_names),
            "checkpoint_step": step,
        },
        indent=2,
        sort_keys=True,
    )
