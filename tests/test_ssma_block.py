"""SSMA fusion block (Valada et al. 2019) against a numpy composition."""

import numpy as np
import pytest

import reference_ops as ref
from rfbnet_tf.layers import SSMABlock


def test_ssma_block_matches_numpy():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(2, 4, 6, 16)).astype("float32")
    b = rng.normal(size=(2, 4, 6, 16)).astype("float32")
    block = SSMABlock(8, reduction=16)
    block([a, b])
    ref.randomize_batch_norm(block.bn, rng)
    x = np.concatenate([a, b], -1)
    s = ref.sigmoid(ref.conv2d(ref.relu(ref.conv2d(x, block.squeeze.kernel.numpy(), block.squeeze.bias.numpy())),
                               block.excite.kernel.numpy(), block.excite.bias.numpy()))
    y = ref.conv2d(s * x, block.project.kernel.numpy())
    bn = block.bn
    expected = ref.batch_norm(y, *(w.numpy() for w in (bn.gamma, bn.beta, bn.moving_mean, bn.moving_variance)), 1e-5)
    np.testing.assert_allclose(block([a, b], training=False), expected, atol=1e-5)
    # official widths: 2C -> 2C/16 (3x3, bias) -> 2C (3x3, bias) -> C (1x1, no bias) + BN
    assert block.squeeze.kernel.shape == (3, 3, 32, 2) and block.excite.kernel.shape == (3, 3, 2, 32)
    assert block.project.kernel.shape == (1, 1, 32, 8) and block.project.bias is None


def test_skip_variant_has_a_biased_3x3_output_and_no_bn():
    block = SSMABlock(24, reduction=6, output_kernel=3, output_bias=True, output_bn=False)
    out = block([np.zeros((1, 4, 4, 24), "float32")] * 2)
    assert out.shape == (1, 4, 4, 24)
    assert block.squeeze.kernel.shape == (3, 3, 48, 8) and block.project.kernel.shape == (3, 3, 48, 24)
    assert block.bn is None
    # official SSMA skip block parameter count (conv513 + conv514 + conv552)
    assert block.count_params() == (9 * 48 * 8 + 8) + (9 * 8 * 48 + 48) + (9 * 48 * 24 + 24)


def test_three_streams_of_different_widths():
    block = SSMABlock(128)
    out = block([np.zeros((1, 2, 2, 128), "float32"), np.zeros((1, 2, 2, 128), "float32"), np.zeros((1, 2, 2, 64), "float32")])
    assert out.shape == (1, 2, 2, 128) and block.squeeze.kernel.shape == (3, 3, 320, 20)


@pytest.mark.parametrize("kwargs", [{"out_channels": 0}, {"out_channels": 8, "reduction": 0}])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError, match="received"):
        SSMABlock(**kwargs)


def test_too_few_channels_for_the_reduction():
    with pytest.raises(ValueError, match="received 8"):
        SSMABlock(4, reduction=16)([np.zeros((1, 2, 2, 4), "float32")] * 2)
