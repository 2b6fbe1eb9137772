"""The compiled training and validation steps (``tf.function`` + ``GradientTape``, any ``tf.distribute`` strategy).

One training step (paper Sec. IV-B): forward pass in training mode, loss = cross-entropy of the main logits
+ 0.6 / 0.5 × the auxiliary cross-entropies (AdapNet++ with ``aux_losses``) + the L2 weight decay term
(:mod:`rfbnet_tf.training.losses`), gradients, one optimizer update, ``step += 1``.

Multi-replica arithmetic: Keras optimizers *sum* the replicas' gradients, so each replica contributes its
share of the global loss: its cross-entropy sum divided by the number of valid pixels of the *global* batch
(all-reduced), and the weight decay divided by the number of replicas.  Summed over the replicas this is
exactly the single-device loss of the global batch.  The returned scalars are these global values, and the
batch confusion matrix is summed over replicas.
"""

from __future__ import annotations

import tensorflow as tf

from rfbnet_tf.constants import IGNORE_LABEL
from rfbnet_tf.metrics import MeanIoUMetric
from rfbnet_tf.training import distribution, losses
from rfbnet_tf.training.fused_batch_norm import use_fused_batch_norm


def select_inputs(inputs, modality):
    """What the model takes from a ``{"rgb", "depth"}`` batch: the dict (multimodal, ``modality=None``) or
    one tensor (unimodal)."""
    return inputs if modality is None else inputs[modality]


def _outputs_list(outputs):
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def _sum(strategy, value):
    return strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)


def make_train_step(model, optimizer, strategy, step, *, num_classes, weight_decay, class_weights=None,
                    modality=None, ignore_label=IGNORE_LABEL, host_batches=True, fused_batch_norm=True):
    """A ``tf.function`` ``train_step(iterator) -> dict`` running one step on the next global batch.

    ``iterator`` yields global batches ``(inputs, labels)`` split over the replicas by
    :func:`~rfbnet_tf.training.distribution.distribute_batch` (``host_batches=True``), or per-replica batches
    of a ``tf.distribute`` distributed iterator (``host_batches=False``).

    The dict holds ``loss`` (total), ``cross_entropy`` (main output), ``weight_decay``, ``aux{i}`` (unweighted
    auxiliary cross-entropies, if any) and ``confusion`` (K, K) of the main output's arg-max.

    ``fused_batch_norm``: batch norm's training pass on TensorFlow's fused kernel
    (:func:`~rfbnet_tf.training.fused_batch_norm.use_fused_batch_norm`; the same function, 1.3× faster steps).
    """
    confusion_of = MeanIoUMetric(num_classes, ignore_label=ignore_label).batch_confusion
    replicas = strategy.num_replicas_in_sync
    if fused_batch_norm:
        use_fused_batch_norm(model)
    weights = None if class_weights is None else tf.constant(class_weights, tf.float32)

    def replica_step(batch):
        inputs, labels = batch
        with tf.GradientTape() as tape:
            outputs = _outputs_list(model(select_inputs(inputs, modality), training=True))
            loss_weights = losses.aux_loss_weights(len(outputs))
            sums, counts = zip(*(losses.cross_entropy_sums(labels, o, weights, ignore_label) for o in outputs))
            global_count = tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, counts[0])
            denominator = tf.maximum(global_count, 1.0)
            terms = [s / denominator for s in sums]
            decay = losses.l2_weight_decay(model, weight_decay) / replicas
            loss = tf.add_n([w * t for w, t in zip(loss_weights, terms)]) + decay
            scaled = optimizer.scale_loss(loss)
        gradients = tape.gradient(scaled, model.trainable_variables)
        optimizer.apply(gradients, model.trainable_variables)
        result = {"loss": loss, "cross_entropy": terms[0], "weight_decay": decay}
        for index, term in enumerate(terms[1:], start=1):
            result[f"aux{index}"] = term
        result["confusion"] = confusion_of(labels, outputs[0])
        return result

    @tf.function
    def train_step(iterator):
        batch = next(iterator)
        if host_batches:
            batch = distribution.distribute_batch(strategy, batch)
        per_replica = strategy.run(replica_step, args=(batch,))
        step.assign_add(1)
        return {key: _sum(strategy, value) for key, value in per_replica.items()}

    return train_step


def make_eval_step(model, strategy, *, num_classes, class_weights=None, modality=None,
                   ignore_label=IGNORE_LABEL):
    """A ``tf.function`` ``eval_step(inputs, labels) -> (ce_sum, valid_count, confusion)`` summed over replicas
    (inference mode; partial batches allowed)."""
    confusion_of = MeanIoUMetric(num_classes, ignore_label=ignore_label).batch_confusion
    weights = None if class_weights is None else tf.constant(class_weights, tf.float32)

    def replica_step(inputs, labels):
        logits = _outputs_list(model(select_inputs(inputs, modality), training=False))[0]
        total, count = losses.cross_entropy_sums(labels, logits, weights, ignore_label)
        return total, count, confusion_of(labels, logits)

    @tf.function(reduce_retracing=True)
    def eval_step(inputs, labels):
        total, count, confusion = strategy.run(replica_step, args=(inputs, labels))
        return _sum(strategy, total), _sum(strategy, count), _sum(strategy, confusion)

    return eval_step
