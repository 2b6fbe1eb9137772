"""rfbnet_tf.models.spec: every zoo entry's ModelSpec against the model build_model actually builds.

Input keys are compared with the built model's inputs; the size divisor is checked by forward passes: at
(2·d, 3·d) the model runs and returns logits of the input size, at a size that is a multiple of d/2 but not of d
(the next smaller candidate rule) it fails or returns a misaligned size. The built models have the short
backbones (tests/short_backbones.py): every strided layer and fusion stage of the full ones, fewer units.
"""

import dataclasses

import numpy as np
import pytest

from rfbnet_tf.models import MODEL_NAMES, ModelSpec, build_model, model_spec
from tests import short_backbones

NUM_CLASSES = 3
# (model, options) built by the tests: every zoo entry at its defaults plus the variants that change the answers
# (the depth modality of the unimodal models, the depth shrink switched on SSMA and off RFBNet).
VARIANTS = [(name, {}) for name in MODEL_NAMES] + [
    ("erfnet_enc", {"modality": "depth", "depth_channels": 1}),
    ("ssma_erfnet_enc", {"shrink_depth": True}),
    ("rfbnet_erfnet_enc", {"shrink_depth": False}),
    ("ssma_adapnet_pp", {"shrink_depth": True}),
    ("rfbnet_adapnet_pp", {"shrink_depth": False}),
]
# Independent statement of the expected facts (paper Sec. IV-B; backbone strides: ERFNetEnc three downsamplers,
# AdapNet++ conv1 + pool + two strided blocks).
EXPECTED = {
    "erfnet_enc": ("unimodal", "erfnet_enc", 1e-4, 8, "erfnet_enc"),
    "ssma_erfnet_enc": ("ssma", "erfnet_enc", 1e-4, 8, "erfnet_enc"),
    "rfbnet_erfnet_enc": ("rfbnet", "erfnet_enc", 1e-4, 16, "erfnet_enc"),
    "adapnet_pp": ("unimodal", "adapnet_pp", 5e-4, 16, "adapnet_pp"),
    "ssma_adapnet_pp": ("ssma", "adapnet_pp", 5e-4, 16, "adapnet_pp"),
    "rfbnet_adapnet_pp": ("rfbnet", "adapnet_pp", 5e-4, 32, "adapnet_pp"),
}


def _inputs(model, height, width, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {t.name: rng.standard_normal((1, height, width, int(t.shape[-1]))).astype(np.float32)
              for t in model.inputs}
    return arrays if len(arrays) > 1 else next(iter(arrays.values()))


def _output_size(model, height, width):
    """(h, w) of the logits at input size (height, width), or None when the forward pass fails."""
    try:
        logits = model(_inputs(model, height, width), training=False)
    except Exception:  # noqa: BLE001 - a misaligned size fails in various layers with various error types
        return None
    return tuple(logits.shape[1:3])


def test_every_zoo_entry_has_the_expected_spec():
    assert set(EXPECTED) == set(MODEL_NAMES)
    for name in MODEL_NAMES:
        spec = model_spec(name)
        family, backbone, decay, divisor, unimodal = EXPECTED[name]
        assert isinstance(spec, ModelSpec) and spec.name == name
        assert (spec.family, spec.backbone, spec.unimodal_model) == (family, backbone, unimodal), name
        assert spec.weight_decay == pytest.approx(decay), name
        assert spec.size_divisor() == divisor, name
        assert spec.multimodal == (family != "unimodal"), name
        assert model_spec(unimodal).family == "unimodal" and model_spec(unimodal).backbone == backbone
    assert model_spec("ssma_erfnet_enc").size_divisor({"shrink_depth": True}) == 16
    assert model_spec("rfbnet_adapnet_pp").size_divisor({"shrink_depth": False}) == 16
    assert model_spec("erfnet_enc").input_keys({"modality": "depth"}) == ("depth",)


def test_spec_is_frozen_and_rejects_unknown_names_and_options():
    spec = model_spec("rfbnet_erfnet_enc")
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.backbone = "adapnet_pp"
    with pytest.raises(TypeError):
        spec.default_options["shrink_depth"] = False  # read-only mapping
    assert spec.default_options["shrink_depth"] is True
    with pytest.raises(ValueError, match=r"^unknown model 'resnet'; available: \[") as error:
        model_spec("resnet")
    assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match="unknown model"):
        model_spec(["rfbnet_erfnet_enc"])
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['modality'\] for model 'rfbnet_erfnet_enc'"):
        spec.size_divisor({"modality": "rgb"})
    assert spec.options({"gates": False}) == {**spec.default_options, "gates": False}


@pytest.mark.parametrize("name,options", VARIANTS, ids=[f"{n}-{o}" if o else n for n, o in VARIANTS])
def test_input_keys_and_size_divisor_match_the_built_model(name, options, monkeypatch):
    short_backbones.use_short_backbones(monkeypatch)
    spec = model_spec(name)
    model = build_model(name, NUM_CLASSES, **options)
    keys = spec.input_keys(options)
    if spec.multimodal:  # called with a dict (Keras lists its inputs in sorted key order)
        assert isinstance(model.input, dict) and keys == ("rgb", "depth") and sorted(model.input) == sorted(keys)
    else:  # called with the one tensor
        assert len(keys) == 1 and not isinstance(model.input, dict) and model.input.name == keys[0]
    d = spec.size_divisor(options)
    assert _output_size(model, 2 * d, 3 * d) == (2 * d, 3 * d)
    # A multiple of d/2 that is no multiple of d (the next smaller candidate divisor) fails or misaligns.
    assert _output_size(model, 3 * d // 2, 2 * d) != (3 * d // 2, 2 * d)
    assert _output_size(model, 2 * d, 3 * d // 2) != (2 * d, 3 * d // 2)
