r"""Convert a dataset into the shared TFRecord format (``rfbnet_tf.datasets.records``).

Usage::

    python -m rfbnet_tf.prepare_data --dataset=synthetic --output_dir=data/synthetic
    python -m rfbnet_tf.prepare_data --dataset=cityscapes --input_dir=/data/cityscapes \
        --output_dir=data/cityscapes [--image_size=512,1024]
    python -m rfbnet_tf.prepare_data --dataset=scannet --input_dir=/data/scannet \
        --output_dir=data/scannet
    python -m rfbnet_tf.prepare_data --dataset=nyuv2 --input_dir=/data/nyuv2 --output_dir=data/nyuv2 \
        --splits=train,test [--nyuv2_classes=13|894] [--depth_source=raw]
    python -m rfbnet_tf.prepare_data --dataset=sunrgbd --input_dir=/data/sunrgbd --output_dir=data/sunrgbd \
        --splits=train,test [--depth_source=raw]

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
from rfbnet_tf.datasets import records
# re-exported: the binary's Python API (prepare_data.prepare(...), ...)
from rfbnet_tf.datasets.frame_conversion import check_frame, process_frame  # noqa: F401
from rfbnet_tf.datasets.frame_stats import FrameStats  # noqa: F401
from rfbnet_tf.datasets.preparation import (  # noqa: F401
    DEFAULT_EXAMPLES_PER_SHARD,
    DEFAULT_SYNTHETIC_TRAIN,
    DEFAULT_SYNTHETIC_VAL,
    RGB_FORMATS,
    prepare,
)
from rfbnet_tf.datasets.record_directory import ShardWriter  # noqa: F401
from rfbnet_tf.datasets.sources import (  # noqa: F401
    DATASETS,
    DEFAULT_SYNTHETIC_SIZE,
    DEPTH_SOURCES,
    SYNTHETIC_MAX_DEPTH_M,
    Source,
    get_source,
    list_frames,
    load_frame,
)
from rfbnet_tf.utils import files


def _define_flags():
    """absl flags of the binary (defined only by :func:`run`, so that spawned workers and importers
    such as the train binary never define them twice)."""
    from absl import flags

    flags.DEFINE_enum("dataset", "synthetic", list(DATASETS), "Dataset to convert.")
    flags.DEFINE_string("input_dir", None, "Official download root: Cityscapes leftImg8bit/ disparity/ camera/ "
                        "gtFine/; ScanNet scannet_frames_25k/ (+ scannet_frames_test/) or scans/ (SensReader); "
                        "NYUv2 nyu_depth_v2_labeled.mat, splits.mat, class mappings; SUN RGB-D SUNRGBD/, "
                        "SUNRGBDtoolbox/.")
    flags.DEFINE_string("output_dir", None, "Record directory to write.", required=True)
    flags.DEFINE_list("splits", ["train", "val"], "Splits to convert (test: converted without labels).")
    flags.DEFINE_integer("num_workers", None, "Worker processes (default: CPU count).")
    flags.DEFINE_integer("examples_per_shard", DEFAULT_EXAMPLES_PER_SHARD, "Examples per shard.")
    flags.DEFINE_integer("synthetic_train", DEFAULT_SYNTHETIC_TRAIN, "Synthetic train frames.")
    flags.DEFINE_integer("synthetic_val", DEFAULT_SYNTHETIC_VAL, "Synthetic val frames.")
    flags.DEFINE_integer("synthetic_height", DEFAULT_SYNTHETIC_SIZE[0], "Synthetic frame height.")
    flags.DEFINE_integer("synthetic_width", DEFAULT_SYNTHETIC_SIZE[1], "Synthetic frame width.")
    flags.DEFINE_integer("seed", 0, "Seed of the synthetic split seeds.")
    flags.DEFINE_float("max_depth", None, "Depth range in metres (default per dataset).")
    flags.DEFINE_list("image_size", None, "Stored height,width (default per dataset).")
    flags.DEFINE_integer("scannet_frame_skip", None, "ScanNet: keep every n-th frame (default 100).")
    flags.DEFINE_enum("rgb_format", "png", list(RGB_FORMATS), "Stored RGB encoding.")
    flags.DEFINE_enum("nyuv2_classes", None, ["40", "13", "894"],
                      "NYUv2: label set (default 40; 894 = the raw classes, named by allClassName of "
                      "classMapping40.mat and stored as 16-bit labels with ignore 65535).")
    flags.DEFINE_enum("depth_source", None, list(DEPTH_SOURCES),
                      "NYUv2 / SUN RGB-D depth: 'toolbox' (default: the filled depths / depth_bfx) or 'raw' "
                      "(rawDepths / depth, completed by this project's depth completion).")
    flags.DEFINE_boolean("overwrite", False, "Replace existing shards / dataset_info.json.")
    flags.DEFINE_boolean("progress", True, "Show a progress bar on stderr.")


@cli.exits_on_user_error
def main(argv):
    from absl import flags

    cli.check_no_arguments(argv)
    FLAGS = flags.FLAGS
    # Before any conversion: the records are built beside --output_dir and renamed into place.
    files.check_writable_directory(os.path.dirname(os.path.abspath(FLAGS.output_dir)), "--output_dir", FLAGS.output_dir)
    image_size = None
    if FLAGS.image_size:
        try:
            image_size = tuple(int(v) for v in FLAGS.image_size)
        except ValueError:
            raise ValueError(f"--image_size must be height,width, got {FLAGS.image_size}") from None
    summary = prepare(
        FLAGS.dataset, FLAGS.output_dir, input_dir=FLAGS.input_dir, splits=tuple(FLAGS.splits),
        num_workers=FLAGS.num_workers, examples_per_shard=FLAGS.examples_per_shard,
        synthetic_train=FLAGS.synthetic_train, synthetic_val=FLAGS.synthetic_val,
        synthetic_size=(FLAGS.synthetic_height, FLAGS.synthetic_width), seed=FLAGS.seed,
        overwrite=FLAGS.overwrite, progress=FLAGS.progress, max_depth=FLAGS.max_depth,
        image_size=image_size, frame_skip=FLAGS.scannet_frame_skip, rgb_format=FLAGS.rgb_format,
        nyuv2_classes=int(FLAGS.nyuv2_classes) if FLAGS.nyuv2_classes else None, depth_source=FLAGS.depth_source,
    )
    for split, entry in summary["splits"].items():
        logging.info("%s: %d examples in %d shards", split, entry["num_examples"], len(entry["files"]))
    if summary["skipped"]["count"]:
        logging.warning("skipped %d frames: %s", summary["skipped"]["count"], summary["skipped"]["reasons"])
    logging.info("wrote %s in %.1f s", os.path.join(FLAGS.output_dir, records.DATASET_INFO_FILENAME),
                 summary["seconds"])


def run():
    """Entry point of ``rfbnet-prepare-data`` and ``python -m rfbnet_tf.prepare_data``."""
    cli.run(main, _define_flags)


if __name__ == "__main__":
    run()
