"""The training step the benchmark times (:func:`make_trainer` / :func:`train_step_function`): one optimizer update
per call, for the active Keras backend.

* TensorFlow: the train binary's own step (``rfbnet_tf.training.steps.make_train_step``: cross-entropy over the
  non-ignored pixels + the paper's L2 weight decay of the model's backbone, Adam with the poly schedule, default
  ``tf.distribute`` strategy), fed from an iterator;
* JAX / PyTorch: ``model.train_on_batch`` with the train binary's pixel cross-entropy
  (``rfbnet_tf.training.losses.segmentation_loss``, written in ``keras.ops``: labels 255 ignored; no weight-decay
  term) and Adam.

Batches come either from a fixed in-memory batch (the model alone) or from a ``tf.data.Dataset`` (the input
pipeline feeding training).

:func:`measure_train_step` times it on random inputs and labels of one size (the benchmark's ``train_step`` row).
"""

import itertools

import keras
import numpy as np

from rfbnet_tf.constants import IGNORE_LABEL
from rfbnet_tf.models import is_multimodal
from rfbnet_tf.profiling.model_latency import random_inputs
from rfbnet_tf.profiling.measurement import time_callable
from rfbnet_tf.training import losses

TRAIN_LEARNING_RATE = 5e-4  # paper Sec. IV-B (ERFNetEnc models); the value does not change the step time
TRAIN_SCHEDULE_STEPS = 1000


def random_labels(batch, height, width, num_classes, ignore_fraction=0.1, seed=0):
    """Random int32 labels ``(B,H,W)`` in ``[0, num_classes)`` with about ``ignore_fraction`` pixels = 255."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_classes, (batch, height, width)).astype(np.int32)
    labels[rng.random(labels.shape) < ignore_fraction] = IGNORE_LABEL
    return labels


def _select(inputs, modality):
    return inputs if modality is None else inputs[modality]


def _batches(batch_source):
    """An endless iterator of ``(inputs dict, labels)`` from a fixed batch or a ``tf.data.Dataset``."""
    if isinstance(batch_source, tuple) and len(batch_source) == 2:
        return itertools.repeat(batch_source)
    if hasattr(batch_source, "as_numpy_iterator"):
        return batch_source.repeat().as_numpy_iterator()
    raise ValueError(f"batch_source must be (inputs, labels) or a tf.data.Dataset, received {type(batch_source)!r}")


def make_trainer(model, model_name, num_classes, weight_decay=None):
    """``feed(batch_source) -> step``: ``step()`` runs one training step on the next batch of ``batch_source``.

    ``batch_source``: ``(inputs, labels)`` with inputs ``{"rgb", "depth"}`` (unimodal models read ``"rgb"``) or
    a ``tf.data.Dataset`` of such pairs. Every ``feed`` shares one compiled step and one optimizer (on TensorFlow
    the step takes the iterator as an argument, so a fixed batch and the input pipeline reuse the same trace).
    ``weight_decay``: λ of the L2 term (TensorFlow step); default the paper's value for the model's backbone
    (``model_spec(model_name).weight_decay``).
    """
    modality = None if is_multimodal(model_name) else "rgb"
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return _tf_trainer(model, model_name, num_classes, weight_decay, modality)
    model.compile(optimizer=keras.optimizers.Adam(TRAIN_LEARNING_RATE), loss=losses.segmentation_loss)

    def feed(batch_source):
        batches = _batches(_checked_source(batch_source))

        def step():
            inputs, labels = next(batches)
            return model.train_on_batch(_select(inputs, modality), labels)

        return step

    return feed


def train_step_function(model, model_name, num_classes, batch_source, weight_decay=None):
    """One-off ``make_trainer(model, model_name, num_classes, weight_decay)(batch_source)``."""
    return make_trainer(model, model_name, num_classes, weight_decay)(batch_source)


def _checked_source(batch_source):
    if isinstance(batch_source, tuple) and len(batch_source) == 2 and not isinstance(batch_source[0], dict):
        raise ValueError(
            f"batch_source inputs must be a dict {{'rgb', 'depth'}}, received {type(batch_source[0]).__name__}"
        )
    if not (isinstance(batch_source, tuple) and len(batch_source) == 2) and not hasattr(batch_source, "repeat"):
        raise ValueError(
            f"batch_source must be (inputs, labels) or a tf.data.Dataset, received {type(batch_source).__name__}"
        )
    return batch_source


def _tf_trainer(model, model_name, num_classes, weight_decay, modality):
    import tensorflow as tf

    from rfbnet_tf.models import model_spec
    from rfbnet_tf.training.optimization import make_optimizer, poly_schedule
    from rfbnet_tf.training.steps import make_train_step

    if weight_decay is None:
        weight_decay = model_spec(model_name).weight_decay
    optimizer = make_optimizer("adam", poly_schedule(TRAIN_LEARNING_RATE, TRAIN_SCHEDULE_STEPS))
    optimizer.build(model.trainable_variables)
    step_counter = tf.Variable(0, dtype=tf.int64, trainable=False)
    train_step = make_train_step(
        model,
        optimizer,
        tf.distribute.get_strategy(),
        step_counter,
        num_classes=num_classes,
        weight_decay=weight_decay,
        modality=modality,
    )

    def feed(batch_source):
        batch_source = _checked_source(batch_source)
        if isinstance(batch_source, tuple):
            dataset = tf.data.Dataset.from_tensors(batch_source)
        else:
            dataset = batch_source
        iterator = iter(dataset.repeat())
        return lambda: train_step(iterator)["loss"]

    return feed


def measure_train_step(model, model_name, size, settings):
    """``settings["train_runs"]`` timed training steps (after one untimed) of ``model`` at batch
    ``settings["train_batch"]`` and ``size`` (H, W)."""
    (height, width), batch, num_classes = size, settings["train_batch"], settings["num_classes"]
    inputs = random_inputs(model_name, batch, height, width, seed=2)
    if not isinstance(inputs, dict):
        inputs = {"rgb": inputs}
    labels = random_labels(batch, height, width, num_classes, seed=2)
    step = train_step_function(model, model_name, num_classes, (inputs, labels))
    stats = time_callable(step, warmup=1, runs=settings["train_runs"])
    return {"batch": batch, **stats, "examples_per_s": batch / stats["median_s"]}
