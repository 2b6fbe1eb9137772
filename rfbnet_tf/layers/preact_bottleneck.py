"""Full pre-activation bottleneck residual unit of AdapNet++, incl. its multiscale variant.

AdapNet++ (Valada et al., IJCV 2019, Sec. 3.1) builds on the full pre-activation ResNet-50 (He et al., ECCV 2016,
"Identity Mappings in Deep Residual Networks"): every layer of the residual function is BN → ReLU → conv, and the
trunk is never activated (``x_{l+1} = x_l + F(x_l)``). Checked against the official TensorFlow code
(``DeepSceneSeg/AdapNet-pp``, ``models/network_base.py``: ``unit_0``, ``unit_1``, ``unit_3``, ``unit_4``,
``split_conv2d``)::

    y      = relu(BN(x))                         # pre-activation ("preactivate"; BN ε = 1e-5, momentum 0.99)
    t      = conv1×1(y) → b                      # tap: "the output of the first 1×1 layer" (RFBNet Sec. IV-B)
    F(x)   = drop(conv1×1(relu(BN(conv3×3_s(relu(BN(t)))))) → C)
    x_out  = x + F(x)                            # identity unit
    x_out  = conv1×1_s(y) → C  +  F(x)            # projection unit (first unit of a block; stride s)

``b = C / 4`` (official ``out_channels/4``). No convolution has a bias (each is followed by a BN, the last one by
the next unit's pre-activation BN). The 3×3 layer:

* ``dilations=(r, r)``: one 3×3 convolution with dilation ``r`` (``r = 1``: the ordinary bottleneck);
* ``dilations=(r1, r2)``, ``r1 ≠ r2``: the *multiscale residual unit* (AdapNet++ Sec. 3.1, Fig. 4): two parallel
  3×3 convolutions with ``b/2`` filters each, dilated by ``r1`` and ``r2``, concatenated (official
  ``split_conv2d``: the first half of the output channels uses ``r1``, the second ``r2``). Same parameter count
  as the single convolution.

``dropout`` (rate, 0 disables it) acts on the residual before the sum — the official code's ``tf.nn.dropout`` on
the ``conv3`` output of block 4, unit 3 (element-wise, not spatial). A frozen unit (``trainable = False``, e.g.
``--freeze_encoders``) drops nothing and its batch norms use their moving statistics, like the official frozen
expert (``expert(training=False)``: ``keep_prob = 1``, BN in inference mode; SSMA ``models/ssma_helper.py``).

Residual-unit protocol (``residual_unit.py``): ``tap(x) = conv1(relu(BN(x)))`` — ``tap_channels = b``, where the
RFB adds the complementary feature, i.e. at the input of the 3×3 layer (whose own pre-activation BN-ReLU then
normalises tap + complement); ``residual_from_tap`` is the rest of ``F``; ``merge(x, r) = x + r``. Only identity
units can be paired into an RFB; a projection unit (``projection=True``, different trunk shape before/after)
raises in ``merge``.

Deviation from the official code (documented, same parameter count): the official block 1, unit 1 (``unit_0``)
reads its projection shortcut from the output of its first 1×1 conv layer; here every projection shortcut reads
the (pre-activated) unit input, as in He et al.
"""

import math

import keras
from keras import layers, ops

from rfbnet_tf.layers.residual_unit import ResidualUnit
from rfbnet_tf.utils.checks import boolean, is_int, number_in, positive_int

BN_EPSILON = 1e-5  # official network_base.batch_norm: variance_epsilon=0.00001
BN_MOMENTUM = 0.99  # official bn_decay_


def batch_norm(name):
    """BatchNormalization with the official AdapNet++ constants (ε = 1e-5, moving-average momentum 0.99)."""
    return layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=name)


def _dilations(value):
    try:
        pair = tuple(value)
    except TypeError:
        pair = ()
    if len(pair) != 2 or not all(is_int(d) and d > 0 for d in pair):
        raise ValueError(f"dilations must be two positive ints (r1, r2), received {value!r}")
    return int(pair[0]), int(pair[1])


def _strided(size, stride):
    return None if size is None else math.ceil(size / stride)


@keras.saving.register_keras_serializable(package="rfbnet_tf")
class PreActBottleneck(ResidualUnit):
    """Full pre-activation bottleneck unit (see the module docstring).

    Args:
      channels: output (trunk) channels ``C``; identity units need ``C`` input channels.
      stride: stride of the 3×3 layer and of the projection shortcut (``> 1`` needs ``projection=True`` and no
        dilation).
      dilations: ``(r1, r2)`` of the two halves of the 3×3 layer; equal values give a single convolution.
      dropout: dropout rate on the residual (0 disables it).
      preactivate: apply the unit's own BN-ReLU to ``x``; False where the input is already pre-activated by a
        layer shared with a skip connection (official block 1/2/3 unit 1).
      projection: 1×1 (strided) convolution shortcut instead of the identity.
      bottleneck_channels: ``b`` (default ``channels // 4``); must be even for a multiscale unit.
    Shapes: ``(B, H, W, C_in)`` → ``(B, ⌈H/stride⌉, ⌈W/stride⌉, C)``.
    """

    def __init__(
        self,
        channels,
        stride=1,
        dilations=(1, 1),
        dropout=0.0,
        preactivate=True,
        projection=False,
        bottleneck_channels=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.channels = positive_int("channels", channels)
        self.stride = positive_int("stride", stride)
        self.dilations = _dilations(dilations)
        self.dropout = float(number_in("dropout", dropout, 0, 1, high_open=True))
        self.preactivate = boolean("preactivate", preactivate)
        self.projection = boolean("projection", projection)
        if bottleneck_channels is None:
            bottleneck_channels = max(channels // 4, 1)
        self.bottleneck_channels = positive_int("bottleneck_channels", bottleneck_channels)
        self.multiscale = self.dilations[0] != self.dilations[1]
        if self.stride > 1 and not projection:
            raise ValueError(f"a strided unit (stride={stride!r}) needs projection=True")
        if self.stride > 1 and max(self.dilations) > 1:
            raise ValueError(f"stride {stride!r} cannot be combined with dilations {dilations!r}")
        if self.multiscale and self.bottleneck_channels % 2:
            raise ValueError(
                f"a multiscale unit needs even bottleneck_channels, received {self.bottleneck_channels!r}"
            )
        self.tap_channels = self.bottleneck_channels
        self.trunk_channels = self.channels

        b = self.bottleneck_channels
        self.pre_bn = batch_norm("pre_bn") if preactivate else None
        self.conv1 = layers.Conv2D(b, 1, use_bias=False, name="conv1")
        self.bn1 = batch_norm("bn1")
        if self.multiscale:
            self.conv2 = None
            self.conv2_a = self._conv3x3(b // 2, self.dilations[0], "conv2_a")
            self.conv2_b = self._conv3x3(b // 2, self.dilations[1], "conv2_b")
        else:
            self.conv2 = self._conv3x3(b, self.dilations[0], "conv2")
        self.bn2 = batch_norm("bn2")
        self.conv3 = layers.Conv2D(self.channels, 1, use_bias=False, name="conv3")
        self.drop = layers.Dropout(self.dropout, name="drop") if self.dropout > 0 else None
        self.shortcut = None
        if projection:
            self.shortcut = layers.Conv2D(self.channels, 1, strides=self.stride, use_bias=False, name="shortcut")

    def _conv3x3(self, filters, dilation, name):
        return layers.Conv2D(
            filters, 3, strides=self.stride, dilation_rate=dilation, padding="same", use_bias=False, name=name
        )

    def build(self, input_shape):
        shape = tuple(input_shape)
        if len(shape) != 4 or shape[-1] is None:
            raise ValueError(f"PreActBottleneck takes NHWC input with known channels, received shape {shape}")
        if not self.projection and shape[-1] != self.channels:
            raise ValueError(
                f"identity PreActBottleneck(channels={self.channels}) needs {self.channels} input channels, "
                f"received input shape {shape}"
            )
        b = self.bottleneck_channels
        reduced = shape[:-1] + (b,)
        out = (shape[0], _strided(shape[1], self.stride), _strided(shape[2], self.stride))
        if self.pre_bn is not None:
            self.pre_bn.build(shape)
        self.conv1.build(shape)
        self.bn1.build(reduced)
        for conv in (self.conv2,) if self.conv2 is not None else (self.conv2_a, self.conv2_b):
            conv.build(reduced)
        self.bn2.build(out + (b,))
        self.conv3.build(out + (b,))
        if self.shortcut is not None:
            self.shortcut.build(shape)

    def _preactivated(self, x, training):
        return x if self.pre_bn is None else ops.relu(self.pre_bn(x, training=training))

    def tap(self, x, training=None):
        return self.conv1(self._preactivated(x, training))

    def residual_from_tap(self, t, training=None):
        y = ops.relu(self.bn1(t, training=training))
        if self.conv2 is not None:
            y = self.conv2(y)
        else:
            y = ops.concatenate([self.conv2_a(y), self.conv2_b(y)], axis=-1)
        y = self.conv3(ops.relu(self.bn2(y, training=training)))
        if self.drop is not None and self.trainable:
            y = self.drop(y, training=training)
        return y

    def merge(self, x, residual):
        if self.projection:
            raise ValueError(f"{self.name}: a projection unit has no identity trunk and cannot be paired into an RFB")
        return x + residual

    def call(self, x, training=None):
        if not self.projection:
            return super().call(x, training=training)
        y = self._preactivated(x, training)
        return self.shortcut(y) + self.residual_from_tap(self.conv1(y), training=training)

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        return (b, _strided(h, self.stride), _strided(w, self.stride), self.channels)

    def get_config(self):
        return {
            **super().get_config(),
            "channels": self.channels,
            "stride": self.stride,
            "dilations": list(self.dilations),
            "dropout": self.dropout,
            "preactivate": self.preactivate,
            "projection": self.projection,
            "bottleneck_channels": self.bottleneck_channels,
        }
