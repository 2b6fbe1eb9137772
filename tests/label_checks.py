"""Comparing predicted class ids with a float reference without trusting argmax at near-ties.

Two kernels (AVX2 / AVX-512, oneDNN on / off, graph vs eager) may sum the same floats in another order; on an
untrained model some pixels have two classes within 1e-7 of each other and ``argmax`` flips there. These checks
accept another class only where the reference itself cannot tell it from the best one, and still catch a wrong
geometry (a shifted pad, a transposed crop), which moves ids at pixels whose margin is large.
"""

import numpy as np


def top_two_margin(scores):
    """Per pixel: best score minus the second best (``scores`` (..., C))."""
    top = np.sort(np.asarray(scores, np.float64), axis=-1)
    return top[..., -1] - top[..., -2]


def assert_class_ids_match(class_ids, scores, tolerance=1e-5, min_decided=0.5):
    """``class_ids`` is the argmax of ``scores`` (probabilities or logits, (..., C)) up to near-ties.

    * every pixel's chosen class scores within ``tolerance`` of the best class;
    * where the best class leads the second by more than ``tolerance`` (a decided pixel), ids are equal;
    * at least ``min_decided`` of the pixels are decided, so the check cannot pass vacuously.
    """
    scores = np.asarray(scores, np.float64)
    class_ids = np.asarray(class_ids)
    assert class_ids.shape == scores.shape[:-1], (class_ids.shape, scores.shape)
    chosen = np.take_along_axis(scores, class_ids[..., None].astype(np.int64), axis=-1)[..., 0]
    shortfall = scores.max(axis=-1) - chosen
    assert shortfall.max() <= tolerance, (
        f"{np.count_nonzero(shortfall > tolerance)} pixels take a class that scores up to {shortfall.max():.3g} "
        f"below the best")
    decided = top_two_margin(scores) > tolerance
    assert decided.mean() >= min_decided, f"only {decided.mean():.1%} of the pixels are decided"
    np.testing.assert_array_equal(class_ids[decided], np.argmax(scores, axis=-1)[decided])


def near_tie_count(scores, tolerance=1e-5):
    """Pixels whose best and second-best scores are within ``tolerance``: where argmax may flip across kernels."""
    return int(np.count_nonzero(top_two_margin(scores) <= tolerance))


def assert_confusion_matches(confusion, labels, scores, tolerance=1e-4, ignore_label=255, min_decided=0.9):
    """A confusion matrix (rows: labels, columns: predictions) computed elsewhere from ``scores`` (..., C)
    equals the one of ``argmax(scores)`` up to near-ties: the labelled pixels whose top two scores are within
    ``tolerance`` may land in any column, every other pixel in exactly its argmax column.

    Checked: the decided pixels' confusion is contained entry by entry; what is left over in each row is exactly
    the number of undecided pixels of that label; and at least ``min_decided`` of the labelled pixels are
    decided.  With no near-tie this is exact equality.
    """
    confusion = np.asarray(confusion, np.int64)
    num_classes = confusion.shape[0]
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    scores = np.asarray(scores, np.float64).reshape(labels.size, -1)
    keep = labels != ignore_label
    decided = top_two_margin(scores) > tolerance
    predictions = np.argmax(scores, axis=-1)
    lower = np.zeros_like(confusion)
    np.add.at(lower, (labels[keep & decided], predictions[keep & decided]), 1)
    assert (keep & decided).sum() >= min_decided * keep.sum(), "too few decided pixels for a meaningful check"
    leftover = confusion - lower
    assert leftover.min() >= 0, "a decided pixel is missing from the confusion matrix"
    undecided_per_label = np.bincount(labels[keep & ~decided], minlength=num_classes)[:num_classes]
    np.testing.assert_array_equal(leftover.sum(axis=1), undecided_per_label)
