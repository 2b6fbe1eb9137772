"""The gated fusion unit (paper Sec. III-C, Fig. 3) against a hand-written composition."""

import numpy as np
import pytest
import tensorflow as tf

import reference_ops as ref
from rfbnet_tf.layers import GatedFusionUnit

RNG = np.random.default_rng(0)
T_RGB = RNG.normal(size=(2, 8, 12, 6)).astype("float32")
T_DEPTH = RNG.normal(size=(2, 4, 6, 6)).astype("float32")
X_RD = RNG.normal(size=(2, 4, 6, 4)).astype("float32")


def _conv(layer, x):
    return ref.conv2d(x, layer.kernel.numpy(), layer.bias.numpy() if layer.bias is not None else None)


def _expected(gfu, t_rgb, t_depth, x_rd=None):
    """Numpy re-statement of the module docstring."""
    t_r = ref.avg_pool(t_rgb, 2)
    hidden = ref.relu(_conv(gfu.in_gate_hidden, np.concatenate([t_r, t_depth], -1)))
    g_rin, g_din = ref.sigmoid(_conv(gfu.in_gate_rgb, hidden)), ref.sigmoid(_conv(gfu.in_gate_depth, hidden))
    fused = _conv(gfu.fuse, np.concatenate([g_rin * t_r, g_din * t_depth], -1))
    if x_rd is not None:
        fused = fused + x_rd
    dw = ref.depthwise_conv2d(fused, gfu.sconv.depthwise_kernel.numpy())
    pw = ref.conv2d(dw, gfu.sconv.pointwise_kernel.numpy())
    bn = gfu.sconv_bn
    inter = ref.relu(ref.batch_norm(pw, *(w.numpy() for w in (bn.gamma, bn.beta, bn.moving_mean, bn.moving_variance)), bn.epsilon))
    g_rout = ref.sigmoid(_conv(gfu.out_gate_rgb, ref.relu(_conv(gfu.out_gate_rgb_hidden, inter))))
    g_dout = ref.sigmoid(_conv(gfu.out_gate_depth, ref.relu(_conv(gfu.out_gate_depth_hidden, inter))))
    com_d = g_dout * _conv(gfu.out_depth, inter)
    com_r_low = g_rout * _conv(gfu.out_rgb, inter)
    return inter, com_r_low, com_d, np.concatenate([g_rin, g_din, g_rout, g_dout], -1)


@pytest.mark.parametrize("first", [True, False])
def test_gfu_matches_hand_written_composition(first):
    gfu = GatedFusionUnit(4, complement_channels=(6, 6), gates=True, rgb_scale=2, gate_channels=3, first=first)
    inputs = [T_RGB, T_DEPTH] if first else [T_RGB, T_DEPTH, X_RD]
    gfu(inputs)
    ref.randomize_batch_norm(gfu.sconv_bn, np.random.default_rng(1))
    out = gfu(inputs, training=False)
    inter, com_r_low, com_d, gates = _expected(gfu, T_RGB, T_DEPTH, None if first else X_RD)
    np.testing.assert_allclose(out["interaction"], inter, atol=1e-5)
    np.testing.assert_allclose(out["depth"], com_d, atol=1e-5)
    np.testing.assert_allclose(out["gates"], gates, atol=1e-6)
    # complementary RGB feature: gated at the depth resolution, then bilinear ×2 to the RGB resolution
    assert out["rgb"].shape == (2, 8, 12, 6)
    expected_rgb = tf.image.resize(com_r_low, (8, 12), method="bilinear").numpy()
    np.testing.assert_allclose(out["rgb"], expected_rgb, atol=1e-5)


def test_gates_are_single_channel_maps_in_unit_interval_at_depth_resolution():
    gfu = GatedFusionUnit(4, complement_channels=(6, 6), rgb_scale=2, first=True)
    gates = gfu([T_RGB * 50, T_DEPTH * 50])["gates"].numpy()  # large inputs push the sigmoids to their limits
    assert gates.shape == (2, 4, 6, 4)  # (B, H/2, W/2, [G_Rin, G_Din, G_Rout, G_Dout])
    assert gates.min() >= 0.0 and gates.max() <= 1.0


def test_interaction_starts_at_zero():
    """first=True (x_RD omitted) is the same as feeding x_RD = 0."""
    first = GatedFusionUnit(4, complement_channels=(6, 6), first=True)
    later = GatedFusionUnit(4, complement_channels=(6, 6), first=False)
    first([T_RGB, T_DEPTH])
    later([T_RGB, T_DEPTH, X_RD])
    later.set_weights(first.get_weights())
    a = first([T_RGB, T_DEPTH], training=False)
    b = later([T_RGB, T_DEPTH, np.zeros_like(X_RD)], training=False)
    c = later([T_RGB, T_DEPTH, X_RD], training=False)
    for key in ("interaction", "rgb", "depth", "gates"):
        np.testing.assert_allclose(a[key], b[key], atol=1e-6)
    assert not np.allclose(a["interaction"], c["interaction"])


def test_without_gates_every_gate_is_one_and_no_gate_weights_exist():
    gfu = GatedFusionUnit(4, complement_channels=(6, 6), gates=False, first=True)
    out = gfu([T_RGB, T_DEPTH])
    np.testing.assert_array_equal(out["gates"], np.ones((2, 4, 6, 4), "float32"))
    assert not [w for w in gfu.weights if "_gate" in w.path.split("/", 1)[1]]


def test_without_complement_only_the_interaction_stream_is_computed():
    gfu = GatedFusionUnit(4, complement_channels=None, first=True)
    out = gfu([T_RGB, T_DEPTH])
    assert set(out) == {"interaction", "gates"}
    np.testing.assert_array_equal(out["gates"][..., 2:], 1.0)


def test_unshrunk_depth_uses_identity_resampling():
    gfu = GatedFusionUnit(4, complement_channels=(6, 6), rgb_scale=1, first=True)
    out = gfu([T_DEPTH, T_DEPTH])
    assert out["rgb"].shape == (2, 4, 6, 6) and out["gates"].shape == (2, 4, 6, 4)


def test_parameter_count():
    gfu = GatedFusionUnit(4, complement_channels=(6, 5), gates=True, gate_channels=3, first=True)
    gfu([T_RGB, T_DEPTH[..., :5]])
    conv = lambda k, cin, cout: k * k * cin * cout + cout  # noqa: E731
    expected = (
        conv(3, 11, 3) + 2 * conv(3, 3, 1)  # shared input-gate conv + two heads
        + conv(1, 11, 4)  # fuse
        + 9 * 4 + 4 * 4 + 2 * 4  # separable conv (no bias) + BN gamma/beta
        + 2 * (conv(3, 4, 3) + conv(3, 3, 1))  # two output gate networks
        + conv(1, 4, 6) + conv(1, 4, 5)  # complement projections
    )
    assert sum(int(np.prod(w.shape)) for w in gfu.trainable_weights) == expected


@pytest.mark.parametrize(
    "kwargs",
    [
        {"interaction_channels": 0},
        {"interaction_channels": 4, "complement_channels": (6,)},
        {"interaction_channels": 4, "gates": "yes"},
        {"interaction_channels": 4, "rgb_scale": 0},
        {"interaction_channels": 4, "gate_channels": -1},
    ],
)
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError, match="received"):
        GatedFusionUnit(**kwargs)


def test_wrong_number_of_inputs():
    with pytest.raises(ValueError, match="takes 3 inputs"):
        GatedFusionUnit(4, first=False)([T_RGB, T_DEPTH])
