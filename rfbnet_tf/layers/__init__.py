"""Keras layers of rfbnet_tf (``keras.layers`` + ``keras.ops`` only: TensorFlow, JAX and PyTorch backends)."""

from rfbnet_tf.layers.easpp import EASPP
from rfbnet_tf.layers.erfnet_blocks import DownsamplerBlock, NonBottleneck1D
from rfbnet_tf.layers.gated_fusion_unit import GatedFusionUnit
from rfbnet_tf.layers.preact_bottleneck import PreActBottleneck
from rfbnet_tf.layers.residual_fusion_block import ADD_POINTS, ResidualFusionBlock
from rfbnet_tf.layers.residual_unit import ResidualUnit
from rfbnet_tf.layers.rgbd_preprocessor import RGBDPreprocessor
from rfbnet_tf.layers.ssma_block import SSMABlock
from rfbnet_tf.layers.stream_resampling import BilinearUpsample

__all__ = [
    "ADD_POINTS",
    "BilinearUpsample",
    "DownsamplerBlock",
    "EASPP",
    "GatedFusionUnit",
    "NonBottleneck1D",
    "PreActBottleneck",
    "RGBDPreprocessor",
    "ResidualFusionBlock",
    "ResidualUnit",
    "SSMABlock",
]
