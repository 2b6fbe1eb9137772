"""Confusion matrix and PASCAL VOC mIoU (rfbnet_tf.metrics) against hand-computed values."""

import math

import numpy as np
import pytest
import tensorflow as tf

from rfbnet_tf import metrics

LABELS = np.array([[0, 0, 1], [1, 2, 255]])
PREDICTIONS = np.array([[0, 1, 1], [2, 2, 0]])
# By hand (K = 4, the 255 pixel is skipped): rows = ground truth.
HAND_CONFUSION = np.array([[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 0], [0, 0, 0, 0]])
# IoU_0 = 1/(1+0+1), IoU_1 = 1/(1+1+1), IoU_2 = 1/(1+1+0), class 3 absent -> NaN, excluded from the mean.
HAND_IOU = [0.5, 1 / 3, 0.5, math.nan]
HAND_MIOU = (0.5 + 1 / 3 + 0.5) / 3


def test_confusion_matrix_by_hand():
    confusion = metrics.confusion_matrix(LABELS, PREDICTIONS, 4)
    assert confusion.dtype == np.int64
    np.testing.assert_array_equal(confusion, HAND_CONFUSION)


def test_mean_iou_by_hand_absent_class_is_nan_and_excluded():
    miou, per_class = metrics.mean_iou(HAND_CONFUSION)
    np.testing.assert_allclose(per_class, HAND_IOU)
    assert miou == pytest.approx(HAND_MIOU)


def test_mean_class_accuracy_by_hand():
    # Recalls of HAND_CONFUSION: class 0: 1/2, class 1: 1/2, class 2: 1/1, class 3 absent -> NaN, left out.
    mean, per_class = metrics.mean_class_accuracy(HAND_CONFUSION)
    np.testing.assert_allclose(per_class, [0.5, 0.5, 1.0, math.nan])
    assert mean == pytest.approx(2.0 / 3.0)
    # a class only predicted (row 3 empty) has no accuracy and does not lower the mean, unlike its IoU
    mean, per_class = metrics.mean_class_accuracy(metrics.confusion_matrix([0, 0], [0, 3], 4))
    np.testing.assert_allclose(per_class, [0.5, math.nan, math.nan, math.nan])
    assert mean == pytest.approx(0.5)
    assert math.isnan(metrics.mean_class_accuracy(np.zeros((2, 2)))[0])
    with pytest.raises(ValueError, match="square"):
        metrics.mean_class_accuracy(np.zeros((2, 3)))


def test_class_only_predicted_counts_as_zero():
    # class 3 never in the ground truth but predicted once: IoU 0, and it lowers the mean.
    miou, per_class = metrics.mean_iou(metrics.confusion_matrix([0, 0], [0, 3], 4))
    np.testing.assert_allclose(per_class, [0.5, math.nan, math.nan, 0.0])
    assert miou == pytest.approx(0.25)


def test_all_ignored_gives_nan():
    miou, per_class = metrics.mean_iou(metrics.confusion_matrix([255, 255], [0, 1], 3))
    assert math.isnan(miou) and np.isnan(per_class).all()


def test_against_loop_count_on_random_maps():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 6, size=(3, 16, 24))
    labels[rng.random(labels.shape) < 0.2] = 255
    predictions = rng.integers(0, 5, size=labels.shape)
    expected = np.zeros((5, 5), np.int64)
    for gt, pred in zip(labels.ravel(), predictions.ravel()):
        if gt != 255 and gt < 5:
            expected[gt, pred] += 1
    labels[labels == 5] = 255
    np.testing.assert_array_equal(metrics.confusion_matrix(labels, predictions, 5), expected)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(labels=[0, 1], predictions=[0], num_classes=3), r"\(2,\) and \(1,\)"),
        (dict(labels=[0, 7], predictions=[0, 1], num_classes=3), r"\[7\]"),
        (dict(labels=[0, 1], predictions=[0, -1], num_classes=3), r"\[-1\]"),
        (dict(labels=[0.5], predictions=[0], num_classes=3), "float"),
        (dict(labels=[0], predictions=[0], num_classes=0), "num_classes.*0"),
        (dict(labels=[0], predictions=[0], num_classes=3, ignore_label=1), "ignore_label.*1"),
    ],
)
def test_confusion_matrix_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        metrics.confusion_matrix(**kwargs)


def test_mean_iou_rejects_non_square():
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        metrics.mean_iou(np.zeros((2, 3)))


def test_streaming_metric_accumulates_batches_and_argmaxes_logits():
    metric = metrics.MeanIoUMetric(4)
    logits = tf.one_hot(PREDICTIONS[None], 4) * 5.0  # (1, 2, 3, 4)
    metric.update_state(LABELS[None], logits)
    assert float(metric.result()) == pytest.approx(HAND_MIOU)
    # Second batch as class ids: [[3]] vs label [[3]] makes class 3 present with IoU 1.
    metric.update_state(np.array([[[3]]]), np.array([[[3]]]))
    expected = HAND_CONFUSION.copy()
    expected[3, 3] = 1
    np.testing.assert_array_equal(metric.confusion(), expected)
    assert float(metric.result()) == pytest.approx((0.5 + 1 / 3 + 0.5 + 1.0) / 4)
    np.testing.assert_allclose(metric.per_class_iou(), [0.5, 1 / 3, 0.5, 1.0])
    metric.reset_state()
    assert math.isnan(float(metric.result()))


def test_streaming_metric_in_tf_function_matches_numpy():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, size=(2, 8, 8)).astype(np.int32)
    labels[0, 0, :4] = 255
    predictions = rng.integers(0, 3, size=(2, 8, 8)).astype(np.int32)
    metric = metrics.MeanIoUMetric(3)
    tf.function(metric.update_state)(tf.constant(labels), tf.constant(predictions))
    confusion = metrics.confusion_matrix(labels, predictions, 3)
    np.testing.assert_array_equal(metric.confusion(), confusion)
    assert float(metric.result()) == pytest.approx(metrics.mean_iou(confusion)[0], rel=1e-6)


def test_streaming_metric_rejects_bad_arguments():
    with pytest.raises(ValueError, match="num_classes.*-2"):
        metrics.MeanIoUMetric(-2)
    with pytest.raises(ValueError, match="sample_weight"):
        metrics.MeanIoUMetric(2).update_state([[0]], [[0]], sample_weight=[[1.0]])
