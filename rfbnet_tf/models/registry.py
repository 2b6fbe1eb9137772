"""The model zoo: every model buildable by name (README "Model zoo"; the design of each family: WORKSPACE.md)."""

from rfbnet_tf.models.adapnet_pp_backbone import AdapNetPPBackbone
from rfbnet_tf.models.assembly import build_rfbnet, build_ssma, build_unimodal
from rfbnet_tf.models.erfnet_backbone import ERFNetEncBackbone
from rfbnet_tf.utils.checks import int_at_least

BACKBONES = {"erfnet_enc": ERFNetEncBackbone, "adapnet_pp": AdapNetPPBackbone}
BACKBONE_OPTIONS = ("aux_losses", "dilations")  # options passed to the backbone's constructor, not to the family builder

# name -> (family, backbone, {option: default})
_MULTIMODAL_OPTIONS = {"depth_channels": 3}
_RFBNET_OPTIONS = {**_MULTIMODAL_OPTIONS, "shrink_depth": True, "gates": True, "add_point": "R", "combination": "ssma"}
_AUX = {"aux_losses": False, "dilations": "official"}  # AdapNet++ backbone options
MODELS = {
    "erfnet_enc": ("unimodal", "erfnet_enc", {"modality": "rgb", "depth_channels": 3}),
    "ssma_erfnet_enc": ("ssma", "erfnet_enc", {**_MULTIMODAL_OPTIONS, "shrink_depth": False}),
    "rfbnet_erfnet_enc": ("rfbnet", "erfnet_enc", dict(_RFBNET_OPTIONS)),
    "adapnet_pp": ("unimodal", "adapnet_pp", {"modality": "rgb", "depth_channels": 3, **_AUX}),
    "ssma_adapnet_pp": ("ssma", "adapnet_pp", {**_MULTIMODAL_OPTIONS, "shrink_depth": False, **_AUX}),
    "rfbnet_adapnet_pp": ("rfbnet", "adapnet_pp", {**_RFBNET_OPTIONS, **_AUX}),
}
_BUILDERS = {"unimodal": build_unimodal, "ssma": build_ssma, "rfbnet": build_rfbnet}


def model_options(name):
    """The options ``build_model(name, ...)`` accepts, with their defaults."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; available: {sorted(MODELS)}")
    return dict(MODELS[name][2])


SAVED_BEFORE = {"dilations": "paper"}
"""Values of options that run configs saved before the option existed were built with (AdapNet++ ``dilations``:
the paper's rates were the only ones before the option)."""


def saved_model_options(name, options):
    """The options of a saved run config (``flags.json``) of model ``name``, completed with :data:`SAVED_BEFORE`
    for the options it predates."""
    options = dict(options)
    for key, value in SAVED_BEFORE.items():
        if key in model_options(name) and key not in options:
            options[key] = value
    return options


def is_multimodal(name):
    """True for models that take ``{"rgb", "depth"}`` inputs."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; available: {sorted(MODELS)}")
    return MODELS[name][0] != "unimodal"


def build_model(name, num_classes, **options):
    """Build model ``name`` (one of ``MODEL_NAMES``) with ``num_classes`` outputs.

    Options (see ``model_options(name)``): ``modality`` (unimodal: "rgb" or "depth"), ``depth_channels`` (3 HHA,
    1 raw depth), ``shrink_depth``, ``gates``, ``add_point`` ("R", "T", "T_input", None), ``combination`` ("concat", "sum",
    "ssma"), ``aux_losses`` (AdapNet++ models: also return the two auxiliary predictions, ``[logits, aux_1,
    aux_2]``), ``dilations`` (AdapNet++ models: "official" or "paper" rates of the multiscale units). Unknown
    options or bad values raise ``ValueError``.
    """
    defaults = model_options(name)
    num_classes = int_at_least("num_classes", num_classes, 2)
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for model {name!r}; it accepts {sorted(defaults)}")
    family, backbone, _ = MODELS[name]
    options = {**defaults, **options}
    backbone_options = {key: options.pop(key) for key in BACKBONE_OPTIONS if key in options}
    return _BUILDERS[family](BACKBONES[backbone](**backbone_options), num_classes, **options, name=name)


MODEL_NAMES = tuple(MODELS)
