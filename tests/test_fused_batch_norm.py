"""``training.fused_batch_norm``: batch norm's training pass on ``FusedBatchNormV3`` computes what Keras'
``BatchNormalization`` computes — outputs, gradients of the loss with respect to the inputs and every weight, and
the moving statistics — checked against the Keras layer and against a numpy restatement of the batch statistics;
inference, configs and synchronized layers are left alone, and the train binary's step switches it on."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from rfbnet_tf.layers.erfnet_blocks import DownsamplerBlock, NonBottleneck1D
from rfbnet_tf.training import distribution
from rfbnet_tf.training.fused_batch_norm import use_fused_batch_norm
from rfbnet_tf.training.optimization import make_optimizer, poly_schedule
from rfbnet_tf.training.steps import make_train_step


PRE_BN_BIASES = ("down/conv/bias", "nb/conv1x3_1/bias", "nb/conv1x3_2/bias")


def small_model(seed=3):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((None, None, 3))
    x = DownsamplerBlock(16, name="down")(inputs)
    x = NonBottleneck1D(16, dilation=2, name="nb")(x)
    return keras.Model(inputs, keras.layers.Conv2D(4, 1, name="head")(x))


def loss_and_gradients(model, images):
    with tf.GradientTape() as tape:
        tape.watch(images)
        outputs = model(images, training=True)
        loss = tf.reduce_sum(tf.sin(outputs))  # a non-linear loss: the gradients reach every BN term
    gradients = tape.gradient(loss, [images] + model.trainable_variables)
    return outputs.numpy(), [g.numpy() for g in gradients]


@pytest.fixture
def images():
    return tf.constant(np.random.default_rng(0).normal(1.0, 2.0, (2, 24, 32, 3)).astype(np.float32))


def test_outputs_gradients_and_moving_statistics_equal_keras(images):
    keras_model, fused_model = small_model(), small_model()
    for layer in distribution.batch_norm_layers(keras_model):  # non-trivial moving statistics to start from
        layer.moving_mean.assign(np.full(layer.moving_mean.shape, 0.3, np.float32))
    fused_model.set_weights(keras_model.get_weights())
    assert use_fused_batch_norm(fused_model) == len(distribution.batch_norm_layers(fused_model)) == 3
    expected, expected_gradients = loss_and_gradients(keras_model, images)
    actual, actual_gradients = loss_and_gradients(fused_model, images)
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4)
    names = ["images"] + [v.path for v in keras_model.trainable_variables]
    largest = max(float(np.max(np.abs(g))) for g in expected_gradients)
    for name, want, got in zip(names, expected_gradients, actual_gradients):
        if name in PRE_BN_BIASES:  # BN removes a constant: the gradient is 0 up to rounding on both paths
            assert max(np.max(np.abs(want)), np.max(np.abs(got))) < 1e-3 * largest, name
            continue
        scale = float(np.max(np.abs(want)))
        np.testing.assert_allclose(got / scale, want / scale, atol=1e-4, err_msg=name)
    for want, got in zip(keras_model.non_trainable_variables, fused_model.non_trainable_variables):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-6)


def test_moving_statistics_follow_the_biased_batch_variance():
    """The fused kernel returns Bessel's correction; the layer keeps Keras' biased variance (numpy restated)."""
    inputs = keras.Input((None, None, 5))
    layer = keras.layers.BatchNormalization(momentum=0.9)
    model = keras.Model(inputs, layer(inputs))
    use_fused_batch_norm(model)
    x = np.random.default_rng(1).normal(2.0, 3.0, (2, 3, 4, 5)).astype(np.float32)
    outputs = model(x, training=True).numpy()
    mean, variance = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    np.testing.assert_allclose(layer.moving_mean.numpy(), 0.1 * mean, rtol=1e-5)
    np.testing.assert_allclose(layer.moving_variance.numpy(), 0.9 + 0.1 * variance, rtol=1e-5)
    np.testing.assert_allclose(outputs, (x - mean) / np.sqrt(variance + layer.epsilon), atol=1e-4)


def test_inference_config_and_weights_are_untouched(images):
    model = small_model()
    before = model(images, training=False).numpy()
    configs = [layer.get_config() for layer in distribution.batch_norm_layers(model)]
    use_fused_batch_norm(model)
    np.testing.assert_array_equal(model(images, training=False).numpy(), before)
    assert [layer.get_config() for layer in distribution.batch_norm_layers(model)] == configs
    assert use_fused_batch_norm(model) == 3  # idempotent


def test_synchronized_layers_stay_on_keras():
    model = small_model()
    distribution.synchronize_batch_norm(model)
    assert use_fused_batch_norm(model) == 0
    assert all("call" not in vars(layer) for layer in distribution.batch_norm_layers(model))


def test_mixed_bfloat16_computes_in_bfloat16_and_matches_keras(images):
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        keras_model, fused_model = small_model(), small_model()
    finally:
        keras.mixed_precision.set_global_policy(previous)
    fused_model.set_weights(keras_model.get_weights())
    use_fused_batch_norm(fused_model)
    expected, actual = keras_model(images, training=True), fused_model(images, training=True)
    assert actual.dtype == expected.dtype == tf.bfloat16
    np.testing.assert_allclose(actual.numpy().astype(np.float32), expected.numpy().astype(np.float32),
                               rtol=0.05, atol=0.05)


def test_the_train_binary_step_uses_the_fused_kernel(images):
    model = small_model()
    optimizer = make_optimizer("adam", poly_schedule(1e-3, 10))
    optimizer.build(model.trainable_variables)
    step = tf.Variable(0, dtype=tf.int64)
    make_train_step(model, optimizer, tf.distribute.get_strategy(), step, num_classes=4, weight_decay=0.0)
    assert all("call" in vars(layer) for layer in distribution.batch_norm_layers(model))
    plain = small_model()
    make_train_step(plain, optimizer, tf.distribute.get_strategy(), step, num_classes=4, weight_decay=0.0,
                    fused_batch_norm=False)
    assert not any("call" in vars(layer) for layer in distribution.batch_norm_layers(plain))


def test_float64_inputs_stay_on_keras_ops():
    """The fused kernel has no float64: such inputs (``keras.config.set_floatx("float64")``) keep full precision."""
    inputs = keras.Input((None, None, 2), dtype="float64")
    layer = keras.layers.BatchNormalization(dtype="float64")
    model = keras.Model(inputs, layer(inputs))
    use_fused_batch_norm(model)
    x = np.random.default_rng(2).normal(1.0, 1.0, (2, 3, 3, 2)) * (1 + 1e-9)
    outputs = model(x, training=True).numpy()
    assert outputs.dtype == np.float64
    expected = (x - x.mean(axis=(0, 1, 2))) / np.sqrt(x.var(axis=(0, 1, 2)) + layer.epsilon)
    np.testing.assert_allclose(outputs, expected, rtol=1e-12, atol=1e-12)
