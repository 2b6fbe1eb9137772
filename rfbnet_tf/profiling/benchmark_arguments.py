"""The benchmark's arguments: sizes ``WxH``, model names and pairs, each family's default sizes, checked once."""

from __future__ import annotations

from rfbnet_tf.models import MODEL_NAMES, model_spec

DEFAULT_SIZES = {"erfnet_enc": ((1024, 512), (640, 480)), "adapnet_pp": ((768, 384),)}
"""Default (W, H) per backbone: the paper's Cityscapes 1024×512 and ScanNet 640×480 for ERFNetEnc (Sec. IV-B),
AdapNet++'s 768×384 (its training crop)."""

def parse_size(text):
    """``"1024x512"`` → ``(1024, 512)`` (W, H); ValueError naming the text otherwise."""
    parts = str(text).lower().replace("×", "x").split("x")
    try:
        width, height = (int(p) for p in parts)
    except ValueError:
        raise ValueError(f"size must be WIDTHxHEIGHT (e.g. 1024x512), received {text!r}") from None
    if width < 1 or height < 1:
        raise ValueError(f"size must be two positive ints WIDTHxHEIGHT, received {text!r}")
    return width, height


def parse_pair(text):
    """``"a:b"`` → ``("a", "b")``, both model names."""
    parts = tuple(str(text).split(":"))
    if len(parts) != 2:
        raise ValueError(f"head-to-head pair must be MODEL_A:MODEL_B, received {text!r}")
    return tuple(check_models(parts))


def check_models(models):
    """The model names, each one of ``MODEL_NAMES``."""
    models = list(models)
    if not models:
        raise ValueError(f"models must name at least one of {MODEL_NAMES}, received {models!r}")
    unknown = [m for m in models if m not in MODEL_NAMES]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; available: {list(MODEL_NAMES)}")
    return models


def sizes_for(model_name, sizes=None):
    """``sizes`` (list of (W, H)) or the model family's defaults, each checked against the size divisor of the
    model at its default options (``model_spec(model_name).size_divisor()``, the models this binary builds)."""
    spec = model_spec(model_name)
    chosen = list(sizes) if sizes else list(DEFAULT_SIZES[spec.backbone])
    multiple = spec.size_divisor()
    for width, height in chosen:
        if width % multiple or height % multiple:
            raise ValueError(
                f"{model_name} needs input sizes that are multiples of {multiple}, received {width}x{height}"
            )
    return chosen


def positive_int(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, received {value!r}")
    return value
