"""rfbnet_tf: RFBNet (Deng et al.) RGB-D semantic segmentation in TensorFlow 2 / Keras 3.

Importing the package registers its Keras layers and models (``rfbnet_tf.models`` imports them), so
``keras.saving.load_model("model_dir/final.keras")`` works after ``import rfbnet_tf``.
"""

from rfbnet_tf.version import __version__
from rfbnet_tf import models  # registers the serializable layers and models

__all__ = ["__version__", "models"]
