"""``ModelConfig``: which network to build and its options (paper Sec. III; Tables III–IV; the zoo of
:mod:`rfbnet_tf.models`)."""

from __future__ import annotations

import dataclasses

from rfbnet_tf.configs import checks
from rfbnet_tf.configs.fields import option, validate
from rfbnet_tf.datasets.pipeline_config import DEPTH_INPUTS
from rfbnet_tf.layers import ADD_POINTS as _LAYER_ADD_POINTS
from rfbnet_tf.models import MODEL_NAMES, model_options, model_spec

DEPTH_CHANNELS = {"hha": 3, "depth": 1}
ADD_POINT_NONE = "none"
"""The flag's spelling of the layers' ``add_point=None``."""
ADD_POINTS = tuple(ADD_POINT_NONE if point is None else point for point in _LAYER_ADD_POINTS)
COMBINATIONS = ("concat", "sum", "ssma")
DILATIONS = ("official", "paper")
OPTION_FIELDS = ("modality", "shrink_depth", "gates", "add_point", "combination", "aux_losses", "dilations")
"""Fields that become ``build_model`` options when the chosen model accepts them (None = the model's default)."""


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The network of a run; validated on construction (a set option the model does not take is an error)."""

    name: str = option("rfbnet_erfnet_enc", "Model to train (rfbnet_tf.models.MODEL_NAMES).",
                       checks.choice(MODEL_NAMES), kind="enum", flag="model", choices=MODEL_NAMES)
    modality: str | None = option(None, "Unimodal models: input 'rgb' or 'depth' (default: the model's, rgb).",
                                  checks.choice(("rgb", "depth"), optional=True), kind="enum",
                                  choices=("rgb", "depth"))
    depth_input: str = option("hha", "Depth encoding fed to the model: 'hha' (3 channels, the paper) or 'depth' "
                              "(completed depth in metres, 1 channel); sets the model's depth_channels.",
                              checks.choice(DEPTH_INPUTS), kind="enum", choices=DEPTH_INPUTS)
    shrink_depth: bool | None = option(None, "Multimodal: shrink the depth input by 2 inside the model (Sec. III-B, "
                                       "Table III; default: the model's).", checks.boolean(optional=True),
                                       kind="bool")
    gates: bool | None = option(None, "RFBNet: gates G of the GFU on/off (Table IV; default on).",
                                checks.boolean(optional=True), kind="bool")
    add_point: str | None = option(None, "RFBNet: where the complementary feature enters the RU: 'R' (residual), "
                                   "'T' (trunk: x + x_com + F(x)), 'T_input' (x' = x + x_com, then x' + F(x'): the other reading of "
                                   "Fig. 4a) or 'none' (Table IV; default R).",
                                   checks.choice(ADD_POINTS, optional=True), kind="enum", choices=ADD_POINTS)
    combination: str | None = option(None, "RFBNet: how the three streams are combined before the decoder "
                                     "(default ssma).", checks.choice(COMBINATIONS, optional=True), kind="enum",
                                     choices=COMBINATIONS)
    aux_losses: bool | None = option(None, "AdapNet++ models: auxiliary outputs and losses (weights 0.6, 0.5; default off).",
                                     checks.boolean(optional=True), kind="bool")
    dilations: str | None = option(None, "AdapNet++ models: dilation rates of the multiscale units, 'official' (the "
                                   "released code's, default) or 'paper' (the AdapNet++ paper's).",
                                   checks.choice(DILATIONS, optional=True), kind="enum", choices=DILATIONS)

    def __post_init__(self):
        validate(self)
        check_model_options(self.name, {name: getattr(self, name) for name in OPTION_FIELDS})

    def build_options(self) -> dict:
        """The ``build_model`` options: set option fields, ``depth_channels`` from ``depth_input``, every other
        option at the model's default."""
        options = model_options(self.name)
        for name in OPTION_FIELDS:
            value = getattr(self, name)
            if value is not None and name in options:
                options[name] = None if (name == "add_point" and value == ADD_POINT_NONE) else value
        if "depth_channels" in options:
            options["depth_channels"] = DEPTH_CHANNELS[self.depth_input]
        return options

    @property
    def spec(self):
        """The zoo entry's :class:`rfbnet_tf.models.ModelSpec`."""
        return model_spec(self.name)


def check_model_options(name, values: dict):
    """``ValueError`` naming the flag when an option in ``values`` (field → value, None = unset) does not apply
    to model ``name``."""
    accepted = model_options(name)
    for option_name, value in values.items():
        if value is not None and option_name not in accepted:
            raise ValueError(f"--{option_name}={value!r} does not apply to --model={name} "
                             f"(its options: {sorted(accepted)})")
