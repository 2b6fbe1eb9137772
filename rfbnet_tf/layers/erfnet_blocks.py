"""ERFNet encoder blocks (Romera et al., T-ITS 2018; official PyTorch code ``Eromera/erfnet_pytorch``).

Used by the ERFNetEnc backbone of the paper (Sec. IV-A "Backbones"). Tensors are NHWC.
"""

import keras
from keras import layers, ops

from rfbnet_tf.layers.residual_unit import ResidualUnit
from rfbnet_tf.utils.checks import number_in, positive_int

BN_EPSILON = 1e-3  # ERFNet: nn.BatchNorm2d(..., eps=1e-3)
BN_MOMENTUM = 0.9  # PyTorch's default momentum 0.1 expressed as Keras' decay


@keras.saving.register_keras_serializable(package="rfbnet_tf")
class DownsamplerBlock(keras.layers.Layer):
    """ERFNet downsampler: ``relu(BN(concat(conv3x3/2(x) → out−in channels, maxpool2x2(x))))``.

    Input ``(B, H, W, C_in)`` → output ``(B, H/2, W/2, out_channels)``; the convolution has a bias, BN ε = 1e-3.
    """

    def __init__(self, out_channels, **kwargs):
        super().__init__(**kwargs)
        self.out_channels = positive_int("out_channels", out_channels)

    def build(self, input_shape):
        in_channels = input_shape[-1]
        if in_channels is None or in_channels >= self.out_channels:
            raise ValueError(
                f"DownsamplerBlock needs fewer input channels than out_channels={self.out_channels}, "
                f"received input shape {tuple(input_shape)}"
            )
        self.conv = layers.Conv2D(self.out_channels - in_channels, 3, strides=2, padding="same", name="conv")
        self.pool = layers.MaxPooling2D(2, strides=2, name="pool")
        self.bn = layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name="bn")
        self.conv.build(input_shape)
        self.bn.build(tuple(input_shape[:-1]) + (self.out_channels,))

    def call(self, x, training=None):
        y = ops.concatenate([self.conv(x), self.pool(x)], axis=-1)
        return ops.relu(self.bn(y, training=training))

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        half = lambda d: None if d is None else d // 2  # noqa: E731
        return (b, half(h), half(w), self.out_channels)

    def get_config(self):
        return {**super().get_config(), "out_channels": self.out_channels}


@keras.saving.register_keras_serializable(package="rfbnet_tf")
class NonBottleneck1D(ResidualUnit):
    """ERFNet non-bottleneck-1D residual unit — the RU of RFBNet(ERFNetEnc) (Sec. III-C, Eq. (2)-(3)).

    ``F(x) = drop(BN(conv1x3_d(relu(conv3x1_d(relu(BN(conv1x3(relu(conv3x1(x))))))))))`` and
    ``x_{l+1} = relu(x + F(x))`` (the ERFNet form: ReLU after the sum). All convolutions keep
    ``channels`` and have a bias; the second pair is dilated by ``dilation``; BN ε = 1e-3; spatial dropout
    with ``dropout`` (0 disables it). ``tap`` is the identity, so the GFU reads the unit's input ``x_l``.
    Shapes: ``(B, H, W, C)`` → ``(B, H, W, C)``.
    """

    def __init__(self, channels, dilation=1, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.channels = positive_int("channels", channels)
        self.dilation = positive_int("dilation", dilation)
        self.dropout = float(number_in("dropout", dropout, 0, 1, high_open=True))
        self.tap_channels = self.trunk_channels = self.channels
        c, d = self.channels, self.dilation
        self.conv3x1_1 = layers.Conv2D(c, (3, 1), padding="same", name="conv3x1_1")
        self.conv1x3_1 = layers.Conv2D(c, (1, 3), padding="same", name="conv1x3_1")
        self.bn1 = layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name="bn1")
        self.conv3x1_2 = layers.Conv2D(c, (3, 1), padding="same", dilation_rate=(d, 1), name="conv3x1_2")
        self.conv1x3_2 = layers.Conv2D(c, (1, 3), padding="same", dilation_rate=(1, d), name="conv1x3_2")
        self.bn2 = layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name="bn2")
        self.drop = layers.SpatialDropout2D(self.dropout, name="drop") if self.dropout > 0 else None

    def build(self, input_shape):
        if input_shape[-1] != self.channels:
            raise ValueError(
                f"NonBottleneck1D(channels={self.channels}) received input shape {tuple(input_shape)}"
            )
        shape = tuple(input_shape)
        for conv in (self.conv3x1_1, self.conv1x3_1, self.conv3x1_2, self.conv1x3_2):
            conv.build(shape)
        self.bn1.build(shape)
        self.bn2.build(shape)

    def tap(self, x, training=None):
        return x

    def residual_from_tap(self, t, training=None):
        y = ops.relu(self.conv3x1_1(t))
        y = ops.relu(self.bn1(self.conv1x3_1(y), training=training))
        y = ops.relu(self.conv3x1_2(y))
        y = self.bn2(self.conv1x3_2(y), training=training)
        if self.drop is not None:
            y = self.drop(y, training=training)
        return y

    def merge(self, x, residual):
        return ops.relu(x + residual)

    def get_config(self):
        return {
            **super().get_config(),
            "channels": self.channels,
            "dilation": self.dilation,
            "dropout": self.dropout,
        }
