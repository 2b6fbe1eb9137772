r"""Segment RGB-D image files with a trained run and write colourised label maps and overlays.

Usage::

    python -m rfbnet_tf.predict --model_dir=runs/rfbnet_scannet --rgb=frames/color \
        --depth=frames/hha --output_dir=out [--label=frames/label] \
        [--compare_model_dir=runs/ssma_scannet] [--alpha=0.5]
    # raw depth instead of HHA: its units and the depth camera's intrinsics
    python -m rfbnet_tf.predict ... --depth=frames/depth --depth_units=mm --intrinsics=577.6,578.7,318.9,242.7
    # Cityscapes as downloaded: disparities with their camera JSON
    python -m rfbnet_tf.predict ... --rgb=leftImg8bit/val/frankfurt --depth=disparity/val/frankfurt \
        --depth_units=cityscapes_disparity --camera=camera/val/frankfurt
    # benchmark-server files of a prepared split (rfbnet_tf.evaluation.submission)
    python -m rfbnet_tf.predict --model_dir=runs/cityscapes_rfbnet_erfnet_enc --record_dir=data/cityscapes \
        --split=test --format=cityscapes --output_dir=submissions/cityscapes
    # a ROS recording (extra [ros]) → a bag of label images (rfbnet_tf.recordings.bag_prediction)
    python -m rfbnet_tf.predict --model_dir=runs/rfbnet_scannet --bag=recording.bag --output_bag=labels.bag \
        [--rgb_topic=/camera/color/image_raw] [--depth_topic=/camera/aligned_depth_to_color/image_raw] \
        [--camera_info_topic=/camera/color/camera_info] [--output_dir=out] [--video=overlay.mp4]

``--rgb``/``--depth``/``--label`` are files or directories (paired by file stem, see
``rfbnet_tf.inference.image_files``).  The depth file is the HHA image (8-bit, 3 channels) for
runs trained on HHA, or raw depth in ``--depth_units`` (``mm``: 16-bit PNG millimetres; ``1e-4m``: 16-bit PNG in
1/10000 m, the NYU toolbox's dumps; ``m``: float ``.npy`` / ``.exr``; ``cityscapes_disparity``: Cityscapes
disparity PNGs with ``--camera``): the range read is logged in metres, then it is completed and, for HHA runs,
HHA-encoded with ``--intrinsics`` exactly as ``prepare_data`` does (``rfbnet_tf.preprocessing.depth_encoding``)
with the run's depth range (``max_depth`` of its ``run_info.json``, or ``--max_depth``).  A depth of another size
than its RGB image is an error unless ``--resize_depth`` is given (the intrinsics are then scaled).  Inference goes through the export's preprocessing
(``rfbnet_tf.inference.serving``: same normalisation, same size policy).  Everything about the
training data comes from ``--model_dir`` (``run_info.json``), never from the records.

Per frame ``{stem}``, in ``--output_dir``:

* ``legend.png`` — the class colours (and the ignore label's) with the class names;
* ``{stem}_labels.png`` — predicted classes in the run's palette (``palette`` of ``run_info.json``: the
  dataset's colours, ``rfbnet_tf.drawing.palettes.run_palette``);
* ``{stem}_class_ids.png`` — predicted train ids (8-bit, one channel; 16-bit for runs of more than 255 classes);
* ``{stem}_overlay.png`` — the colours alpha-blended on the RGB image (``--alpha``);
* with ``--label``: ``{stem}_ground_truth.png`` (colourised) and ``{stem}_error_map.png``, the
  paper's Fig. 6/7 improvement/error map (``rfbnet_tf.drawing.error_map``): red = misclassified
  by this model, green = misclassified by the ``--compare_model_dir`` model but correct here;
* with ``--compare_model_dir``: ``{stem}_compare_labels.png`` — the other model's classes;
* with ``--gates`` (RFBNet runs): ``{stem}_gates.png`` — per residual fusion block (one row each, named), the RGB
  and the four gates G_Rin, G_Din, G_Rout, G_Dout (Sec. III-C: how much of each modality enters and leaves the
  interaction stream) upsampled and drawn over it, with a colour bar 0 → 1 (``rfbnet_tf.drawing.gate_figures``), and
  ``{stem}_gates.npz`` — the numbers: one ``(h, w, 4)`` array per block at the depth stream's resolution of the
  model input, ``gate_names``, ``model_input_size``.  Another model is refused with one line.

With ``--bag=IN --output_bag=OUT`` it segments a ROS recording instead (``--rgb_topic``, ``--depth_topic``,
``--camera_info_topic``; optional ``--output_dir`` PNGs and ``--video``): see
``rfbnet_tf.recordings.bag_prediction``.

With ``--format={cityscapes,scannet}`` (and ``--record_dir``, ``--split`` instead of ``--rgb``) it writes the
benchmark server's files of a prepared split instead: see ``rfbnet_tf.evaluation.submission``.
"""

from __future__ import annotations

import os

from rfbnet_tf import cli
from rfbnet_tf.evaluation import submission
from rfbnet_tf.inference import depth_input, input_spec
from rfbnet_tf.inference.prediction import PredictConfig, predict
from rfbnet_tf.recordings import bag_flags
from rfbnet_tf.recordings.bag_prediction import BagRecordingConfig, predict_bag
from rfbnet_tf.utils import files, flag_configs


def _define_flags():
    from absl import flags

    flags.DEFINE_string("model_dir", None, "Training run directory (flags.json, checkpoints).", required=True)
    flags.DEFINE_string("rgb", None, "RGB image file or directory (not with --format).")
    flags.DEFINE_string("depth", None, "HHA (8-bit, 3 channels) or raw depth (--depth_units) file or directory.")
    flags.DEFINE_enum("depth_units", "mm", list(depth_input.DEPTH_UNITS),
                      "Units of raw depth files: mm / 1e-4m (16-bit PNG), m (float .npy/.exr), cityscapes_disparity.")
    flags.DEFINE_boolean("resize_depth", False, "Resize depth of another size than the RGB (intrinsics scaled).")
    flags.DEFINE_string("camera", None, "Cityscapes *_camera.json file or directory (cityscapes_disparity).")
    flags.DEFINE_enum("format", None, list(submission.FORMATS),
                      "Write benchmark-server files of --record_dir's --split instead of pictures.")
    flags.DEFINE_string("record_dir", None, "Prepared records (with --format).")
    flags.DEFINE_string("split", None, "Split of --record_dir (with --format), e.g. test.")
    flags.DEFINE_string("label", None, "Ground-truth train-id PNG file or directory (enables the error map; 16-bit "
                        "for runs of more than 255 classes).")
    flags.DEFINE_string("output_dir", None, "Where to write the PNGs (required, except with --bag).")
    flags.DEFINE_string("compare_model_dir", None, "A second run for the improvement/error map (green pixels).")
    flags.DEFINE_string("intrinsics", None, "Depth camera 'fx,fy,cx,cy', 9 numbers or a file (for raw depth → HHA).")
    flags.DEFINE_float("max_depth", None, "Raw depth range in metres (default: the run's run_info.json).")
    flags.DEFINE_float("alpha", 0.5, "Opacity of the label colours in the overlay.")
    flags.DEFINE_string("checkpoint", None, "Weights of --model_dir (checkpoint prefix, .weights.h5, 'final').")
    flags.DEFINE_string("compare_checkpoint", None, "Weights of --compare_model_dir.")
    flags.DEFINE_enum("size_policy", None, list(input_spec.SIZE_POLICIES),
                      "resize to the training size (default when known) or pad to a valid size.")
    flags.DEFINE_boolean("gates", False, "RFBNet runs: also write each frame's gate maps of every residual fusion "
                         "block ({stem}_gates.png over the RGB with a colour bar, {stem}_gates.npz).")
    flags.DEFINE_boolean("progress", True, "Show a progress bar on stderr.")
    bag_flags.define_topic_flags()
    bag_flags.define_prediction_flags()


@cli.exits_on_user_error
def main(argv):
    from absl import flags

    cli.check_no_arguments(argv)
    FLAGS = flags.FLAGS
    if FLAGS.bag is not None or FLAGS.output_bag is not None:
        if FLAGS.bag is None or FLAGS.output_bag is None or FLAGS.rgb is not None or FLAGS.format is not None:
            raise ValueError("--bag writes --output_bag: give both (and no --rgb or --format)")
        # Before any slow work: the output bag is written beside --output_bag and renamed into place.
        files.check_writable_directory(os.path.dirname(os.path.abspath(FLAGS.output_bag)), "--output_bag",
                                       FLAGS.output_bag)
        predict_bag(FLAGS.model_dir, flag_configs.from_flags(BagRecordingConfig, FLAGS),
                    checkpoint=FLAGS.checkpoint, size_policy=FLAGS.size_policy, max_depth=FLAGS.max_depth)
        return
    if FLAGS.output_dir is None:
        raise ValueError("give --output_dir (where to write the PNGs)")
    # Before any slow work: predict writes into --output_dir, a submission beside it (renamed into place when done).
    files.check_writable_directory(FLAGS.output_dir if FLAGS.format is None else
                                   os.path.dirname(os.path.abspath(FLAGS.output_dir)), "--output_dir", FLAGS.output_dir)
    if FLAGS.format is not None:
        if FLAGS.record_dir is None or FLAGS.split is None or FLAGS.rgb is not None:
            raise ValueError("--format writes a record split: give --record_dir and --split (and no --rgb)")
        submission.write_submission(FLAGS.model_dir, FLAGS.record_dir, FLAGS.split, FLAGS.format, FLAGS.output_dir,
                                    checkpoint=FLAGS.checkpoint, progress=FLAGS.progress)
        return
    if FLAGS.rgb is None:
        raise ValueError("give --rgb (image files), or --format with --record_dir and --split")
    predict(flag_configs.from_flags(PredictConfig, FLAGS))


FLAG_GROUPS = {
    "model": ["model_dir", "checkpoint", "size_policy"],
    "input": ["rgb", "depth", "depth_units", "resize_depth", "camera", "intrinsics", "max_depth", "label"],
    "benchmark submission": ["format", "record_dir", "split"],
    "comparison": ["compare_model_dir", "compare_checkpoint"],
    "ROS recording": ["bag", "rgb_topic", "depth_topic", "camera_info_topic", "max_time_difference", "empty_depth",
                      "output_bag", "output_format", "video"],
    "output": ["output_dir", "alpha", "gates", "progress"],
}
"""``--help`` headings of the flags (a flag not named here is listed under "other")."""


def run():
    """Entry point of ``rfbnet-predict`` and ``python -m rfbnet_tf.predict``."""
    cli.run(main, _define_flags, groups=FLAG_GROUPS)


if __name__ == "__main__":
    run()
