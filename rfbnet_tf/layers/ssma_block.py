"""SSMA fusion block (Valada et al., "Self-Supervised Model Adaptation for Multimodal Semantic Segmentation",
IJCV 2019, Sec. 4; checked against the official code ``DeepSceneSeg/SSMA``, ``models/SSMA.py``).

The combination method of the SSMA baselines and one of RFBNet's combinations (paper Sec. III-A, IV-B):

    x = concat(x_1, ..., x_n)                       # C_cat channels, (B, H, W, C_cat)
    s = sigmoid(conv3×3(relu(conv3×3(x) → C_cat/η)) → C_cat)     # both convs with bias
    y = BN(conv_k(s · x) → out_channels)            # the encoder-output block: k = 1, no bias, BN (ε = 1e-5)

η = 16 at the encoder output (official: 512 → 32 → 512 for two 256-channel eASPP outputs). The block used on
the decoder's skip connections (official ``conv513/514/552``: 48 → 8 → 48 → 3×3 conv with bias to 24, no BN)
is the same layer with ``reduction=6, output_kernel=3, output_bias=True, output_bn=False``.

Inputs: a list of NHWC tensors of one spatial size; output ``(B, H, W, out_channels)``.
"""

import keras
from keras import layers, ops

from rfbnet_tf.utils.checks import positive_int

BN_EPSILON = 1e-5  # official network_base.batch_norm: variance_epsilon=0.00001
BN_MOMENTUM = 0.99  # official bn_decay_


@keras.saving.register_keras_serializable(package="rfbnet_tf")
class SSMABlock(keras.layers.Layer):
    """Self-supervised model adaptation block; see the module docstring."""

    def __init__(self, out_channels, reduction=16, output_kernel=1, output_bias=False, output_bn=True, **kwargs):
        super().__init__(**kwargs)
        self.out_channels = positive_int("out_channels", out_channels)
        self.reduction = positive_int("reduction", reduction)
        self.output_kernel = positive_int("output_kernel", output_kernel)
        self.output_bias = bool(output_bias)
        self.output_bn = bool(output_bn)

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or not input_shape or not isinstance(input_shape[0], (list, tuple)):
            raise ValueError(f"SSMABlock takes a list of tensors, received input shape {input_shape!r}")
        channels = sum(int(s[-1]) for s in input_shape)
        if channels < self.reduction:
            raise ValueError(
                f"SSMABlock(reduction={self.reduction}) needs at least {self.reduction} input channels, "
                f"received {channels}"
            )
        concat_shape = tuple(input_shape[0][:-1]) + (channels,)
        self.squeeze = layers.Conv2D(channels // self.reduction, 3, padding="same", activation="relu", name="squeeze")
        self.excite = layers.Conv2D(channels, 3, padding="same", activation="sigmoid", name="excite")
        self.project = layers.Conv2D(
            self.out_channels, self.output_kernel, padding="same", use_bias=self.output_bias, name="project"
        )
        self.squeeze.build(concat_shape)
        self.excite.build(concat_shape[:-1] + (channels // self.reduction,))
        self.project.build(concat_shape)
        self.bn = None
        if self.output_bn:
            self.bn = layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name="bn")
            self.bn.build(concat_shape[:-1] + (self.out_channels,))

    def call(self, inputs, training=None):
        x = ops.concatenate(list(inputs), axis=-1)
        y = self.project(self.excite(self.squeeze(x)) * x)
        return y if self.bn is None else self.bn(y, training=training)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0][:-1]) + (self.out_channels,)

    def get_config(self):
        return {
            **super().get_config(),
            "out_channels": self.out_channels,
            "reduction": self.reduction,
            "output_kernel": self.output_kernel,
            "output_bias": self.output_bias,
            "output_bn": self.output_bn,
        }
