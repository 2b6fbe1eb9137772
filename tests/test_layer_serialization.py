"""Every layer: registered serializable, ``get_config`` round-trips, ``.keras`` save/load gives identical outputs."""

import keras
import numpy as np
import pytest

from rfbnet_tf.layers import DownsamplerBlock, GatedFusionUnit, NonBottleneck1D, ResidualFusionBlock, SSMABlock
from rfbnet_tf.layers.stream_resampling import BilinearUpsample
from rfbnet_tf.models import build_model

RNG = np.random.default_rng(0)


def _arrays(*shapes):
    return [RNG.normal(size=s).astype("float32") for s in shapes]


CASES = {
    "downsampler": (lambda: DownsamplerBlock(16), _arrays((2, 8, 8, 3))),
    "non_bottleneck_1d": (lambda: NonBottleneck1D(8, dilation=4, dropout=0.3), _arrays((2, 8, 8, 8))),
    "gfu_first": (
        lambda: GatedFusionUnit(4, complement_channels=(8, 8), gates=True, rgb_scale=2, first=True),
        _arrays((2, 8, 8, 8), (2, 4, 4, 8)),
    ),
    "gfu_no_gates_no_complement": (
        lambda: GatedFusionUnit(4, complement_channels=None, gates=False, rgb_scale=1, first=False),
        _arrays((2, 4, 4, 8), (2, 4, 4, 8), (2, 4, 4, 4)),
    ),
    "rfb_R": (
        lambda: ResidualFusionBlock(NonBottleneck1D(8, dilation=2), add_point="R", rgb_scale=2, first=False),
        _arrays((2, 8, 8, 8), (2, 4, 4, 8), (2, 4, 4, 4)),
    ),
    "rfb_T_first": (
        lambda: ResidualFusionBlock(NonBottleneck1D(8), add_point="T", gates=False, rgb_scale=1, first=True),
        _arrays((2, 4, 4, 8), (2, 4, 4, 8)),
    ),
    "rfb_T_input": (
        lambda: ResidualFusionBlock(NonBottleneck1D(8, dilation=2), add_point="T_input", rgb_scale=2, first=False),
        _arrays((2, 8, 8, 8), (2, 4, 4, 8), (2, 4, 4, 4)),
    ),
    "ssma": (lambda: SSMABlock(8, reduction=4), _arrays((2, 4, 4, 8), (2, 4, 4, 8))),
    "bilinear_upsample": (lambda: BilinearUpsample(4), _arrays((2, 3, 5, 2))),
}


def _outputs(layer, arrays):
    out = layer(arrays if len(arrays) > 1 or isinstance(layer, SSMABlock) else arrays[0], training=False)
    if isinstance(out, dict):
        return [np.asarray(v) for _, v in sorted(out.items())]
    return [np.asarray(v) for v in (out if isinstance(out, (list, tuple)) else [out])]


@pytest.mark.parametrize("case", sorted(CASES))
def test_get_config_round_trip(case):
    factory, _ = CASES[case]
    layer = factory()
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    serialized = keras.saving.serialize_keras_object(layer)
    assert serialized["registered_name"].startswith("rfbnet_tf>")
    assert keras.saving.deserialize_keras_object(serialized).get_config() == config


@pytest.mark.parametrize("case", sorted(CASES))
def test_keras_file_save_load_identical_outputs(case, tmp_path):
    factory, arrays = CASES[case]
    inputs = [keras.Input(a.shape[1:]) for a in arrays]
    layer = factory()
    single = len(arrays) == 1 and not isinstance(layer, SSMABlock)
    out = layer(inputs[0] if single else inputs)
    if isinstance(out, dict):
        out = [out[k] for k in sorted(out)]
    model = keras.Model(inputs, out)
    # move every weight away from its initial value (BN statistics included)
    model.set_weights([w + RNG.normal(0, 0.1, w.shape).astype(w.dtype) for w in model.get_weights()])
    path = tmp_path / f"{case}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    expected = model(arrays, training=False)
    got = loaded(arrays, training=False)
    for a, b in zip(keras.tree.flatten(expected), keras.tree.flatten(got)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_full_rfbnet_model_save_load(tmp_path):
    model = build_model("rfbnet_erfnet_enc", 3)
    model.set_weights([w + RNG.normal(0, 0.05, w.shape).astype(w.dtype) for w in model.get_weights()])
    x = {"rgb": RNG.normal(size=(1, 32, 32, 3)).astype("float32"), "depth": RNG.normal(size=(1, 32, 32, 3)).astype("float32")}
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(model(x, training=False), loaded(x, training=False))
