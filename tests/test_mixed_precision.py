"""Mixed precision on the CPU: one training step of the train binary (``training.steps.make_train_step``, the
optimizer of ``training.optimization``) under ``mixed_float16`` (dynamic loss scaling) and ``mixed_bfloat16``:
the convolutions compute in 16 bits, the variables and the logits stay float32, the loss is finite, every
kernel moves, and the updated model's logits equal those of a float32 copy of its weights to 16-bit precision."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from rfbnet_tf.models import build_model
from rfbnet_tf.training.optimization import make_optimizer, poly_schedule
from rfbnet_tf.training.steps import make_train_step

SIZE = (16, 24)
NUM_CLASSES = 3


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
    model = build_model("erfnet_enc", NUM_CLASSES)
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
    assert np.isfinite(loss) and 0.5 < float(result["cross_entropy"]) < 5.0, result
    assert int(step.numpy()) == 1
    kernels = [(b, v.numpy()) for b, v in zip(before, model.trainable_variables) if "kernel" in v.path]
    assert all(np.isfinite(a).all() and not np.array_equal(b, a) for b, a in kernels)
    logits = model(images, training=False)
    assert logits.dtype == "float32"  # the head's output layer is float32 under every policy
    keras.mixed_precision.set_global_policy("float32")
    reference_model = build_model("erfnet_enc", NUM_CLASSES)
    reference_model.set_weights(model.get_weights())
    reference = reference_model(images, training=False).numpy()
    error = np.max(np.abs(logits.numpy() - reference)) / np.max(np.abs(reference))
    assert error < tolerance, error
