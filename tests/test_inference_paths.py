"""BN folding (rfbnet_tf.models.batch_norm_folding) and the optimised inference path (rfbnet_tf.profiling.model_latency):
the folded model computes the same function (≤ 1e-4) on random weights with non-trivial BN statistics, for every
folding rule and the model families; the folded weights equal a hand computation; what must not fold does not."""

import keras
import numpy as np
import pytest
from keras import layers

from rfbnet_tf.layers.easpp import EASPP
from rfbnet_tf.layers.erfnet_blocks import NonBottleneck1D
from rfbnet_tf.layers.preact_bottleneck import PreActBottleneck
from rfbnet_tf.layers.residual_fusion_block import ResidualFusionBlock
from rfbnet_tf.layers.ssma_block import SSMABlock
from rfbnet_tf.models import build_model, is_multimodal
from rfbnet_tf.models.batch_norm_folding import (
    FoldedBatchNorm,
    batch_norm_count,
    fold_batch_norm,
    fold_scale_shift,
    folded_conv_weights,
    functional_fold_pairs,
)
from rfbnet_tf.profiling import model_latency
from rfbnet_tf.profiling.model_latency import optimized_inference, optimized_model, output_difference, plain_inference
from tests import short_backbones

TOLERANCE = 1e-4

# The short ERFNetEnc (tests/short_backbones.py): no assertion here depends on the backbone's depth.
_short_erfnet = pytest.fixture(scope="module", autouse=True)(short_backbones.short_erfnet)


def randomize(model, seed=0):
    """Random weights everywhere, and BN statistics far from the identity (mean ≠ 0, var ≠ 1, γ ≠ 1, β ≠ 0)."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        name = w.path.split("/")[-1]
        if name == "moving_mean":
            value = rng.normal(0.0, 0.5, w.shape)
        elif name == "moving_variance":
            value = rng.uniform(0.3, 2.5, w.shape)
        elif name == "gamma":
            value = rng.uniform(0.5, 1.5, w.shape)
        elif name == "beta":
            value = rng.normal(0.0, 0.3, w.shape)
        elif name == "bias":
            value = rng.normal(0.0, 0.2, w.shape)
        else:
            continue
        w.assign(value.astype("float32"))
    return model


def assert_same_function(model, folded, inputs):
    a = keras.ops.convert_to_numpy(model(inputs, training=False))
    b = keras.ops.convert_to_numpy(folded(inputs, training=False))
    scale = max(1.0, float(np.abs(a).max()))
    np.testing.assert_allclose(b, a, rtol=0, atol=TOLERANCE * scale)
    assert float(np.abs(a).max()) > 1e-3  # a non-trivial output


def single_layer_model(layer, shape, seed=0):
    inp = keras.Input(shape)
    return randomize(keras.Model(inp, layer(inp)), seed)


def rng_input(shape, seed=1):
    return np.random.default_rng(seed).normal(size=(2,) + shape).astype("float32")


def test_folded_conv_weights_equal_hand_computation():
    inp = keras.Input((None, None, 2))
    conv = layers.Conv2D(3, 1, name="conv")
    bn = layers.BatchNormalization(epsilon=0.25, name="bn")
    model = keras.Model(inp, bn(conv(inp)))
    kernel = np.arange(6, dtype="float32").reshape(1, 1, 2, 3)
    conv.set_weights([kernel, np.array([1.0, 2.0, 3.0], "float32")])
    # gamma, beta, moving_mean, moving_variance
    bn.set_weights([np.array([2.0, 1.0, 0.5], "float32"), np.array([0.0, 1.0, -1.0], "float32"),
                    np.array([1.0, 0.0, 2.0], "float32"), np.array([0.75, 3.75, 0.0], "float32")])
    scale, shift = fold_scale_shift(bn)
    # s = γ / sqrt(var + ε): 2/1, 1/2, 0.5/0.5; t = β − μ·s
    np.testing.assert_allclose(scale, [2.0, 0.5, 1.0])
    np.testing.assert_allclose(shift, [-2.0, 1.0, -3.0])
    new_kernel, new_bias = folded_conv_weights(conv, scale, shift)
    np.testing.assert_allclose(new_kernel[0, 0], [[0.0, 0.5, 2.0], [6.0, 2.0, 5.0]])
    np.testing.assert_allclose(new_bias, [1 * 2 - 2, 2 * 0.5 + 1, 3 * 1 - 3])
    folded = fold_batch_norm(model)
    assert batch_norm_count(folded) == 0
    x = np.random.default_rng(0).normal(size=(1, 3, 4, 2)).astype("float32")
    assert_same_function(model, folded, x)


@pytest.mark.parametrize(
    "make_conv",
    [
        lambda: layers.Conv2D(6, 3, padding="same", dilation_rate=2, use_bias=False),
        lambda: layers.SeparableConv2D(6, 3, padding="same", use_bias=False),
        lambda: layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2),
        lambda: layers.Conv2DTranspose(6, 4, strides=2, padding="same", use_bias=False),
    ],
    ids=["dilated_conv", "separable", "depthwise", "transposed"],
)
def test_every_convolution_type_folds(make_conv):
    inp = keras.Input((8, 8, 3))
    model = randomize(keras.Model(inp, layers.ReLU()(layers.BatchNormalization()(make_conv()(inp)))))
    assert len(functional_fold_pairs(model)) == 1
    folded = fold_batch_norm(model)
    assert batch_norm_count(folded) == 0
    assert_same_function(model, folded, rng_input((8, 8, 3)))


def test_conv_read_by_another_layer_is_not_folded():
    inp = keras.Input((8, 8, 4))
    y = layers.Conv2D(4, 3, padding="same")(inp)
    out = layers.Add()([layers.BatchNormalization()(y), y])  # y also feeds the sum: folding would change it
    model = randomize(keras.Model(inp, out))
    assert functional_fold_pairs(model) == {}
    folded = fold_batch_norm(model)
    assert batch_norm_count(folded) == 1
    assert_same_function(model, folded, rng_input((8, 8, 4)))


def _rfb(unit, shapes):
    inputs = [keras.Input(s) for s in shapes]
    block = ResidualFusionBlock(unit, gates=True, add_point="R", rgb_scale=2, first=False)
    outputs = block(inputs)
    return keras.Model(inputs, outputs[:3])


@pytest.mark.parametrize(
    "build, shape, bn_before, bn_after",
    [
        (lambda: NonBottleneck1D(8, dilation=2), (8, 8, 8), 2, 0),
        # pre_bn stays (it follows the residual sum), bn1 (after the tap conv) and bn2 fold
        (lambda: PreActBottleneck(16, dilations=(1, 2)), (8, 8, 16), 3, 1),
        (lambda: PreActBottleneck(16, stride=2, projection=True, preactivate=False), (8, 8, 8), 2, 0),
        (lambda: EASPP(out_channels=8, branch_channels=4, rates=(1, 2)), (8, 8, 6), 11, 0),  # 1 + 2·4 + 1 + 1
        (lambda: SSMABlock(8, reduction=2), None, 1, 0),
    ],
    ids=["non_bottleneck_1d", "multiscale_preact", "projection_preact", "easpp", "ssma"],
)
def test_composite_layers_fold_to_the_same_function(build, shape, bn_before, bn_after):
    if shape is None:  # SSMA takes two streams
        inputs = [keras.Input((8, 8, 6)), keras.Input((8, 8, 4))]
        model = randomize(keras.Model(inputs, build()(inputs)))
        x = [rng_input((8, 8, 6)), rng_input((8, 8, 4), seed=2)]
    else:
        model = single_layer_model(build(), shape)
        x = rng_input(shape)
    folded = fold_batch_norm(model)
    assert (batch_norm_count(model), batch_norm_count(folded)) == (bn_before, bn_after)
    assert_same_function(model, folded, x)


def test_fusion_block_keeps_the_tap_convolution_unfolded():
    # RFB of two pre-activation bottlenecks: the GFU reads each unit's tap (conv1 output), so bn1 must stay;
    # per unit pre_bn + bn1 stay and bn2 folds; the GFU's sconv_bn folds: 7 → 4.
    model = randomize(_rfb(PreActBottleneck(16), [(8, 8, 16), (4, 4, 16), (4, 4, 2)]))
    folded = fold_batch_norm(model)
    assert (batch_norm_count(model), batch_norm_count(folded)) == (7, 4)
    x = [rng_input((8, 8, 16)), rng_input((4, 4, 16), 2), rng_input((4, 4, 2), 3)]
    for a, b in zip(model(x, training=False), folded(x, training=False)):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(b), keras.ops.convert_to_numpy(a), atol=TOLERANCE)
    # ERFNet units have no tap convolution: everything folds (2 per unit + the GFU's).
    model = randomize(_rfb(NonBottleneck1D(8, dilation=2), [(8, 8, 8), (4, 4, 8), (4, 4, 4)]))
    assert (batch_norm_count(model), batch_norm_count(fold_batch_norm(model))) == (5, 0)


@pytest.mark.parametrize(
    "name, bn_after",
    [("erfnet_enc", 3), ("ssma_erfnet_enc", 6), ("rfbnet_erfnet_enc", 6), ("adapnet_pp", 17)],
)
def test_model_families_fold_to_the_same_function(name, bn_after):
    # ERFNet: only the 3 downsampler BNs per encoder stay (BN after concat(conv, maxpool)). AdapNet++: the 13
    # units with their own pre-activation BN, conv0_bn on the image and the three block-output BNs stay.
    keras.utils.set_random_seed(0)
    model = randomize(build_model(name, 5))
    x = rng_input((32, 32, 3))[:1]
    inputs = {"rgb": x, "depth": rng_input((32, 32, 3), 4)[:1]} if is_multimodal(name) else x
    folded, info = optimized_model(model)
    assert info["batch_norm_after"] == bn_after
    assert info["folded"] == batch_norm_count(model) - bn_after
    assert_same_function(model, folded, inputs)
    if name == "erfnet_enc":  # the compiled paths: tf.function vs folded + XLA
        diff, scale = output_difference(plain_inference(model, inputs)(), optimized_inference(folded, inputs, True)())
        assert diff <= TOLERANCE * max(1.0, scale)


def test_folded_model_owns_copies_and_leaves_the_original_alone():
    inp = keras.Input((4, 4, 2))
    model = randomize(keras.Model(inp, layers.BatchNormalization()(layers.Conv2D(3, 1)(inp))))
    before = [w.copy() for w in model.get_weights()]
    folded = fold_batch_norm(model)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert any(isinstance(layer, FoldedBatchNorm) for layer in folded.layers)
    x = rng_input((4, 4, 2))
    reference = keras.ops.convert_to_numpy(folded(x))
    model.set_weights([w * 0 for w in model.get_weights()])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(folded(x)), reference)


def test_bad_arguments_raise_value_error():
    with pytest.raises(ValueError, match="functional keras.Model"):
        fold_batch_norm(layers.Dense(2))
    inp = keras.Input((4, 4, 2))
    conv = layers.Conv2D(3, 1)
    model = keras.Model(inp, conv(inp))
    with pytest.raises(ValueError, match="BN of 2 channels"):
        folded_conv_weights(conv, np.ones(2), np.zeros(2))
    assert model is not None


def test_bf16_supported_reads_the_cpu_flags(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx512f avx512_bf16 amx_tile\n")
    assert model_latency.bf16_supported(str(path))
    path.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f\n")
    assert not model_latency.bf16_supported(str(path))
    assert not model_latency.bf16_supported(str(tmp_path / "missing"))
