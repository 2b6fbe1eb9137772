"""Tests of the AdapNet++ backbone family: PreActBottleneck, EASPP, adapnet_pp, ssma_adapnet_pp, rfbnet_adapnet_pp.

Layers are checked numerically against hand-written numpy compositions of their sublayers (TF "SAME" padding,
inference-mode BN with randomised statistics). The three big models are built once per module (12 classes, the
official AdapNet++ default) and run forward on 64×64 inputs only; the 384×768 and 640×480 sizes are checked
symbolically.
"""

import numpy as np
import pytest

import keras

from rfbnet_tf.constants import AUX_LOSS_WEIGHTS
from rfbnet_tf.layers.easpp import EASPP
from rfbnet_tf.layers.preact_bottleneck import BN_EPSILON, PreActBottleneck
from rfbnet_tf.layers.residual_fusion_block import ResidualFusionBlock
from rfbnet_tf.models import build_model, model_options, transfer_encoder_weights
from rfbnet_tf.models.adapnet_pp_backbone import AdapNetPPBackbone
from rfbnet_tf.models.assembly import build_unimodal

NUM_CLASSES = 12  # official AdapNet++ default (11 Cityscapes classes + void); the published counts' class count
PUBLISHED_ADAPNET_PP = 30.20e6
PUBLISHED_SSMA = 56.44e6
ADAPNET_PP_PARAMS = 30_145_366  # trainable, aux_losses=False
ADAPNET_PP_AUX_PARAMS = 30_151_558  # + 2 aux heads: 2 * (256 * 12 + 2 * 12)
SSMA_PARAMS = 56_182_428
RFBNET_PARAMS = 61_762_052
RFBNET_AUX_PARAMS = 61_768_244


# ----------------------------------------------------------------------------------------------- numpy reference
def conv_same(x, kernel, stride=1, dilation=1):
    """NHWC convolution with TensorFlow "SAME" padding (extra padding after), no bias."""
    k = kernel.shape[0]
    extent = (k - 1) * dilation + 1
    _, h, w, _ = x.shape
    out_h, out_w = -(-h // stride), -(-w // stride)
    pad_h = max((out_h - 1) * stride + extent - h, 0)
    pad_w = max((out_w - 1) * stride + extent - w, 0)
    xp = np.pad(x, ((0, 0), (pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0)))
    out = np.zeros(x.shape[:1] + (out_h, out_w, kernel.shape[-1]))
    for i in range(k):
        for j in range(k):
            patch = xp[
                :,
                i * dilation : i * dilation + (out_h - 1) * stride + 1 : stride,
                j * dilation : j * dilation + (out_w - 1) * stride + 1 : stride,
            ]
            out += np.einsum("bhwc,cf->bhwf", patch, kernel[i, j])
    return out


def bn(x, layer):
    gamma, beta, mean, var = (np.asarray(w) for w in layer.get_weights())
    return (x - mean) / np.sqrt(var + BN_EPSILON) * gamma + beta


def relu(x):
    return np.maximum(x, 0.0)


def conv(x, layer, stride=1, dilation=1):
    return conv_same(x, layer.get_weights()[0], stride, dilation)


def randomize(layer, seed=0):
    """Random values for every weight; BN statistics and scales positive, so inference BN is not the identity."""
    rng = np.random.default_rng(seed)
    for v in layer.weights:
        if v.name in ("gamma", "moving_variance"):
            v.assign(rng.uniform(0.5, 1.5, v.shape).astype("float32"))
        elif v.name in ("beta", "moving_mean"):
            v.assign(rng.normal(0.0, 0.2, v.shape).astype("float32"))
        else:
            v.assign(rng.normal(0.0, 0.3, v.shape).astype("float32"))


def random_input(shape, seed=1):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def manual_bottleneck(unit, x, stride=1, dilations=None):
    """Hand composition of PreActBottleneck (inference); returns (output, tap). ``dilations`` overrides the unit's."""
    r1, r2 = dilations or unit.dilations
    y = relu(bn(x, unit.pre_bn)) if unit.preactivate else x
    t = conv(y, unit.conv1)
    z = relu(bn(t, unit.bn1))
    if unit.conv2 is not None:
        z = conv(z, unit.conv2, stride, r1)
    else:
        z = np.concatenate([conv(z, unit.conv2_a, 1, r1), conv(z, unit.conv2_b, 1, r2)], axis=-1)
    r = conv(relu(bn(z, unit.bn2)), unit.conv3)
    trunk = conv(y, unit.shortcut, stride) if unit.projection else x
    return trunk + r, t


def run(layer, x):
    return keras.ops.convert_to_numpy(layer(x, training=False))


# ----------------------------------------------------------------------------------------------- layers
def test_identity_unit_matches_manual_composition():
    unit = PreActBottleneck(16)
    x = random_input((2, 6, 7, 16))
    unit.build(x.shape)
    randomize(unit)
    expected, expected_tap = manual_bottleneck(unit, x)
    np.testing.assert_allclose(run(unit, x), expected, rtol=1e-4, atol=1e-4)
    tap = keras.ops.convert_to_numpy(unit.tap(x, training=False))
    np.testing.assert_allclose(tap, expected_tap, rtol=1e-4, atol=1e-4)
    assert (unit.tap_channels, unit.trunk_channels) == (4, 16)
    assert all(not getattr(layer, "use_bias", False) for layer in (unit.conv1, unit.conv2, unit.conv3))
    assert (unit.pre_bn.epsilon, unit.pre_bn.momentum) == (1e-5, 0.99)


@pytest.mark.parametrize("preactivate", [False, True])
def test_strided_projection_unit_matches_manual_composition(preactivate):
    unit = PreActBottleneck(24, stride=2, projection=True, preactivate=preactivate)
    x = random_input((1, 7, 9, 8))  # odd sizes: "same" padding gives ceil(7/2) x ceil(9/2)
    unit.build(x.shape)
    randomize(unit, seed=3)
    expected, _ = manual_bottleneck(unit, x, stride=2)
    out = run(unit, x)
    assert out.shape == (1, 4, 5, 24) == unit.compute_output_shape(x.shape)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
    assert unit.shortcut.strides == (2, 2) and unit.conv2.strides == (2, 2)
    with pytest.raises(ValueError, match="projection"):
        unit.merge(x, x)


def test_multiscale_unit_halves_use_stated_dilations():
    unit = PreActBottleneck(16, dilations=(1, 4))
    x = random_input((1, 9, 10, 16), seed=2)
    unit.build(x.shape)
    randomize(unit, seed=5)
    assert unit.conv2 is None
    assert (unit.conv2_a.dilation_rate, unit.conv2_b.dilation_rate) == ((1, 1), (4, 4))
    assert unit.conv2_a.filters == unit.conv2_b.filters == 2
    expected, _ = manual_bottleneck(unit, x)
    out = run(unit, x)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
    # the check can tell the dilations apart: other rates give other outputs
    for wrong in ((1, 1), (4, 4), (4, 1), (1, 2)):
        assert not np.allclose(out, manual_bottleneck(unit, x, dilations=wrong)[0], rtol=1e-3, atol=1e-3)


def test_single_dilated_unit_is_one_convolution():
    unit = PreActBottleneck(8, dilations=(2, 2))
    assert unit.conv2 is not None and unit.conv2.dilation_rate == (2, 2)


def test_dropout_only_in_training():
    unit = PreActBottleneck(8, dropout=0.5)
    x = random_input((1, 4, 4, 8))
    unit.build(x.shape)
    randomize(unit)
    expected, _ = manual_bottleneck(unit, x)
    np.testing.assert_allclose(run(unit, x), expected, rtol=1e-4, atol=1e-4)
    trained = keras.ops.convert_to_numpy(unit(x, training=True))
    assert not np.allclose(trained, expected)
    unit.trainable = False  # a frozen unit (--freeze_encoders): no dropout, BN on its moving statistics
    expected, _ = manual_bottleneck(unit, x)  # the training call above moved the statistics
    np.testing.assert_allclose(keras.ops.convert_to_numpy(unit(x, training=True)), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"channels": 0}, "channels"),
        ({"channels": 8, "stride": 2}, "projection"),
        ({"channels": 8, "stride": 2, "projection": True, "dilations": (1, 2)}, "dilations"),
        ({"channels": 8, "dilations": (1,)}, "dilations"),
        ({"channels": 8, "dilations": (0, 2)}, "dilations"),
        ({"channels": 8, "dropout": 1.0}, "dropout"),
        ({"channels": 8, "preactivate": 1}, "preactivate"),
        ({"channels": 12, "bottleneck_channels": 3, "dilations": (1, 2)}, "even"),
    ],
)
def test_bottleneck_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PreActBottleneck(**kwargs)


def test_identity_unit_rejects_wrong_input_channels():
    with pytest.raises(ValueError, match="received input shape"):
        PreActBottleneck(16).build((1, 4, 4, 8))


def test_easpp_matches_manual_composition():
    layer = EASPP(out_channels=6, branch_channels=4, rates=(1, 2))
    x = random_input((2, 5, 6, 10), seed=4)
    layer.build(x.shape)
    randomize(layer, seed=7)

    def conv_bn_relu(y, name, dilation=1, activate=True):
        out = bn(conv(y, getattr(layer, f"{name}_conv"), 1, dilation), getattr(layer, f"{name}_bn"))
        return relu(out) if activate else out

    branches = [conv_bn_relu(x, "direct")]
    for r in (1, 2):
        y = conv_bn_relu(x, f"rate{r}_reduce")
        y = conv_bn_relu(y, f"rate{r}_atrous1", r)
        y = conv_bn_relu(y, f"rate{r}_atrous2", r)
        branches.append(conv_bn_relu(y, f"rate{r}_expand"))
    pooled = conv_bn_relu(x.mean(axis=(1, 2), keepdims=True), "pool")
    branches.append(np.broadcast_to(pooled, x.shape[:3] + (6,)))
    expected = conv_bn_relu(np.concatenate(branches, axis=-1), "project", activate=False)
    np.testing.assert_allclose(run(layer, x), expected, rtol=1e-4, atol=1e-4)
    assert layer.rate2_atrous1_conv.dilation_rate == (2, 2)


def test_easpp_default_shape_and_widths():
    layer = EASPP()
    out = layer(random_input((1, 3, 5, 2048)))
    assert tuple(out.shape) == (1, 3, 5, 256)
    assert layer.rates == (3, 6, 12)
    assert [getattr(layer, f"rate{r}_atrous2_conv").dilation_rate for r in (3, 6, 12)] == [(3, 3), (6, 6), (12, 12)]
    assert layer.rate3_reduce_conv.filters == 64 and layer.project_conv.filters == 256
    assert layer.project_conv.kernel.shape == (1, 1, 5 * 256, 256)


@pytest.mark.parametrize("kwargs", [{"out_channels": 0}, {"rates": ()}, {"rates": (3, 0)}, {"branch_channels": 1.5}])
def test_easpp_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        EASPP(**kwargs)


@pytest.mark.parametrize(
    "layer",
    [
        PreActBottleneck(32, stride=2, dilations=(1, 1), preactivate=False, projection=True, name="p"),
        PreActBottleneck(16, dilations=(2, 8), dropout=0.7, bottleneck_channels=6),
        EASPP(out_channels=8, branch_channels=4, rates=(1, 3)),
    ],
)
def test_get_config_round_trip(layer):
    clone = layer.__class__.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


def test_keras_save_load_identical_outputs(tmp_path):
    rgb = keras.Input((8, 8, 16), name="rgb")
    depth = keras.Input((4, 4, 16), name="depth")
    x = PreActBottleneck(16, dilations=(1, 2), dropout=0.3, name="ms")(rgb)
    x = PreActBottleneck(32, stride=2, projection=True, name="proj")(x)
    x = EASPP(out_channels=8, branch_channels=4, rates=(1, 2), name="easpp")(x)
    rfb = ResidualFusionBlock(PreActBottleneck(16, dilations=(1, 2)), rgb_scale=2, first=True, name="rfb")
    fused = rfb([rgb, depth])
    model = keras.Model([rgb, depth], [x, *fused[:3]])
    for layer in model.layers:
        randomize(layer, seed=11)
    inputs = [random_input((2, 8, 8, 16), seed=8), random_input((2, 4, 4, 16), seed=9)]
    expected = _outputs(model, inputs)
    path = tmp_path / "layers.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    for got, want in zip(_outputs(loaded, inputs), expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert loaded.get_layer("rfb").rgb_unit.dilations == (1, 2)


@pytest.mark.parametrize("add_point", [None, "R"])
def test_rfb_uses_bottleneck_tap(add_point):
    """RFB of two pre-activation units: the complement enters at the tap (input of the 3×3 layer)."""
    block = ResidualFusionBlock(PreActBottleneck(16), add_point=add_point, rgb_scale=1, first=True)
    x_rgb, x_depth = random_input((1, 4, 4, 16), seed=12), random_input((1, 4, 4, 16), seed=13)
    block.build([x_rgb.shape, x_depth.shape])
    randomize(block, seed=14)
    out_rgb, out_depth, interaction, _ = block([x_rgb, x_depth], training=False)
    assert block.gfu.interaction_channels == 2  # half the depth tap channels (16 / 4 / 2)
    unit = block.rgb_unit
    expected, tap = manual_bottleneck(unit, x_rgb)
    if add_point == "R":
        complement = block.gfu([tap.astype("float32"), block.depth_unit.tap(x_depth, training=False)], training=False)
        complement = keras.ops.convert_to_numpy(complement["rgb"])
        assert np.abs(complement).max() > 1e-3
        expected = keras.ops.convert_to_numpy(
            unit.merge(x_rgb, unit.residual_from_tap(tap.astype("float32") + complement, training=False))
        )
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out_rgb), expected, rtol=1e-4, atol=1e-4)
    assert tuple(interaction.shape) == (1, 4, 4, 2) and tuple(out_depth.shape) == x_depth.shape


# ----------------------------------------------------------------------------------------------- models
@pytest.fixture(scope="module")
def adapnet():
    return build_model("adapnet_pp", NUM_CLASSES, aux_losses=True)


@pytest.fixture(scope="module")
def ssma():
    return build_model("ssma_adapnet_pp", NUM_CLASSES)


@pytest.fixture(scope="module")
def rfbnet():
    return build_model("rfbnet_adapnet_pp", NUM_CLASSES, aux_losses=True)


def count(layers_or_model, skip_aux=False):
    layers = layers_or_model.layers if isinstance(layers_or_model, keras.Model) else layers_or_model
    return int(
        sum(
            np.prod(w.shape)
            for layer in layers
            if not (skip_aux and layer.name.startswith("dec_aux"))
            for w in layer.trainable_weights
        )
    )


def test_adapnet_pp_parameter_count(adapnet):
    assert count(adapnet) == ADAPNET_PP_AUX_PARAMS
    assert count(adapnet, skip_aux=True) == ADAPNET_PP_PARAMS
    assert abs(ADAPNET_PP_PARAMS - PUBLISHED_ADAPNET_PP) / PUBLISHED_ADAPNET_PP < 0.005
    # with the BN moving statistics the count is the published figure to its last digit (30.20 M)
    moving_statistics = int(sum(np.prod(w.shape) for w in adapnet.non_trainable_weights)) - 2 * 2 * NUM_CLASSES
    everything = ADAPNET_PP_PARAMS + moving_statistics  # without the aux heads' BN statistics
    assert round(everything / 1e4) == 3020


def test_ssma_adapnet_pp_parameter_count(ssma):
    assert count(ssma) == SSMA_PARAMS
    assert abs(SSMA_PARAMS - PUBLISHED_SSMA) / PUBLISHED_SSMA < 0.005


def test_rfbnet_adapnet_pp_parameter_count(rfbnet):
    assert count(rfbnet) == RFBNET_AUX_PARAMS
    assert count(rfbnet, skip_aux=True) == RFBNET_PARAMS


def _outputs(model, x):
    out = model(x, training=False)
    return [keras.ops.convert_to_numpy(o) for o in (out if isinstance(out, (list, tuple)) else [out])]


def test_forward_with_aux_outputs(adapnet, rfbnet):
    x = random_input((1, 64, 64, 3))
    for model, inputs in ((adapnet, x), (rfbnet, {"rgb": x, "depth": random_input((1, 64, 64, 3), seed=3)})):
        outputs = _outputs(model, inputs)
        assert [o.shape for o in outputs] == [(1, 64, 64, NUM_CLASSES)] * 3
        assert all(o.dtype == np.float32 and np.isfinite(o).all() for o in outputs)
        assert [t._keras_history.operation.name for t in model.outputs] == ["logits", "aux_1", "aux_2"]
    assert AUX_LOSS_WEIGHTS == (0.6, 0.5)


def test_ssma_forward_and_skip_attention(ssma):
    """Multimodal decoder: the fused 1/8 skip is multiplied by GAP(deconv) → 1×1 conv 24 → BN → ReLU."""
    x = {"rgb": random_input((1, 64, 64, 3)), "depth": random_input((1, 64, 64, 3), seed=2)}
    (logits,) = _outputs(ssma, x)
    assert logits.shape == (1, 64, 64, NUM_CLASSES) and logits.dtype == np.float32
    probe = keras.Model(
        ssma.inputs,
        [
            ssma.get_layer(name).output
            for name in ("dec_up1_bn", "skip_stride8_ssma", "dec_refine1_attention_mul", "dec_refine1_attention_relu")
        ],
    )
    up1, skip, weighted, attention = _outputs(probe, x)
    conv = ssma.get_layer("dec_refine1_attention_conv")
    assert conv.kernel.shape == (1, 1, 256, 24)
    pooled = up1.mean(axis=(1, 2), keepdims=True)
    manual = relu(bn(pooled @ conv.get_weights()[0][0, 0], ssma.get_layer("dec_refine1_attention_bn")))
    np.testing.assert_allclose(attention, manual, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(weighted, attention * skip, rtol=1e-5, atol=1e-5)
    assert skip.shape == (1, 8, 8, 24)


@pytest.mark.parametrize("height, width", [(384, 768), (480, 640)])
def test_models_build_at_training_sizes(adapnet, ssma, rfbnet, height, width):
    rgb = keras.KerasTensor((1, height, width, 3))
    depth = keras.KerasTensor((1, height, width, 3))
    expected = (1, height, width, NUM_CLASSES)
    assert [s.shape for s in adapnet.compute_output_spec(rgb)] == [expected] * 3
    assert ssma.compute_output_spec({"rgb": rgb, "depth": depth}).shape == expected
    assert [s.shape for s in rfbnet.compute_output_spec({"rgb": rgb, "depth": depth})] == [expected] * 3


def test_rfbnet_pairs_identity_units_from_one_eighth(rfbnet):
    blocks = [layer for layer in rfbnet.layers if isinstance(layer, ResidualFusionBlock)]
    names = [b.name for b in blocks]
    assert names == [f"rfb_s0_u{i}" for i in range(3)] + [f"rfb_s1_u{i}" for i in range(5)] + ["rfb_s2_u0", "rfb_s2_u1"]
    assert [b.gfu.interaction_channels for b in blocks] == [64] * 3 + [128] * 5 + [256] * 2
    assert [b.rgb_unit.dilations for b in blocks] == [  # the official rates (the default)
        (1, 1), (1, 1), (1, 2), (1, 1), (1, 2), (1, 2), (1, 2), (1, 2), (2, 2), (2, 2),
    ]
    assert [b.rgb_unit.dropout for b in blocks] == [0.0] * 9 + [0.7]
    assert all(b.add_point == "R" and b.gfu.rgb_scale == 2 for b in blocks)
    assert rfbnet.get_layer("rgb_block4_unit1").dilations == (2, 2)
    assert rfbnet.get_layer("interaction_entry1_pool").pool_size == (2, 2)
    with pytest.raises(ValueError):
        rfbnet.get_layer("interaction_entry2_pool")  # block 4 keeps the resolution
    assert rfbnet.get_layer("interaction_entry2_conv").filters == 256


def test_transfer_unimodal_encoder_into_rfbnet(adapnet, rfbnet):
    loaded, skipped = transfer_encoder_weights(adapnet, rfbnet, "rgb")
    expected = {"rgb_conv1_conv", "rgb_block1_unit1", "rgb_skip_stride4_conv", "rgb_s0_u0", "rgb_s2_u1", "rgb_easpp"}
    assert expected <= set(loaded)
    assert all(name.startswith("dec_") for name in skipped)
    targets = {f"rgb_{b.name[len('rfb_'):]}": b.rgb_unit for b in rfbnet.layers if isinstance(b, ResidualFusionBlock)}
    for name in loaded:
        target = targets.get(name) or rfbnet.get_layer(name)
        for got, want in zip(target.get_weights(), adapnet.get_layer(name).get_weights()):
            np.testing.assert_array_equal(got, want)
    assert len(loaded) == sum(1 for layer in adapnet.layers if layer.weights and not layer.name.startswith("dec_"))


def test_registry_options():
    assert model_options("adapnet_pp") == {"modality": "rgb", "depth_channels": 3, "aux_losses": False,
                                           "dilations": "official"}
    assert model_options("rfbnet_adapnet_pp")["shrink_depth"] is True
    assert model_options("ssma_adapnet_pp")["shrink_depth"] is False
    with pytest.raises(ValueError, match="aux_losses"):
        build_model("adapnet_pp", NUM_CLASSES, aux_losses="yes")
    with pytest.raises(ValueError, match="aux_losses"):
        build_model("erfnet_enc", NUM_CLASSES, aux_losses=True)
    assert AdapNetPPBackbone().output_stride == 16


def _stage_rates(backbone):
    return [[tuple(unit["config"]["dilations"]) for unit in stage] for stage in backbone.stages]


def test_dilations_option_official_by_default_and_paper():
    """"official" = the released code's rates (SSMA commit 7066905: (1,2) in blocks 2-3, (2,2) in block 4);
    "paper" = the AdapNet++ paper's growing rates. Fusion stages hold block 2 units 2-4, block 3 units 2-6,
    block 4 units 2-3; block 4 unit 1 is the stage-2 entry."""
    official, paper = AdapNetPPBackbone(), AdapNetPPBackbone(dilations="paper")
    assert _stage_rates(official) == [[(1, 1), (1, 1), (1, 2)], [(1, 1), (1, 2), (1, 2), (1, 2), (1, 2)],
                                      [(2, 2), (2, 2)]]
    assert _stage_rates(paper) == [[(1, 1), (1, 1), (1, 2)], [(1, 1), (1, 2), (1, 4), (1, 8), (1, 16)],
                                   [(2, 8), (2, 16)]]
    assert official._unit(3, 0).dilations == (2, 2) and paper._unit(3, 0).dilations == (2, 4)
    assert not official._unit(3, 0).multiscale  # (2, 2): one convolution dilated by 2, as both_atrous=True
    with pytest.raises(ValueError, match="dilations"):
        AdapNetPPBackbone(dilations="code")
    with pytest.raises(ValueError, match="width_divisor"):
        AdapNetPPBackbone(width_divisor=3)
    with pytest.raises(ValueError, match="units"):
        AdapNetPPBackbone(units=(1, 1, 2, 2))
    # the test-only units option keeps each block's last identity units (their rates and dropout)
    assert _stage_rates(AdapNetPPBackbone(units=(1, 2, 2, 2))) == [[(1, 2)], [(1, 2)], [(2, 2)]]
    assert AdapNetPPBackbone(units=(1, 2, 2, 2)).stages[2][0]["config"]["dropout"] == pytest.approx(0.7)


def test_dilations_and_width_divisor_keep_the_structure():
    """Dilations do not change parameter counts; the test-only width_divisor divides them (~1/16² per conv)."""
    counts = {}
    for dilations in ("official", "paper"):
        backbone = AdapNetPPBackbone(dilations=dilations, width_divisor=16)
        counts[dilations] = build_unimodal(backbone, 5).count_params()
    assert counts["official"] == counts["paper"]
    assert counts["official"] < ADAPNET_PP_PARAMS / 100
