"""rfbnet_tf: RFBNet (Deng et al.) RGB-D semantic segmentation in TensorFlow 2 / Keras 3.

Importing the package registers its Keras layers and models (``rfbnet_tf.models`` imports them), so
``keras.saving.load_model("model_dir/final.keras")`` works after ``import rfbnet_tf``.  In a binary (``python -m
rfbnet_tf.<name>``, ``rfbnet-*``) that first import of TensorFlow starts quietly (:mod:`rfbnet_tf.utils.startup_logs`).
"""

import os

from rfbnet_tf.constants import DATA_WORKER_ENV
from rfbnet_tf.utils.startup_logs import quiet_start
from rfbnet_tf.version import __version__

if not os.environ.get(DATA_WORKER_ENV):
    with quiet_start():
        from rfbnet_tf import models  # noqa: F401 (registers the serializable layers and models)

__all__ = ["__version__", "models"]
