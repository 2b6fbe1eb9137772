"""Segmentation metrics: confusion matrix, PASCAL VOC mean intersection-over-union, pixel accuracy and mean class
accuracy.

The paper reports mIoU (Tables I-IV, Sec. IV-C) as the ScanNet and Cityscapes benchmarks define it:
per class ``IoU = TP / (TP + FP + FN)`` accumulated over the whole split (not averaged per image), then the
mean over classes.  Pixels labelled ``ignore_label`` (255) count for nothing.  A class absent from both the
ground truth and the predictions (``TP + FP + FN = 0``) has no IoU: it is reported as NaN and left out of the
mean (as the PASCAL VOC development kit does).

NYUv2 / SUN RGB-D papers report three numbers from the same confusion matrix: mIoU, pixel accuracy (correct
pixels / counted pixels) and mean class accuracy (per class recall ``TP / (TP + FN)``, averaged over the classes
present in the ground truth; :func:`mean_class_accuracy`).

Two forms:

* :func:`confusion_matrix` on numpy arrays (evaluation binaries, tests), exact ``int64`` counts;
* :class:`MeanIoUMetric`, a streaming ``keras.metrics.Metric`` for ``model.compile(metrics=...)`` and custom
  training loops; its state is the running confusion matrix (float64, exact up to 2**53 pixels per cell,
  summed across replicas under a ``tf.distribute`` strategy).

Rows of a confusion matrix are ground truth, columns predictions: ``confusion[i, j]`` = pixels of class ``i``
predicted as ``j``.
"""

from __future__ import annotations

import keras
import numpy as np

from rfbnet_tf.constants import IGNORE_LABEL
from rfbnet_tf.utils import checks
from rfbnet_tf.utils.checks import positive_int



def _check_num_classes(num_classes):
    return positive_int("num_classes", num_classes)


def _check_ignore_label(ignore_label, num_classes):
    if ignore_label is None:
        return None
    if not checks.is_int(ignore_label):
        raise ValueError(f"ignore_label must be an int or None, received {ignore_label!r}")
    if 0 <= ignore_label < num_classes:
        raise ValueError(
            f"ignore_label must lie outside the class ids [0, {num_classes}), received {ignore_label!r}"
        )
    return int(ignore_label)


def confusion_matrix(labels, predictions, num_classes, ignore_label=IGNORE_LABEL) -> np.ndarray:
    """Pixel confusion matrix ``(K, K)`` int64, rows = ground truth, columns = prediction.

    Args:
      labels: integer array of ground-truth class ids, any shape; ``ignore_label`` pixels are skipped.
      predictions: integer array of predicted class ids, same shape as ``labels``.
      num_classes: K.
      ignore_label: label value to skip (default 255), or None.

    Raises:
      ValueError: shapes differ, non-integer arrays, or a label / prediction outside ``[0, K)`` (labels may
        also equal ``ignore_label``); the message shows the offending values.
    """
    num_classes = _check_num_classes(num_classes)
    ignore_label = _check_ignore_label(ignore_label, num_classes)
    labels = np.asarray(labels)
    predictions = np.asarray(predictions)
    if labels.shape != predictions.shape:
        raise ValueError(f"labels and predictions must have one shape, received {labels.shape} and {predictions.shape}")
    for name, array in (("labels", labels), ("predictions", predictions)):
        if not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"{name} must be an integer array, received dtype {array.dtype}")
    labels = labels.reshape(-1).astype(np.int64)
    predictions = predictions.reshape(-1).astype(np.int64)
    valid = labels != ignore_label if ignore_label is not None else np.ones(labels.shape, bool)
    labels, predictions = labels[valid], predictions[valid]
    for name, array in (("labels", labels), ("predictions", predictions)):
        bad = (array < 0) | (array >= num_classes)
        if bad.any():
            raise ValueError(
                f"{name} must lie in [0, {num_classes}) (or equal ignore_label={ignore_label!r}), "
                f"received values {np.unique(array[bad])[:10].tolist()}"
            )
    counts = np.bincount(labels * num_classes + predictions, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).astype(np.int64)


def _checked_confusion(confusion) -> np.ndarray:
    """``confusion`` as float64, checked: a square (K, K) matrix of finite non-negative counts."""
    confusion = np.asarray(confusion)
    if confusion.ndim != 2 or confusion.shape[0] != confusion.shape[1] or confusion.shape[0] == 0:
        raise ValueError(f"confusion must be a square (K, K) matrix, received shape {confusion.shape}")
    if not np.all(np.isfinite(confusion)) or np.any(confusion < 0):
        raise ValueError("confusion must hold finite non-negative counts")
    return confusion.astype(np.float64)


def mean_iou(confusion) -> tuple[float, np.ndarray]:
    """``(miou, per_class_iou)`` from a confusion matrix (rows = ground truth).

    ``per_class_iou[k] = TP / (TP + FP + FN)`` (float64), NaN where ``TP + FP + FN = 0`` (class absent from
    both ground truth and predictions); ``miou`` is the mean over the other classes, NaN if there are none.
    """
    confusion = _checked_confusion(confusion)
    true_positive = np.diag(confusion)
    union = confusion.sum(axis=0) + confusion.sum(axis=1) - true_positive  # TP + FP + FN
    per_class = np.full(confusion.shape[0], np.nan)
    present = union > 0
    per_class[present] = true_positive[present] / union[present]
    miou = float(per_class[present].mean()) if present.any() else float("nan")
    return miou, per_class


def pixel_accuracy(confusion) -> float:
    """Fraction of counted pixels predicted correctly (NaN if none counted)."""
    confusion = np.asarray(confusion, np.float64)
    total = confusion.sum()
    return float(np.trace(confusion) / total) if total > 0 else float("nan")


def mean_class_accuracy(confusion) -> tuple[float, np.ndarray]:
    """``(mean, per_class_accuracy)`` from a confusion matrix (rows = ground truth).

    ``per_class_accuracy[k] = TP / (TP + FN)`` (the recall of class k, float64), NaN where class k never occurs in
    the ground truth; ``mean`` averages the other classes (NaN if there are none).  A class that is only predicted
    lowers the mIoU but not this mean (it has no ground-truth pixel).
    """
    confusion = _checked_confusion(confusion)
    ground_truth = confusion.sum(axis=1)
    per_class = np.full(confusion.shape[0], np.nan)
    present = ground_truth > 0
    per_class[present] = np.diag(confusion)[present] / ground_truth[present]
    mean = float(per_class[present].mean()) if present.any() else float("nan")
    return mean, per_class


@keras.saving.register_keras_serializable(package="rfbnet_tf")
class MeanIoUMetric(keras.metrics.Metric):
    """Streaming PASCAL VOC mIoU over every pixel seen since the last ``reset_state()``.

    ``update_state(y_true, y_pred)``: ``y_true`` integer class ids ``(B, H, W)`` (``ignore_label`` skipped);
    ``y_pred`` either logits/probabilities ``(B, H, W, K)`` (arg-maxed) or class ids of ``y_true``'s shape.
    In graph code out-of-range values cannot raise, so every ground-truth value outside ``[0, K)`` is skipped
    like the ignore label (use :func:`confusion_matrix` to have them rejected).  ``sample_weight`` is not
    supported (pixel counts only).

    ``result()`` is the mIoU (absent classes excluded, see :func:`mean_iou`); :meth:`confusion` and
    :meth:`per_class_iou` give the numpy details.
    """

    def __init__(self, num_classes, ignore_label=IGNORE_LABEL, name="mean_iou", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.num_classes = _check_num_classes(num_classes)
        self.ignore_label = _check_ignore_label(ignore_label, self.num_classes)
        self.total_confusion = self.add_variable(
            shape=(self.num_classes, self.num_classes),
            initializer="zeros",
            dtype="float64",
            aggregation="sum",
            name="total_confusion",
        )

    def batch_confusion(self, y_true, y_pred):
        """Confusion matrix (K, K) float64 tensor of one batch (graph friendly)."""
        k = self.num_classes
        y_true = keras.ops.convert_to_tensor(y_true)
        y_pred = keras.ops.convert_to_tensor(y_pred)
        if len(y_pred.shape) == len(y_true.shape) + 1:
            y_pred = keras.ops.argmax(y_pred, axis=-1)
        y_true = keras.ops.reshape(keras.ops.cast(y_true, "int32"), (-1,))
        y_pred = keras.ops.reshape(keras.ops.cast(y_pred, "int32"), (-1,))
        valid = (y_true >= 0) & (y_true < k) & (y_pred >= 0) & (y_pred < k)
        # Invalid pixels go to the extra bin k*k, dropped below.
        index = keras.ops.where(valid, y_true * k + y_pred, k * k)
        counts = keras.ops.bincount(index, minlength=k * k + 1)
        return keras.ops.reshape(keras.ops.cast(counts[: k * k], "float64"), (k, k))

    def update_state(self, y_true, y_pred, sample_weight=None):
        if sample_weight is not None:
            raise ValueError(f"MeanIoUMetric does not support sample_weight, received {sample_weight!r}")
        self.total_confusion.assign_add(self.batch_confusion(y_true, y_pred))

    def result(self):
        confusion = keras.ops.convert_to_tensor(self.total_confusion)
        true_positive = keras.ops.diagonal(confusion)
        union = keras.ops.sum(confusion, axis=0) + keras.ops.sum(confusion, axis=1) - true_positive
        present = union > 0
        iou = keras.ops.where(present, true_positive / keras.ops.maximum(union, 1.0), 0.0)
        count = keras.ops.sum(keras.ops.cast(present, "float64"))
        miou = keras.ops.where(count > 0, keras.ops.sum(iou) / keras.ops.maximum(count, 1.0), float("nan"))
        return keras.ops.cast(miou, "float32")

    def reset_state(self):
        self.total_confusion.assign(keras.ops.zeros((self.num_classes, self.num_classes), "float64"))

    def confusion(self) -> np.ndarray:
        """The accumulated confusion matrix as int64 numpy."""
        return np.rint(keras.ops.convert_to_numpy(keras.ops.convert_to_tensor(self.total_confusion))).astype(np.int64)

    def per_class_iou(self) -> np.ndarray:
        """Per-class IoU (float64 numpy, NaN for absent classes) of the accumulated pixels."""
        return mean_iou(self.confusion())[1]

    def get_config(self):
        return {"num_classes": self.num_classes, "ignore_label": self.ignore_label, "name": self.name,
                "dtype": self.dtype}
