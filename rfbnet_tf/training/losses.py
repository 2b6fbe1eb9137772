"""Training losses (``keras.ops``: the train binary's TensorFlow step and the benchmark's JAX / PyTorch step
share them): pixel-wise cross-entropy with an ignore label, auxiliary losses, L2 weight decay.

Paper Sec. IV-B: softmax cross-entropy over the pixels, Adam, weight decay 5e-4 (AdapNet++) / 1e-4 (ERFNetEnc).

* Cross-entropy: sparse softmax cross-entropy on the logits; pixels labelled ``ignore_label`` (255) contribute
  nothing.  With class weights ``w`` the pixel term is ``w[label] * ce``; the reduction is TF1's default
  ``SUM_BY_NONZERO_WEIGHTS`` as used by the official TF1 code: ``Σ w·ce / (number of valid pixels)``; without
  weights this is the mean over valid pixels.  It is computed as a ``(sum, count)`` pair so that a multi-replica
  step can divide by the *global* count of valid pixels.
* Auxiliary losses (AdapNet++, Valada et al. Sec. 3.3): the same loss on each auxiliary output, weighted
  0.6 and 0.5 (:data:`AUX_LOSS_WEIGHTS`); outputs whose size differs from the label are resized bilinearly.
* Weight decay: an L2 term added to the loss (what the official code's ``weight_decay`` intends; TF1's
  ``tf.contrib.layers.l2_regularizer``), ``λ · Σ ‖W‖² / 2`` over every convolution and dense kernel
  (``kernel``, ``depthwise_kernel``, ``pointwise_kernel``); biases and batch-norm parameters are not decayed.
  Its gradient is ``λ·W``, which Adam then rescales like any other gradient (this is *coupled* L2, not
  AdamW-style decoupled decay).
"""

from __future__ import annotations

import math

import keras
from keras import ops

from rfbnet_tf.constants import AUX_LOSS_WEIGHTS, IGNORE_LABEL
from rfbnet_tf.utils import checks

DECAYED_VARIABLE_NAMES = ("kernel", "depthwise_kernel", "pointwise_kernel")


def _resize_like(logits, labels):
    """``logits`` resized bilinearly to the label's (H, W) unless both static sizes already agree."""
    static, target = tuple(logits.shape[1:3]), tuple(labels.shape[1:3])
    if None not in static and static == target:
        return logits
    if None not in target:
        return ops.image.resize(logits, target, interpolation="bilinear")
    import tensorflow as tf  # a label size known only at run time: TensorFlow graphs (the train binary's steps)

    return tf.image.resize(logits, tf.shape(labels)[1:3], method="bilinear")


def cross_entropy_sums(labels, logits, class_weights=None, ignore_label=IGNORE_LABEL):
    """``(weighted_sum, valid_count)`` of the pixel cross-entropy (float32 scalars; ``keras.ops``, any backend).

    Args:
      labels: int (B, H, W) class ids, ``ignore_label`` = no loss.
      logits: (B, h, w, K); resized bilinearly to (H, W) if the sizes differ.
      class_weights: None or a length-K sequence / tensor of per-class weights.
      ignore_label: the label value without loss.
    """
    labels = ops.cast(ops.convert_to_tensor(labels), "int32")
    logits = _resize_like(ops.cast(ops.convert_to_tensor(logits), "float32"), labels)
    num_classes = logits.shape[-1]
    valid = ops.not_equal(labels, ignore_label)
    safe_labels = ops.where(valid, labels, ops.zeros_like(labels))
    pixel_loss = ops.sparse_categorical_crossentropy(safe_labels, logits, from_logits=True)
    weights = ops.cast(valid, "float32")
    if class_weights is not None:
        class_weights = ops.cast(ops.convert_to_tensor(class_weights), "float32")
        if len(class_weights.shape) != 1 or (num_classes is not None and class_weights.shape[0] != num_classes):
            raise ValueError(f"class_weights must have {num_classes} entries, received shape {class_weights.shape}")
        weights = weights * ops.take(class_weights, safe_labels)
    return ops.sum(pixel_loss * weights), ops.sum(ops.cast(valid, "float32"))


def segmentation_loss(labels, logits, class_weights=None, ignore_label=IGNORE_LABEL):
    """Cross-entropy averaged over the valid (non-ignored) pixels of the batch; 0 if there are none.

    Also the Keras ``loss`` of the benchmark's JAX / PyTorch training step (``profiling.train_step``).
    """
    total, count = cross_entropy_sums(labels, logits, class_weights, ignore_label)
    return total / ops.maximum(count, 1.0)


def decayed_variables(model):
    """The trainable convolution / dense kernels of ``model`` that weight decay applies to."""
    return [v for v in model.trainable_variables if v.name.split("/")[-1].split(":")[0] in DECAYED_VARIABLE_NAMES]


def l2_weight_decay(model, weight_decay):
    """``weight_decay · Σ ‖W‖² / 2`` over :func:`decayed_variables` (a float32 scalar; 0 for ``weight_decay=0``)."""
    checks.number_in("weight_decay", weight_decay, 0, math.inf, high_open=True)
    variables = decayed_variables(model)
    if weight_decay == 0 or not variables:
        return ops.convert_to_tensor(0.0, "float32")
    total = sum(ops.sum(ops.square(ops.cast(keras.ops.convert_to_tensor(v), "float32"))) for v in variables)
    return ops.cast(weight_decay, "float32") * total / 2.0


def aux_loss_weights(num_outputs):
    """Loss weights of a model's outputs: ``[1.0]`` for one output, ``[1.0, 0.6, 0.5]`` for AdapNet++ aux."""
    if num_outputs == 1:
        return (1.0,)
    if num_outputs - 1 > len(AUX_LOSS_WEIGHTS):
        raise ValueError(f"a model with {num_outputs} outputs has more auxiliary outputs than {AUX_LOSS_WEIGHTS}")
    return (1.0,) + AUX_LOSS_WEIGHTS[: num_outputs - 1]
