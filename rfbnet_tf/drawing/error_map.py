"""Display images of a prediction: the paper's improvement/error map (Fig. 6/7) and overlays.

Fig. 6/7 caption: "the improvement/error map which denotes the misclassified pixels in red and
the pixels that are misclassified by SSMA but correctly predicted by RFBNet in green".  Here
"this model" is the one evaluated and "the other model" the baseline it is compared with:

=========================================================  ==================
pixel                                                      colour (RGB)
=========================================================  ==================
misclassified by this model                                red (255, 0, 0)
correct here, misclassified by the other model             green (0, 255, 0)
correct here (and by the other model, if any)              black (0, 0, 0)
ignore label in the ground truth                           grey (128, 128, 128)
=========================================================  ==================
"""

from __future__ import annotations

import numpy as np

from rfbnet_tf.constants import IGNORE_LABEL
from rfbnet_tf.utils.checks import fraction

ERROR_COLOUR = (255, 0, 0)
IMPROVEMENT_COLOUR = (0, 255, 0)
CORRECT_COLOUR = (0, 0, 0)
IGNORE_COLOUR = (128, 128, 128)


def _label_array(name, value, shape=None):
    array = np.asarray(value)
    if array.ndim != 2 or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must be an integer (H, W) array, received dtype {array.dtype} shape {array.shape}")
    if shape is not None and array.shape != shape:
        raise ValueError(f"{name} must have the label's shape {shape}, received {array.shape}")
    return array


def improvement_error_map(label, prediction, other_prediction=None, ignore_label=IGNORE_LABEL) -> np.ndarray:
    """uint8 RGB ``(H, W, 3)`` improvement/error map (colours in the module docstring).

    Args:
      label: ground-truth train ids ``(H, W)``; ``ignore_label`` pixels are grey.
      prediction: this model's class ids ``(H, W)``.
      other_prediction: the other model's class ids ``(H, W)``, or None (then no green).
      ignore_label: the ignore value of ``label``.
    """
    label = _label_array("label", label)
    prediction = _label_array("prediction", prediction, label.shape)
    ignored = label == ignore_label
    wrong = (prediction != label) & ~ignored
    out = np.empty(label.shape + (3,), np.uint8)
    out[...] = CORRECT_COLOUR
    if other_prediction is not None:
        other = _label_array("other_prediction", other_prediction, label.shape)
        out[(other != label) & ~wrong & ~ignored] = IMPROVEMENT_COLOUR
    out[wrong] = ERROR_COLOUR
    out[ignored] = IGNORE_COLOUR
    return out


def overlay(rgb, colours, alpha: float = 0.5) -> np.ndarray:
    """Alpha blend ``(1 - alpha) * rgb + alpha * colours`` (uint8, rounded) of two ``(H, W, 3)`` images."""
    rgb, colours = np.asarray(rgb), np.asarray(colours)
    if rgb.shape != colours.shape or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb and colours must both be (H, W, 3), received {rgb.shape} and {colours.shape}")
    fraction("alpha", alpha)
    blended = (1.0 - alpha) * rgb.astype(np.float64) + alpha * colours.astype(np.float64)
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)
