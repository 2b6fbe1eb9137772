r"""Segment RGB-D image files with a trained run and write colourised label maps and overlays.

Usage::

    python -m rfbnet_tf.predict --model_dir=runs/rfbnet_scannet --rgb=frames/color \
        --depth=frames/hha --output_dir=out [--label=frames/label] \
        [--compare_model_dir=runs/ssma_scannet] [--alpha=0.5]
    # raw depth (uint16 millimetres) instead of HHA: give the depth camera's intrinsics
    python -m rfbnet_tf.predict ... --depth=frames/depth --intrinsics=577.6,578.7,318.9,242.7

``--rgb``/``--depth``/``--label`` are files or directories (paired by file stem, see
``rfbnet_tf.inference.image_files``).  The depth file is the HHA image (8-bit, 3 channels) for
runs trained on HHA, or raw depth (16-bit PNG, millimetres): it is then completed and, for HHA
runs, HHA-encoded with ``--intrinsics`` exactly as ``prepare_data`` does
(``rfbnet_tf.inference.depth_input``) with the run's depth range (``max_depth`` of its
``run_info.json``, or ``--max_depth``).  Inference goes through the export's preprocessing
(``rfbnet_tf.inference.serving``: same normalisation, same size policy).  Everything about the
training data comes from ``--model_dir`` (``run_info.json``), never from the records.

Per frame ``{stem}``, in ``--output_dir``:

* ``{stem}_labels.png`` — predicted classes in the run's palette (``palette`` of ``run_info.json``,
  ``rfbnet_tf.visualize.named_palette``);
* ``{stem}_class_ids.png`` — predicted train ids (8-bit, one channel);
* ``{stem}_overlay.png`` — the colours alpha-blended on the RGB image (``--alpha``);
* with ``--label``: ``{stem}_ground_truth.png`` (colourised) and ``{stem}_error_map.png``, the
  paper's Fig. 6/7 improvement/error map (``rfbnet_tf.inference.error_map``): red = misclassified
  by this model, green = misclassified by the ``--compare_model_dir`` model but correct here;
* with ``--compare_model_dir``: ``{stem}_compare_labels.png`` — the other model's classes.
"""

from __future__ import annotations

from rfbnet_tf import cli
from rfbnet_tf.inference import serving
from rfbnet_tf.inference.prediction import (  # noqa: F401 (re-exported: the binary's Python API)
    predict,
)


def _define_flags():
    from absl import flags

    flags.DEFINE_string("model_dir", None, "Training run directory (flags.json, checkpoints).", required=True)
    flags.DEFINE_string("rgb", None, "RGB image file or directory.", required=True)
    flags.DEFINE_string("depth", None, "HHA (8-bit, 3 channels) or raw depth (16-bit mm) file or directory.")
    flags.DEFINE_string("label", None, "Ground-truth train-id PNG file or directory (enables the error map).")
    flags.DEFINE_string("output_dir", None, "Where to write the PNGs.", required=True)
    flags.DEFINE_string("compare_model_dir", None, "A second run for the improvement/error map (green pixels).")
    flags.DEFINE_string("intrinsics", None, "Depth camera 'fx,fy,cx,cy', 9 numbers or a file (for raw depth → HHA).")
    flags.DEFINE_float("max_depth", None, "Raw depth range in metres (default: the run's run_info.json).")
    flags.DEFINE_float("alpha", 0.5, "Opacity of the label colours in the overlay.")
    flags.DEFINE_string("checkpoint", None, "Weights of --model_dir (checkpoint prefix, .weights.h5, 'final').")
    flags.DEFINE_string("compare_checkpoint", None, "Weights of --compare_model_dir.")
    flags.DEFINE_enum("size_policy", None, list(serving.SIZE_POLICIES),
                      "resize to the training size (default when known) or pad to a valid size.")
    flags.DEFINE_boolean("progress", True, "Show a progress bar on stderr.")


@cli.exits_on_user_error
def main(argv):
    from absl import flags

    cli.check_no_arguments(argv)
    FLAGS = flags.FLAGS
    predict(FLAGS.model_dir, FLAGS.rgb, FLAGS.output_dir, depth=FLAGS.depth, label=FLAGS.label,
            compare_model_dir=FLAGS.compare_model_dir, intrinsics=FLAGS.intrinsics, max_depth=FLAGS.max_depth,
            alpha=FLAGS.alpha, checkpoint=FLAGS.checkpoint, compare_checkpoint=FLAGS.compare_checkpoint,
            size_policy=FLAGS.size_policy, progress=FLAGS.progress)


def run():
    """Entry point of ``rfbnet-predict`` and ``python -m rfbnet_tf.predict``."""
    cli.run(main, _define_flags)


if __name__ == "__main__":
    run()
