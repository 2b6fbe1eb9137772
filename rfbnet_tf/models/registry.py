"""The model zoo: every model buildable by name (DESIGN.md §3)."""

from rfbnet_tf.models.assembly import build_rfbnet, build_ssma, build_unimodal
from rfbnet_tf.models.erfnet_backbone import ERFNetEncBackbone

BACKBONES = {"erfnet_enc": ERFNetEncBackbone}

# name -> (family, backbone, {option: default})
_MULTIMODAL_OPTIONS = {"depth_channels": 3}
MODELS = {
    "erfnet_enc": ("unimodal", "erfnet_enc", {"modality": "rgb", "depth_channels": 3}),
    "ssma_erfnet_enc": ("ssma", "erfnet_enc", {**_MULTIMODAL_OPTIONS, "shrink_depth": False}),
    "rfbnet_erfnet_enc": (
        "rfbnet",
        "erfnet_enc",
        {**_MULTIMODAL_OPTIONS, "shrink_depth": True, "gates": True, "add_point": "R", "combination": "ssma"},
    ),
}
_BUILDERS = {"unimodal": build_unimodal, "ssma": build_ssma, "rfbnet": build_rfbnet}


def model_options(name):
    """The options ``build_model(name, ...)`` accepts, with their defaults."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; available: {sorted(MODELS)}")
    return dict(MODELS[name][2])


def is_multimodal(name):
    """True for models that take ``{"rgb", "depth"}`` inputs."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; available: {sorted(MODELS)}")
    return MODELS[name][0] != "unimodal"


def build_model(name, num_classes, **options):
    """Build model ``name`` (one of ``MODEL_NAMES``) with ``num_classes`` outputs.

    Options (see ``model_options(name)``): ``modality`` (unimodal: "rgb" or "depth"), ``depth_channels`` (3 HHA,
    1 raw depth), ``shrink_depth``, ``gates``, ``add_point`` ("R", "T", None), ``combination`` ("concat", "sum",
    "ssma"). Unknown options or bad values raise ``ValueError``.
    """
    defaults = model_options(name)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2, received {num_classes!r}")
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for model {name!r}; it accepts {sorted(defaults)}")
    family, backbone, _ = MODELS[name]
    return _BUILDERS[family](BACKBONES[backbone](), num_classes, **{**defaults, **options}, name=name)


MODEL_NAMES = tuple(MODELS)
