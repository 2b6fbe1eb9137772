"""Mixed precision on the CPU: the train binary's step (``training.steps.make_train_step``, the optimizer of
``training.optimization``) under ``mixed_float16`` (dynamic loss scaling) and ``mixed_bfloat16``, on a small model
of our ERFNet layers (downsampler, dilated non-bottleneck-1D, head, bilinear upsampling, float32 logits — the
full encoder costs minutes of tracing on the shared CPUs): the convolutions compute in 16 bits, the variables and
the logits stay float32, the loss is cross-entropy + the float32 weight decay, every kernel moves (within the
steps that dynamic loss scaling may skip), and the updated model's logits equal those of a float32 copy of its
weights to 16-bit precision."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from rfbnet_tf.layers.erfnet_blocks import DownsamplerBlock, NonBottleneck1D
from rfbnet_tf.layers.stream_resampling import BilinearUpsample
from rfbnet_tf.training.optimization import make_optimizer, poly_schedule
from rfbnet_tf.training.steps import make_train_step

SIZE = (16, 24)
NUM_CLASSES = 3


def build_model():
    """Our ERFNet units in the order of the encoder, under the global dtype policy (as ``models`` build them)."""
    inputs = keras.Input((None, None, 3), name="rgb")
    x = DownsamplerBlock(16, name="down1")(inputs)
    x = NonBottleneck1D(16, dilation=2, dropout=0.1, name="nb")(x)
    x = keras.layers.Conv2D(NUM_CLASSES, 1, name="head")(x)
    x = BilinearUpsample(2, name="upsample")(x)
    return keras.Model(inputs, keras.layers.Activation("linear", dtype="float32", name="logits")(x))


@pytest.fixture(autouse=True)
def restore_policy():
    previous = keras.mixed_precision.global_policy()
    yield
    keras.mixed_precision.set_global_policy(previous)


@pytest.mark.parametrize("policy, compute_dtype, tolerance", [
    ("mixed_float16", "float16", 2e-2),
    ("mixed_bfloat16", "bfloat16", 1.5e-1),  # 8 significand bits
])
def test_training_step_under_mixed_precision(policy, compute_dtype, tolerance):
    keras.mixed_precision.set_global_policy(policy)
    keras.utils.set_random_seed(0)
    model = build_model()
    conv = next(layer for layer in model.layers if "down1" in layer.name)
    assert conv.compute_dtype == compute_dtype
    assert all(v.dtype == "float32" for v in model.trainable_variables)
    optimizer = make_optimizer("adam", poly_schedule(1e-3, 10), mixed_precision=policy == "mixed_float16")
    assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer) == (policy == "mixed_float16")
    optimizer.build(model.trainable_variables)
    step = tf.Variable(0, dtype=tf.int64)
    train_step = make_train_step(model, optimizer, tf.distribute.get_strategy(), step, num_classes=NUM_CLASSES,
                                 weight_decay=1e-4, modality="rgb")
    rng = np.random.default_rng(0)
    images = rng.standard_normal((2, *SIZE, 3)).astype(np.float32)
    labels = rng.integers(0, NUM_CLASSES, (2, *SIZE)).astype(np.int32)
    before = [v.numpy() for v in model.trainable_variables]
    iterator = iter(tf.data.Dataset.from_tensors(({"rgb": images}, labels)).repeat())
    result = train_step(iterator)
    loss = float(result["loss"])
    assert np.isfinite(loss) and float(result["cross_entropy"]) > 0, result
    decay = 1e-4 * sum(float(np.sum(b.astype(np.float64) ** 2)) / 2 for b, v in zip(before, model.trainable_variables)
                       if v.path.split("/")[-1] in ("kernel", "depthwise_kernel", "pointwise_kernel"))
    assert float(result["weight_decay"]) == pytest.approx(decay, rel=1e-5)  # float32 variables, not 16-bit
    assert loss == pytest.approx(float(result["cross_entropy"]) + decay, rel=1e-5)
    assert int(step.numpy()) == 1

    def kernels_moved():
        kernels = [(b, v.numpy()) for b, v in zip(before, model.trainable_variables) if "kernel" in v.path]
        assert all(np.isfinite(a).all() for _, a in kernels)
        return all(not np.array_equal(b, a) for b, a in kernels)

    for _ in range(3):  # float16: a step whose scaled gradients overflow is skipped and the loss scale halved
        if kernels_moved():
            break
        assert policy == "mixed_float16"
        scale = float(optimizer.dynamic_scale)
        train_step(iterator)
        assert float(optimizer.dynamic_scale) <= scale
    assert kernels_moved()
    logits = model(images, training=False)
    assert logits.dtype == "float32"  # the head's output layer is float32 under every policy
    keras.mixed_precision.set_global_policy("float32")
    reference_model = build_model()
    reference_model.set_weights(model.get_weights())
    reference = reference_model(images, training=False).numpy()
    error = np.max(np.abs(logits.numpy() - reference)) / np.max(np.abs(reference))
    assert error < tolerance, error
