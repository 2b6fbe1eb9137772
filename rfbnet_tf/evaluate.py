r"""Evaluate a trained run: mIoU, per-class IoU, pixel accuracy and the confusion matrix of a split.

Usage::

    python -m rfbnet_tf.evaluate --model_dir=runs/rfbnet_scannet [--record_dir=data/scannet] \
        [--split=val] [--full_resolution] [--checkpoint=final] [--batch_size=4]

The metric is the benchmarks' (paper Tables I-IV): PASCAL VOC IoU = TP / (TP + FP + FN) per
class, from one confusion matrix accumulated over the whole split (``rfbnet_tf.metrics``), pixels
with the ignore label (255; 65535 for more than 255 classes) excluded, classes absent from both ground
truth and predictions left out of the mean (reported as NaN / null).

Frames are read by the input pipeline at the run's training resolution (``image_size`` of
``flags.json``; ``make_dataset(training=False)``: bilinear resize, no augmentation) and normalised
with the run's own statistics (``run_info.json`` of ``model_dir``), whichever records are evaluated;
class names and the ignore label also come from the run.  Without
``--full_resolution`` the labels are resized the same way (nearest neighbour) and scored there —
the number the train binary's validation reports.  With ``--full_resolution`` the logits are
resized bilinearly to the stored label size and scored against the unresized labels, as the paper
benchmarks ("We resize the predictions to the full resolution when benchmarking", Sec. IV-B).

Writes, under ``model_dir/eval`` (or ``--output_dir``):

* ``{split}.json`` (``{split}_full_resolution.json`` with ``--full_resolution``): ``miou``,
  ``per_class_iou`` ({class name: IoU or null}), ``pixel_accuracy``, ``mean_class_accuracy`` and
  ``per_class_accuracy`` (recall per class, the third number NYUv2 papers report), ``confusion_matrix`` (rows
  = ground truth), ``class_names``, ``checkpoint_step``, ``checkpoint``, ``record_dir``, ``split``,
  ``num_examples``, ``full_resolution``, ``image_size``, ``seconds``, ``time`` (UTC, ISO 8601);
* ``{split}_confusion.png`` (``{split}_full_resolution_confusion.png``): the row-normalised
  confusion matrix (``rfbnet_tf.drawing.confusion_plot``);

and prints the per-class IoU table.  The ``Progress`` bar goes to stderr.
"""

from __future__ import annotations

from rfbnet_tf import cli
from rfbnet_tf.evaluation.evaluator import DEFAULT_SPLIT, EvaluationConfig, evaluate
from rfbnet_tf.utils import flag_configs


def _define_flags():
    from absl import flags

    flags.DEFINE_string("model_dir", None, "Training run directory (flags.json, checkpoints).", required=True)
    flags.DEFINE_string("record_dir", None, "Records to evaluate on (default: the run's record_dir).")
    flags.DEFINE_string("split", DEFAULT_SPLIT, "Split to evaluate.")
    flags.DEFINE_boolean("full_resolution", False,
                         "Resize the logits to the stored label size and score there (the paper's benchmark protocol).")
    flags.DEFINE_string("checkpoint", None, "Checkpoint prefix, .weights.h5 path or 'final' (default: latest).")
    flags.DEFINE_integer("batch_size", 1, "Frames per batch (must be 1 with --full_resolution).")
    flags.DEFINE_string("output_dir", None, "Where to write the JSON and PNG (default: model_dir/eval).")
    flags.DEFINE_boolean("progress", True, "Show a progress bar on stderr.")


@cli.exits_on_user_error
def main(argv):
    from absl import flags

    cli.check_no_arguments(argv)
    FLAGS = flags.FLAGS
    evaluate(flag_configs.from_flags(EvaluationConfig, FLAGS))


FLAG_GROUPS = {
    "input": ["model_dir", "checkpoint", "record_dir", "split"],
    "scoring": ["full_resolution", "batch_size"],
    "output": ["output_dir", "progress"],
}
"""``--help`` headings of the flags."""


def run():
    """Entry point of ``rfbnet-evaluate`` and ``python -m rfbnet_tf.evaluate``."""
    cli.run(main, _define_flags, groups=FLAG_GROUPS)


if __name__ == "__main__":
    run()
