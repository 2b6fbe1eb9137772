r"""Convert a dataset into the shared TFRecord format (``rfbnet_tf.datasets.records``).

Usage::

    python -m rfbnet_tf.prepare_data --dataset=synthetic --output_dir=data/synthetic [--synthetic_size=120,160]
    python -m rfbnet_tf.prepare_data --dataset=cityscapes --input_dir=/data/cityscapes \
        --output_dir=data/cityscapes [--image_size=512,1024]
    python -m rfbnet_tf.prepare_data --dataset=scannet --input_dir=/data/scannet \
        --output_dir=data/scannet
    python -m rfbnet_tf.prepare_data --dataset=nyuv2 --input_dir=/data/nyuv2 --output_dir=data/nyuv2 \
        --splits=train,test [--nyuv2_classes=13|894] [--depth_source=raw]
    python -m rfbnet_tf.prepare_data --dataset=sunrgbd --input_dir=/data/sunrgbd --output_dir=data/sunrgbd \
        --splits=train,test [--depth_source=raw]
    python -m rfbnet_tf.prepare_data --dataset=folder --input_dir=DIR [--check_only] --output_dir=data/folder
    # frames of a ROS recording for labelling (extra [ros]; rfbnet_tf.recordings.frame_extraction)
    python -m rfbnet_tf.prepare_data --dataset=bag --input_dir=recording.bag --output_folder=data/own \
        --every=30 [--output_split=train] [--rgb_topic=...] [--depth_topic=...] [--camera_info_topic=...]

``--dataset=folder`` reads your own RGB-D data (the layout of :mod:`rfbnet_tf.datasets.folder`, README "Your own
RGB-D data"); ``--check_only`` reads every frame and reports per split, writing nothing.

What to download (``--input_dir``, the layouts the converters read as they come):

* Cityscapes (cityscapes-dataset.com): the packages ``leftImg8bit_trainvaltest.zip``,
  ``disparity_trainvaltest.zip``, ``camera_trainvaltest.zip`` and ``gtFine_trainvaltest.zip`` unpacked into one
  folder, giving ``leftImg8bit/``, ``disparity/``, ``camera/`` and ``gtFine/`` (``{split}/{city}/...``); a split
  without ``gtFine`` files (test) is converted unlabelled.
* ScanNet v2 (download-scannet.py after the terms of use): either ``scannet_frames_25k/`` (the paper's 2-D subset,
  ``--type scannet_frames_25k``) and, for the test split, ``scannet_frames_test/``; or the SensReader export of the
  scans (``scans/{scene}/color, depth, intrinsic``, ``*_2d-label-filt.zip`` unzipped to ``label-filt/``) with
  ``scannetv2-labels.combined.tsv``.  Both with ``scannetv2_{train,val,test}.txt`` (Tasks/Benchmark of the ScanNet
  repository) beside them.

How each frame is converted (depth completion, HHA), the atomic replacement of the record directory, the
normalisation statistics and the worker processes: :mod:`rfbnet_tf.datasets.preparation`, the library this binary
runs (``prepare``).
"""

from __future__ import annotations

import os

from absl import logging

from rfbnet_tf import cli
from rfbnet_tf.datasets import records, sources
from rfbnet_tf.datasets.dataset_check import check_dataset, format_report
from rfbnet_tf.datasets.preparation import DEFAULT_EXAMPLES_PER_SHARD, RGB_FORMATS, prepare
from rfbnet_tf.utils import files, flag_configs

_SYNTHETIC_FLAGS = ("synthetic_train", "synthetic_val", "seed")
"""Synthetic options whose flag is the option itself (``--synthetic_size=h,w`` is a list flag, read by
:func:`_synthetic_size`)."""


def _define_flags():
    """absl flags of the binary (defined only by :func:`run`, so that spawned workers and importers
    such as the train binary never define them twice); the dataset options come from the registry."""
    from absl import flags

    from rfbnet_tf.recordings import bag_flags

    flags.DEFINE_enum("dataset", "synthetic", list(sources.REGISTERED) + ["bag"], "Dataset to convert (folder = "
                      "your own RGB-D data: README 'Your own RGB-D data'; bag: extract frames of a ROS recording, "
                      "--input_dir=IN.bag, into --output_folder, for labelling).")
    flags.DEFINE_string("input_dir", None, "Input: " + "; ".join(
        f"{name}: {sources.dataset(name).input_help}" for name in sources.REGISTERED
        if sources.dataset(name).input_help) + "; bag: the ROS 1 .bag file or ROS 2 bag directory.")
    flags.DEFINE_string("output_dir", None, "Record directory to write (not needed with --check_only or "
                        "--dataset=bag).")
    flags.DEFINE_list("splits", None, "Splits to convert (default: the dataset's own: train,val; NYUv2 and SUN "
                      "RGB-D train,test; folder every split present). A split without labels is converted "
                      "unlabelled.")
    flags.DEFINE_boolean("check_only", False, "Read every frame and report per split (frames, class histogram, "
                         "depth range, missing depth, size mismatches, errors); write nothing. Exit 1 when a "
                         "conversion would fail.")
    flags.DEFINE_integer("num_workers", None, "Worker processes (default: the CPUs this process may use).")
    flags.DEFINE_integer("examples_per_shard", DEFAULT_EXAMPLES_PER_SHARD, "Examples per shard.")
    flags.DEFINE_list("synthetic_size", None, "Synthetic frame height,width (default "
                      f"{','.join(map(str, sources.DEFAULT_SYNTHETIC_SIZE))}; as train's --synthetic_size).")
    flags.DEFINE_integer("synthetic_height", None, "Deprecated: --synthetic_size=height,width.")
    flags.DEFINE_integer("synthetic_width", None, "Deprecated: --synthetic_size=height,width.")
    for name, (option, datasets) in sources.all_options().items():
        if name == "synthetic_size":
            continue
        where = "" if name in _SYNTHETIC_FLAGS else f" [{', '.join(datasets)}]"
        if option.choices:
            flags.DEFINE_enum(option.flag_name, None, [str(c) for c in option.choices], option.help + where)
        elif isinstance(option.default, int):
            flags.DEFINE_integer(option.flag_name, None, option.help + f" (default {option.default})" + where)
        else:
            flags.DEFINE_string(option.flag_name, None, option.help + where)
    flags.DEFINE_float("max_depth", None, "Depth range in metres (default per dataset).")
    flags.DEFINE_list("image_size", None, "Stored height,width (default per dataset).")
    flags.DEFINE_enum("rgb_format", "png", list(RGB_FORMATS), "Stored RGB encoding.")
    flags.DEFINE_boolean("overwrite", False, "Replace existing shards / dataset_info.json.")
    flags.DEFINE_boolean("progress", True, "Show a progress bar on stderr.")
    # --dataset=bag
    flags.DEFINE_string("output_folder", None, "--dataset=bag: the own-data folder to extract the frames into.")
    flags.DEFINE_integer("every", 30, "--dataset=bag: write every n-th paired frame.")
    flags.DEFINE_string("output_split", "train", "--dataset=bag: the split folder of --output_folder to write.")
    flags.DEFINE_string("intrinsics", None, "--dataset=bag: colour camera 'fx,fy,cx,cy' (9 numbers or a file) when "
                        "the bag has no CameraInfo.")
    bag_flags.define_topic_flags()


def _dataset_options(FLAGS) -> dict:
    """The dataset options given on the command line (None = not given), typed as the options' defaults."""
    given = {}
    for name, (option, _) in sources.all_options().items():
        if name == "synthetic_size":
            continue
        value = getattr(FLAGS, option.flag_name)
        if value is not None and option.choices and isinstance(option.choices[0], int):
            value = int(value)
        given[name] = value
    if FLAGS.dataset == "synthetic":
        given["synthetic_size"] = _synthetic_size(FLAGS)
    return given


def _synthetic_size(FLAGS) -> tuple:
    """``--synthetic_size=h,w``, or the deprecated ``--synthetic_height`` / ``--synthetic_width`` (each defaulting
    to the option's default)."""
    deprecated = (FLAGS.synthetic_height, FLAGS.synthetic_width)
    if FLAGS.synthetic_size is None:
        return tuple(default if value is None else value
                     for value, default in zip(deprecated, sources.DEFAULT_SYNTHETIC_SIZE))
    if deprecated != (None, None):
        raise ValueError("give --synthetic_size=height,width or the deprecated --synthetic_height/--synthetic_width, "
                         "not both")
    try:
        return tuple(int(v) for v in FLAGS.synthetic_size)
    except ValueError:
        raise ValueError(f"--synthetic_size must be height,width, got {','.join(FLAGS.synthetic_size)}") from None


@cli.exits_on_user_error
def main(argv):
    from absl import flags

    cli.check_no_arguments(argv)
    FLAGS = flags.FLAGS
    if FLAGS.dataset == "bag":
        from rfbnet_tf.recordings.frame_extraction import FrameExtractionConfig, extract_frames

        extract_frames(flag_configs.from_flags(FrameExtractionConfig, FLAGS))
        return
    if not FLAGS.check_only and FLAGS.output_dir:
        # Before any conversion: the records are built beside --output_dir and renamed into place.
        files.check_writable_directory(os.path.dirname(os.path.abspath(FLAGS.output_dir)), "--output_dir",
                                       FLAGS.output_dir)
    image_size = None
    if FLAGS.image_size:
        try:
            image_size = tuple(int(v) for v in FLAGS.image_size)
        except ValueError:
            raise ValueError(f"--image_size must be height,width, got {FLAGS.image_size}") from None
    splits = tuple(FLAGS.splits) if FLAGS.splits else None
    options = _dataset_options(FLAGS)
    if FLAGS.check_only:
        report = check_dataset(FLAGS.dataset, input_dir=FLAGS.input_dir, splits=splits, num_workers=FLAGS.num_workers,
                               progress=FLAGS.progress, max_depth=FLAGS.max_depth, image_size=image_size, **options)
        print(format_report(report))
        if report["errors"]:
            raise ValueError(f"--check_only: {len(report['errors'])} problem(s) found in {FLAGS.input_dir}; "
                             "a conversion would fail (listed above)")
        return
    if not FLAGS.output_dir:
        raise ValueError(f"--dataset={FLAGS.dataset} writes records: give --output_dir (or --check_only)")
    summary = prepare(
        FLAGS.dataset, FLAGS.output_dir, input_dir=FLAGS.input_dir, splits=splits,
        num_workers=FLAGS.num_workers, examples_per_shard=FLAGS.examples_per_shard,
        overwrite=FLAGS.overwrite, progress=FLAGS.progress, max_depth=FLAGS.max_depth,
        image_size=image_size, rgb_format=FLAGS.rgb_format, **options,
    )
    for split, entry in summary["splits"].items():
        logging.info("%s: %d examples in %d shards", split, entry["num_examples"], len(entry["files"]))
    if summary["skipped"]["count"]:
        logging.warning("skipped %d frames: %s", summary["skipped"]["count"], summary["skipped"]["reasons"])
    logging.info("wrote %s in %.1f s", os.path.join(FLAGS.output_dir, records.DATASET_INFO_FILENAME),
                 summary["seconds"])


FLAG_GROUPS = {
    "input": ["dataset", "input_dir", "splits", "check_only"],
    "dataset options": [option.flag_name for name, (option, _) in sources.all_options().items()
                        if name not in ("synthetic_size",) + _SYNTHETIC_FLAGS],
    "synthetic": ["synthetic_train", "synthetic_val", "synthetic_size", "synthetic_height", "synthetic_width", "seed"],
    "ROS recording": ["output_folder", "every", "output_split", "intrinsics", "rgb_topic",
                      "depth_topic", "camera_info_topic", "max_time_difference"],
    "output": ["output_dir", "image_size", "max_depth", "rgb_format", "examples_per_shard", "overwrite"],
    "run": ["num_workers", "progress"],
}
"""``--help`` headings of the flags."""


def run():
    """Entry point of ``rfbnet-prepare-data`` and ``python -m rfbnet_tf.prepare_data``."""
    cli.run(main, _define_flags, groups=FLAG_GROUPS)


if __name__ == "__main__":
    run()
