"""Batch normalisation's training-mode pass on TensorFlow's fused kernel (``FusedBatchNormV3``), for the train step.

Keras 3's ``BatchNormalization`` computes a training batch as ``ops.moments`` + ``ops.batch_normalization``: about a
dozen element-wise and reduction ops forward and twice that backward. TensorFlow's fused kernel computes the same
function (normalise by the batch mean and the biased batch variance, scale by γ, shift by β) in one op each way. On
the 2-core CPU of ``benchmarks/README.md`` this alone takes the ERFNetEnc training step at batch 4 and 256×512 from
1.01 s to 0.77 s.

:func:`use_fused_batch_norm` switches every eligible BN layer of a model (nested ones included) to it, the way
:func:`~rfbnet_tf.training.distribution.synchronize_batch_norm` switches on synchronisation: it sets the layer's
``call`` on the instance before the step is traced. Only ``training=True`` calls change; inference, the layer's
config, weights, export and the other backends are untouched. The moving statistics are updated exactly as Keras
does (``moving = moving · momentum + batch · (1 − momentum)``, with the biased batch variance). Layers it leaves
to Keras: synchronized BN (multi-replica), renorm, masks, a non-last axis, inputs of rank other than 4 or of
float64, frozen layers. The layers' code in ``layers/`` stays backend-neutral (``keras.layers`` only); this module is the train
binary's TensorFlow step.
"""

from __future__ import annotations

import types

import tensorflow as tf

from rfbnet_tf.training.distribution import batch_norm_layers


FUSED_DTYPES = (tf.float16, tf.bfloat16, tf.float32)
"""What the fused kernel computes in (float64 inputs, e.g. under ``keras.config.set_floatx("float64")``, stay on
Keras' ops)."""


def _eligible(layer) -> bool:
    axis = layer.axis if isinstance(layer.axis, int) else None
    return not layer.synchronized and not layer.renorm and axis in (-1, 3) and layer.center and layer.scale


def _fused_call(self, inputs, training=None, mask=None):
    if (not (training and self.trainable) or self.synchronized or mask is not None or len(inputs.shape) != 4
            or inputs.dtype not in FUSED_DTYPES):
        return type(self).call(self, inputs, training=training, mask=mask)
    x = tf.cast(inputs, tf.float32)  # Keras computes BN in float32 under mixed precision too
    outputs, mean, unbiased_variance = tf.compat.v1.nn.fused_batch_norm(
        x, tf.cast(self.gamma, tf.float32), tf.cast(self.beta, tf.float32), epsilon=self.epsilon, is_training=True)[:3]
    count = tf.cast(tf.reduce_prod(tf.shape(x)[:-1]), tf.float32)
    variance = unbiased_variance * (count - 1.0) / tf.maximum(count, 1.0)  # the kernel returns Bessel's correction
    momentum = self.momentum
    self.moving_mean.assign(self.moving_mean * momentum + mean * (1.0 - momentum))
    self.moving_variance.assign(self.moving_variance * momentum + variance * (1.0 - momentum))
    return tf.cast(outputs, self.compute_dtype)


def use_fused_batch_norm(model) -> int:
    """Route the training-mode call of every eligible BN layer of ``model`` through ``FusedBatchNormV3``; returns
    how many layers were switched (idempotent)."""
    switched = 0
    for layer in batch_norm_layers(model):
        if _eligible(layer):
            layer.call = types.MethodType(_fused_call, layer)
            switched += 1
    return switched
