"""rfbnet_tf: RFBNet (Deng et al.) RGB-D semantic segmentation in TensorFlow 2 / Keras 3."""

__version__ = "0.1.0"
