"""ERFNetEnc backbone: the ERFNet encoder (Romera et al. 2018) with the 1×1-conv + bilinear ×8 decoder the
paper uses (Sec. IV-A "Backbones", IV-B).

Encoder (official ``erfnet_pytorch`` ``Encoder``): Downsampler(16) → Downsampler(64) → 5 × non-bottleneck-1D(64,
dilation 1, dropout 0.03) → Downsampler(128) → 2 × [non-bottleneck-1D(128, dilation 2/4/8/16, dropout 0.3)].
The last eight units (after the third downsampling, 1/8 of the input) are the ones RFBNet pairs into RFBs
(Sec. III-A). Decoder: 1×1 conv to the classes (with bias) → bilinear ×8.
"""

import keras
from keras import layers

from rfbnet_tf.layers.erfnet_blocks import DownsamplerBlock, NonBottleneck1D
from rfbnet_tf.layers.stream_resampling import BilinearUpsample
from rfbnet_tf.models.backbone import Backbone

STAGE1_UNITS = 5
STAGE1_DROPOUT = 0.03
FUSED_DILATIONS = (2, 4, 8, 16, 2, 4, 8, 16)
FUSED_DROPOUT = 0.3
CHANNELS = (16, 64, 128)


class ERFNetEncBackbone(Backbone):
    """The ERFNetEnc backbone description (see the module docstring)."""

    name = "erfnet_enc"
    output_stride = 8
    fused_channels = CHANNELS[2]

    @property
    def stages(self):
        return [
            [
                keras.saving.serialize_keras_object(NonBottleneck1D(CHANNELS[2], dilation=d, dropout=FUSED_DROPOUT))
                for d in FUSED_DILATIONS
            ]
        ]

    def stem(self, x, prefix):
        x = DownsamplerBlock(CHANNELS[0], name=f"{prefix}down1")(x)
        x = DownsamplerBlock(CHANNELS[1], name=f"{prefix}down2")(x)
        for i in range(STAGE1_UNITS):
            x = NonBottleneck1D(CHANNELS[1], dilation=1, dropout=STAGE1_DROPOUT, name=f"{prefix}nb64_{i}")(x)
        x = DownsamplerBlock(CHANNELS[2], name=f"{prefix}down3")(x)
        return x, {}

    def decoder(self, x, skips, num_classes, multimodal):
        x = layers.Conv2D(num_classes, 1, name="head")(x)
        x = BilinearUpsample(self.output_stride, name="upsample")(x)
        return layers.Activation("linear", dtype="float32", name="logits")(x)
