"""The one loop that scores a split: train's validation and ``evaluate`` both run their batches through
:func:`score_split`, which sums the confusion matrix (and the loss, when the step gives one), names a corrupt shard
of the split, and reports progress."""

from __future__ import annotations

import dataclasses

import numpy as np

from rfbnet_tf import metrics
from rfbnet_tf.datasets import shards


@dataclasses.dataclass
class SplitScore:
    """Sums over a split: the confusion matrix (rows = labels), the loss sum and the pixels it is over, and the
    frames seen (when the step reports them)."""

    confusion: np.ndarray
    loss_total: float = 0.0
    loss_count: float = 0.0
    examples: int = 0

    @property
    def miou_and_per_class(self):
        return metrics.mean_iou(self.confusion)

    @property
    def pixel_accuracy(self) -> float:
        return metrics.pixel_accuracy(self.confusion)

    @property
    def loss(self) -> float:
        """Mean loss per labelled pixel (0 when the step gave none)."""
        return self.loss_total / max(self.loss_count, 1.0)


def score_split(batches, step, *, num_classes, record_dir, split, on_batch=None) -> SplitScore:
    """Run ``step`` over ``batches`` (an iterable of dataset elements of ``split`` of ``record_dir``).

    ``step(element)`` returns ``(confusion, loss_total, loss_count, examples)``: the batch's K×K confusion
    (counts, any numeric type), its loss sum and labelled-pixel count (None when it computes no loss) and its frame
    count (None when unknown). ``on_batch(score, examples)`` is called after each batch (progress).
    A truncated / corrupt shard raises ``ValueError`` naming it (``shards.naming_corrupt_shards``).
    """
    score = SplitScore(np.zeros((num_classes, num_classes), np.int64))
    with shards.naming_corrupt_shards(record_dir, split):
        for element in batches:
            confusion, loss_total, loss_count, examples = step(element)
            score.confusion += np.rint(np.asarray(confusion)).astype(np.int64)
            if loss_total is not None:
                score.loss_total += float(loss_total)
                score.loss_count += float(loss_count)
            if examples is not None:
                score.examples += int(examples)
            if on_batch is not None:
                on_batch(score, examples)
    return score
