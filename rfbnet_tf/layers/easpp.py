"""Efficient atrous spatial pyramid pooling (eASPP) of AdapNet++ (Valada et al., IJCV 2019, Sec. 3.2, Fig. 5).

Checked against the official code (``DeepSceneSeg/AdapNet-pp``, ``models/AdapNet_pp.py``, layers ``conv256``,
``conv70/7/247/71``, ``conv80/8/248/81``, ``conv90/9/249/91``, ``conv57``, ``conv10``). Five parallel branches on
the encoder output ``x`` (every convolution without bias, followed by BN ε = 1e-5, momentum 0.99, and ReLU):

* a 1×1 convolution to ``out_channels`` (256);
* three cascaded atrous branches, one per rate ``r ∈ rates`` (3, 6, 12): 1×1 → ``branch_channels`` (64),
  3×3 dilated by ``r`` → 64, 3×3 dilated by ``r`` → 64, 1×1 → 256 (the bottleneck that keeps the eASPP ~10×
  smaller than ASPP);
* image pooling: global average pool → 1×1 → 256, broadcast back to ``H×W`` (the official bilinear resize of a
  1×1 map, which is a broadcast);

concatenated (5·256 channels) → 1×1 → ``out_channels`` → BN (no ReLU). Shapes: ``(B, H, W, C)`` →
``(B, H, W, out_channels)``; any ``H, W``.
"""

import keras
from keras import layers, ops

from rfbnet_tf.layers.preact_bottleneck import batch_norm
from rfbnet_tf.utils.checks import is_int, positive_int

EASPP_RATES = (3, 6, 12)  # official eAspp_rate; AdapNet++ Sec. 3.2
EASPP_CHANNELS = 256
EASPP_BRANCH_CHANNELS = 64


@keras.saving.register_keras_serializable(package="rfbnet_tf")
class EASPP(keras.layers.Layer):
    """eASPP; see the module docstring. Sublayers ``{branch}_conv`` / ``{branch}_bn`` are named after the
    branch: ``direct``, ``rate{r}_{reduce,atrous1,atrous2,expand}``, ``pool``, ``project``."""

    def __init__(self, out_channels=EASPP_CHANNELS, branch_channels=EASPP_BRANCH_CHANNELS, rates=EASPP_RATES, **kwargs):
        super().__init__(**kwargs)
        self.out_channels = positive_int("out_channels", out_channels)
        self.branch_channels = positive_int("branch_channels", branch_channels)
        try:
            rates = tuple(rates)
        except TypeError:
            rates = ()
        if not rates or not all(is_int(r) and r > 0 for r in rates):
            raise ValueError(f"rates must be a non-empty sequence of positive ints, received {rates!r}")
        self.rates = tuple(int(r) for r in rates)
        # (name, filters, kernel, dilation) of every conv+BN pair, per branch, in call order.
        self._direct = [self._conv_bn("direct", self.out_channels, 1, 1)]
        self._cascades = [
            [
                self._conv_bn(f"rate{r}_reduce", self.branch_channels, 1, 1),
                self._conv_bn(f"rate{r}_atrous1", self.branch_channels, 3, r),
                self._conv_bn(f"rate{r}_atrous2", self.branch_channels, 3, r),
                self._conv_bn(f"rate{r}_expand", self.out_channels, 1, 1),
            ]
            for r in self.rates
        ]
        self._pool = [self._conv_bn("pool", self.out_channels, 1, 1)]
        self._project = self._conv_bn("project", self.out_channels, 1, 1)

    def _conv_bn(self, name, filters, kernel, dilation):
        conv = layers.Conv2D(
            filters, kernel, dilation_rate=dilation, padding="same", use_bias=False, name=f"{name}_conv"
        )
        bn = batch_norm(f"{name}_bn")
        setattr(self, f"{name}_conv", conv)
        setattr(self, f"{name}_bn", bn)
        return name

    def _pair(self, name):
        return getattr(self, f"{name}_conv"), getattr(self, f"{name}_bn")

    def build(self, input_shape):
        shape = tuple(input_shape)
        if len(shape) != 4 or shape[-1] is None:
            raise ValueError(f"EASPP takes NHWC input with known channels, received shape {shape}")
        branches = [self._direct, self._pool, *self._cascades]
        for branch in branches:
            channels = shape[-1]
            for name in branch:
                conv, bn = self._pair(name)
                conv.build(shape[:-1] + (channels,))
                channels = conv.filters
                bn.build(shape[:-1] + (channels,))
        conv, bn = self._pair(self._project)
        conv.build(shape[:-1] + (self.out_channels * (len(self.rates) + 2),))
        bn.build(shape[:-1] + (self.out_channels,))

    def _run(self, branch, x, training):
        for name in branch:
            conv, bn = self._pair(name)
            x = ops.relu(bn(conv(x), training=training))
        return x

    def call(self, x, training=None):
        pooled = self._run(self._pool, ops.mean(x, axis=(1, 2), keepdims=True), training)
        outputs = [self._run(self._direct, x, training)]
        outputs += [self._run(cascade, x, training) for cascade in self._cascades]
        outputs.append(pooled * ops.ones_like(x[..., :1]))
        conv, bn = self._pair(self._project)
        return bn(conv(ops.concatenate(outputs, axis=-1)), training=training)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.out_channels,)

    def get_config(self):
        return {
            **super().get_config(),
            "out_channels": self.out_channels,
            "branch_channels": self.branch_channels,
            "rates": list(self.rates),
        }
