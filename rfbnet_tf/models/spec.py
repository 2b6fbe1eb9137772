"""What every zoo model is, without building it: :class:`ModelSpec`, one per entry of ``registry.MODELS``.

Training, serving, benchmarking and two-stage initialisation ask these questions of a model name; each answer is
implemented here once:

* ``family`` ("unimodal", "ssma", "rfbnet"), ``backbone`` ("erfnet_enc", "adapnet_pp"), ``multimodal``;
* ``default_options`` — the options ``build_model`` accepts, with their defaults (read-only);
* :meth:`ModelSpec.input_keys` — model inputs in call order: ``("rgb", "depth")`` for multimodal models, else
  ``(modality,)``;
* :meth:`ModelSpec.size_divisor` — input heights and widths must be multiples of it: the backbone's output
  stride, twice that when a multimodal model shrinks the depth (the depth stream then reaches 1/(2·stride) and
  is upsampled by 2 to meet the RGB stream). Any other size misaligns the streams' feature maps (strided
  convolutions round up, pooling rounds down) and the model fails at its first concatenation;
* ``weight_decay`` — the paper's L2 weight decay of the backbone (Sec. IV-B: 5e-4 AdapNet++, 1e-4 ERFNetEnc);
* ``unimodal_model`` — the unimodal zoo model of the same backbone (the source of ``--rgb_init`` /
  ``--depth_init``; a unimodal model is its own counterpart).
"""

from __future__ import annotations

import dataclasses
import functools
import types

from rfbnet_tf.models.registry import BACKBONES, MODELS, is_multimodal, model_options

WEIGHT_DECAY = {"erfnet_enc": 1e-4, "adapnet_pp": 5e-4}
"""The paper's weight decay per backbone (Sec. IV-B)."""


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """The facts of one zoo model (module docstring); get it with :func:`model_spec`."""

    name: str
    family: str
    backbone: str
    multimodal: bool
    default_options: types.MappingProxyType = dataclasses.field(hash=False)
    output_stride: int
    weight_decay: float
    unimodal_model: str

    def options(self, options=None) -> dict:
        """``options`` over the defaults; ``ValueError`` for an option the model does not take."""
        options = dict(options or {})
        unknown = sorted(set(options) - set(self.default_options))
        if unknown:
            raise ValueError(
                f"unknown option(s) {unknown} for model {self.name!r}; it accepts {sorted(self.default_options)}"
            )
        return {**self.default_options, **options}

    def input_keys(self, options=None) -> tuple:
        """Model inputs in call order: ``("rgb", "depth")`` (multimodal) or ``(modality,)``."""
        if self.multimodal:
            return ("rgb", "depth")
        return (self.options(options)["modality"],)

    def size_divisor(self, options=None) -> int:
        """Input heights and widths must be multiples of this: the output stride, ×2 with the depth shrunk."""
        shrunk = self.multimodal and bool(self.options(options).get("shrink_depth", False))
        return self.output_stride * (2 if shrunk else 1)


def _unimodal_model(backbone):
    for name, (family, model_backbone, _) in MODELS.items():
        if family == "unimodal" and model_backbone == backbone:
            return name
    raise ValueError(f"no unimodal model is registered for backbone {backbone!r}")


def model_spec(name) -> ModelSpec:
    """The :class:`ModelSpec` of zoo model ``name``; ``ValueError`` naming the available models otherwise."""
    if not isinstance(name, str) or name not in MODELS:
        raise ValueError(f"unknown model {name!r}; available: {sorted(MODELS)}")
    return _spec(name)


@functools.lru_cache(maxsize=None)
def _spec(name):
    family, backbone, _ = MODELS[name]
    return ModelSpec(
        name=name,
        family=family,
        backbone=backbone,
        multimodal=is_multimodal(name),
        default_options=types.MappingProxyType(model_options(name)),
        output_stride=int(BACKBONES[backbone].output_stride),
        weight_decay=WEIGHT_DECAY[backbone],
        unimodal_model=_unimodal_model(backbone),
    )
