"""The residual fusion block, Eq. (1)-(3), checked numerically against compositions of its parts."""

import keras
import numpy as np
import pytest

from rfbnet_tf.layers import NonBottleneck1D, ResidualFusionBlock

RNG = np.random.default_rng(0)
X_RGB = RNG.normal(size=(2, 8, 12, 8)).astype("float32")
X_DEPTH = RNG.normal(size=(2, 4, 6, 8)).astype("float32")
X_RD = RNG.normal(size=(2, 4, 6, 4)).astype("float32")
TEMPLATE = NonBottleneck1D(8, dilation=2, dropout=0.3)


def _block(add_point="R", gates=True, first=False, scale=2):
    block = ResidualFusionBlock(TEMPLATE, gates=gates, add_point=add_point, rgb_scale=scale, first=first)
    block([X_RGB, X_DEPTH] if first else [X_RGB, X_DEPTH, X_RD])
    # non-zero biases everywhere so that the complementary features are far from zero
    block.set_weights([w + RNG.normal(0, 0.1, w.shape) for w in block.get_weights()])
    return block


def _unit_copy(unit):
    copy = NonBottleneck1D(8, dilation=2, dropout=0.3)
    copy(X_RGB)
    copy.set_weights(unit.get_weights())
    return copy


def test_zeroed_gfu_output_gives_two_independent_residual_units():
    block = _block("R")
    for proj in (block.gfu.out_rgb, block.gfu.out_depth):
        proj.set_weights([np.zeros_like(w) for w in proj.get_weights()])
    rgb, depth, _, _ = block([X_RGB, X_DEPTH, X_RD], training=False)
    np.testing.assert_allclose(rgb, _unit_copy(block.rgb_unit)(X_RGB, training=False), atol=1e-5)
    np.testing.assert_allclose(depth, _unit_copy(block.depth_unit)(X_DEPTH, training=False), atol=1e-5)


@pytest.mark.parametrize("add_point", ["R", "T"])
def test_add_point_against_hand_written_composition(add_point):
    block = _block(add_point)
    rgb, depth, inter, gates = block([X_RGB, X_DEPTH, X_RD], training=False)
    fusion = block.gfu([X_RGB, X_DEPTH, X_RD], training=False)  # the NB-1D tap is the unit's input
    com_r, com_d = fusion["rgb"].numpy(), fusion["depth"].numpy()
    assert np.abs(com_r).mean() > 1e-3 and np.abs(com_d).mean() > 1e-3
    f_r = lambda t: block.rgb_unit.residual_from_tap(t, training=False).numpy()  # noqa: E731
    f_d = lambda t: block.depth_unit.residual_from_tap(t, training=False).numpy()  # noqa: E731
    relu = lambda v: np.maximum(v, 0)  # noqa: E731
    if add_point == "R":  # Eq. (2)-(3): x + F(x + x_com), ERFNet's ReLU after the sum
        expected_rgb, expected_depth = relu(X_RGB + f_r(X_RGB + com_r)), relu(X_DEPTH + f_d(X_DEPTH + com_d))
    else:  # point "T": the complementary feature joins the trunk
        expected_rgb, expected_depth = relu(X_RGB + com_r + f_r(X_RGB)), relu(X_DEPTH + com_d + f_d(X_DEPTH))
    np.testing.assert_allclose(rgb, expected_rgb, atol=1e-5)
    np.testing.assert_allclose(depth, expected_depth, atol=1e-5)
    np.testing.assert_allclose(inter, fusion["interaction"], atol=1e-6)
    np.testing.assert_allclose(gates, fusion["gates"], atol=1e-6)


def test_r_and_t_differ_with_the_same_weights():
    r_block, t_block = _block("R"), _block("T")
    t_block.set_weights(r_block.get_weights())
    r_out = r_block([X_RGB, X_DEPTH, X_RD], training=False)[0]
    t_out = t_block([X_RGB, X_DEPTH, X_RD], training=False)[0]
    assert np.abs(r_out - t_out).max() > 1e-3


def test_no_add_point_leaves_the_units_unchanged_whatever_the_gfu():
    block = _block(None)
    rgb, depth, inter, gates = block([X_RGB, X_DEPTH, X_RD], training=False)
    np.testing.assert_allclose(rgb, _unit_copy(block.rgb_unit)(X_RGB, training=False), atol=1e-5)
    np.testing.assert_allclose(depth, _unit_copy(block.depth_unit)(X_DEPTH, training=False), atol=1e-5)
    assert inter.shape == (2, 4, 6, 4)
    np.testing.assert_array_equal(gates[..., 2:], 1.0)


def test_shapes_and_gates_with_shrunk_depth():
    block = _block("R", first=True)
    rgb, depth, inter, gates = block([X_RGB, X_DEPTH], training=False)
    assert rgb.shape == (2, 8, 12, 8) and depth.shape == (2, 4, 6, 8)
    assert inter.shape == (2, 4, 6, 4)  # half the depth channels, depth resolution
    assert gates.shape == (2, 4, 6, 4)  # (B, H/2, W/2, 4)
    assert float(keras.ops.min(gates)) >= 0.0 and float(keras.ops.max(gates)) <= 1.0


def test_units_have_separate_weights_and_the_template_config():
    block = _block("R")
    assert block.rgb_unit.get_config()["dilation"] == 2 and block.depth_unit.get_config()["dropout"] == 0.3
    assert block.rgb_unit is not block.depth_unit
    assert not np.allclose(block.rgb_unit.get_weights()[0], block.depth_unit.get_weights()[0])


@pytest.mark.parametrize(
    "kwargs, match",
    [({"add_point": "X"}, "add_point"), ({"gates": 1}, "gates"), ({"rgb_scale": 0}, "scale")],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ResidualFusionBlock(TEMPLATE, **kwargs)


def test_bad_residual_unit():
    with pytest.raises(ValueError, match="ResidualUnit"):
        ResidualFusionBlock(keras.layers.Dense(3))


def test_t_input_is_the_plain_unit_on_the_shifted_input():
    """Point "T_input" (the other reading of Fig. 4a): x' = x + x_com, then the unit as it is, x' + F(x')."""
    block = _block("T_input")
    rgb, depth, _, _ = block([X_RGB, X_DEPTH, X_RD], training=False)
    fusion = block.gfu([X_RGB, X_DEPTH, X_RD], training=False)
    com_r, com_d = fusion["rgb"].numpy(), fusion["depth"].numpy()
    np.testing.assert_allclose(rgb, _unit_copy(block.rgb_unit)(X_RGB + com_r, training=False), atol=1e-5)
    np.testing.assert_allclose(depth, _unit_copy(block.depth_unit)(X_DEPTH + com_d, training=False), atol=1e-5)
    t_block = _block("T")
    t_block.set_weights(block.get_weights())  # same parameters as "T", another function
    assert np.abs(t_block([X_RGB, X_DEPTH, X_RD], training=False)[0] - rgb).max() > 1e-3
