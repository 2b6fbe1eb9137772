"""ERFNet blocks checked against an independent numpy implementation of the official PyTorch blocks."""

import keras
import numpy as np
import pytest

import reference_ops as ref
from rfbnet_tf.layers import DownsamplerBlock, NonBottleneck1D


def _bn(layer):
    g, b, m, v = (w.numpy() for w in (layer.gamma, layer.beta, layer.moving_mean, layer.moving_variance))
    return lambda x: ref.batch_norm(x, g, b, m, v, layer.epsilon)


def test_downsampler_matches_numpy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 8, 12, 3)).astype("float32")
    block = DownsamplerBlock(16)
    y = block(x, training=False)
    ref.randomize_batch_norm(block.bn, rng)
    y = block(x, training=False).numpy()
    kernel, bias = block.conv.kernel.numpy(), block.conv.bias.numpy()
    expected = ref.relu(_bn(block.bn)(np.concatenate([ref.conv2d(x, kernel, bias, stride=2), ref.max_pool2(x)], -1)))
    assert y.shape == (2, 4, 6, 16)
    np.testing.assert_allclose(y, expected, atol=1e-5)
    assert kernel.shape == (3, 3, 3, 13)
    assert block.bn.epsilon == 1e-3
    assert block.count_params() == 13 * 27 + 13 + 4 * 16


def test_non_bottleneck_1d_matches_numpy():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 9, 10, 8)).astype("float32")
    unit = NonBottleneck1D(8, dilation=2, dropout=0.3)
    unit(x)
    ref.randomize_batch_norm(unit.bn1, rng)
    ref.randomize_batch_norm(unit.bn2, rng)
    w = {name: (getattr(unit, name).kernel.numpy(), getattr(unit, name).bias.numpy())
         for name in ("conv3x1_1", "conv1x3_1", "conv3x1_2", "conv1x3_2")}
    h = ref.relu(ref.conv2d(x, *w["conv3x1_1"]))
    h = ref.relu(_bn(unit.bn1)(ref.conv2d(h, *w["conv1x3_1"])))
    h = ref.relu(ref.conv2d(h, *w["conv3x1_2"], dilation=(2, 1)))
    h = _bn(unit.bn2)(ref.conv2d(h, *w["conv1x3_2"], dilation=(1, 2)))
    expected = ref.relu(x + h)
    np.testing.assert_allclose(unit(x, training=False).numpy(), expected, atol=1e-5)
    assert w["conv3x1_1"][0].shape == (3, 1, 8, 8) and w["conv1x3_2"][0].shape == (1, 3, 8, 8)
    # 4 convs with bias + 2 BN (gamma, beta trainable)
    assert sum(int(np.prod(v.shape)) for v in unit.trainable_weights) == 4 * (8 * 8 * 3 + 8) + 2 * 2 * 8


def test_non_bottleneck_1d_tap_is_identity_and_dropout_only_in_training():
    x = np.random.default_rng(2).normal(size=(1, 6, 6, 4)).astype("float32")
    unit = NonBottleneck1D(4, dilation=1, dropout=0.5)
    np.testing.assert_array_equal(unit.tap(x), x)
    np.testing.assert_allclose(unit(x, training=False), unit(x, training=False))
    assert unit.tap_channels == unit.trunk_channels == 4


@pytest.mark.parametrize(
    "kwargs", [{"channels": 0}, {"channels": 8, "dilation": 0}, {"channels": 8, "dropout": 1.0}, {"channels": 2.5}]
)
def test_non_bottleneck_1d_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError, match="received"):
        NonBottleneck1D(**kwargs)


def test_downsampler_rejects_too_many_input_channels():
    with pytest.raises(ValueError, match="received input shape"):
        DownsamplerBlock(16)(np.zeros((1, 4, 4, 16), "float32"))
    with pytest.raises(ValueError, match="received"):
        DownsamplerBlock(-3)


def test_non_bottleneck_1d_rejects_wrong_channels():
    with pytest.raises(ValueError, match="received input shape"):
        NonBottleneck1D(8)(np.zeros((1, 4, 4, 6), "float32"))


def test_bn_momentum_matches_pytorch_default():
    unit = NonBottleneck1D(4)
    unit(np.zeros((1, 4, 4, 4), "float32"))
    assert unit.bn1.momentum == pytest.approx(0.9)
    assert isinstance(unit.bn1, keras.layers.BatchNormalization)
