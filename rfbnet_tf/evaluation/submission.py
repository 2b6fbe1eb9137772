r"""Benchmark-server files from a record split: ``predict --record_dir --split --format --output_dir``.

The predictions are exactly those ``evaluate --full_resolution`` scores (same input pipeline, same logits resized
bilinearly to the stored label size, same argmax), written in a benchmark's format, one PNG per frame in
``output_dir``:

* ``cityscapes`` — the pixel-level semantic labelling task of the Cityscapes benchmark, as cityscapesScripts'
  ``evaluation/evalPixelLevelSemanticLabeling.py`` reads it: one 8-bit PNG per frame named
  ``{city}_{seq}_{frame}_labelIds.png`` (the evaluator matches ``{city}_{seq}_{frame}*.png``) holding Cityscapes
  **label ids** (``cityscapes.TRAIN_ID_TO_LABEL_ID``, not train ids) at the frame's native size (2048×1024 for real
  data): the records must be prepared without ``--image_size``.
* ``scannet`` — the 2-D semantic label task of the ScanNet benchmark (kaldir.vc.in.tum.de/scannet_benchmark/
  documentation, "Format for 2D Semantic Label Prediction"; scored by ``BenchmarkScripts/2d_evaluation/
  evalPixelLevelSemanticLabeling.py`` of github.com/ScanNet/ScanNet): one 8-bit PNG per frame named
  ``{scene}_{frame:06d}.png`` (the name of the ground-truth image, ``scene0707_00_000000.png``), holding **NYU40
  ids** (``scannet.BENCHMARK_NYU40_IDS``) at 640×480: the benchmark resizes prediction and ground truth to 640×480
  (nearest) and scores there, so records prepared at the default 480×640 are scored by ``evaluate
  --full_resolution`` at the benchmark's own resolution; predictions of records stored at another size are resized
  to 640×480 by nearest neighbour.
"""

from __future__ import annotations

import os
import shutil

import cv2
import numpy as np
import tensorflow as tf
from absl import logging

from rfbnet_tf import rundir
from rfbnet_tf.datasets import cityscapes, frame_resizing, pipeline, records, scannet, shards
from rfbnet_tf.evaluation.evaluator import predict_function
from rfbnet_tf.utils.progress import Progress

FORMATS = ("cityscapes", "scannet")
SCANNET_SIZE = (480, 640)
"""(height, width) the ScanNet benchmark scores 2-D labels at."""


def submission_name(fmt: str, frame_name: str) -> str:
    """The file name of one frame's prediction (``frame_name`` as the converters store it)."""
    if fmt == "cityscapes":
        return f"{frame_name}_labelIds.png"
    scene, _, index = frame_name.partition("/")
    if not index.isdigit():
        raise ValueError(f"ScanNet frame name {frame_name!r} is not '{{scene}}/{{frame index}}'")
    return f"{scene}_{int(index):06d}.png"


def benchmark_ids(fmt: str, train_ids: np.ndarray) -> np.ndarray:
    """Train ids → the ids the benchmark reads (Cityscapes label ids, ScanNet NYU40 ids), uint8, at its size."""
    table = cityscapes.TRAIN_ID_TO_LABEL_ID if fmt == "cityscapes" else scannet.BENCHMARK_NYU40_IDS
    ids = np.asarray(table, np.uint8)[train_ids]
    if fmt == "scannet" and ids.shape != SCANNET_SIZE:
        ids = frame_resizing.resize_nearest(ids, SCANNET_SIZE)
    return ids


def _check_records(fmt, info, record_dir, split, run):
    if info.get("dataset") != fmt:
        raise ValueError(f"--format={fmt} needs {fmt} records; {record_dir!r} holds {info.get('dataset')!r}")
    if run.get("dataset") not in (None, fmt) or int(run["num_classes"]) != int(info["num_classes"]):
        raise ValueError(f"--format={fmt}: the run was trained on {run.get('dataset')!r} ({run['num_classes']} "
                         f"classes), the records are {fmt} ({info['num_classes']} classes)")
    if fmt == "cityscapes" and info.get("resized_to"):
        raise ValueError(f"{record_dir!r} stores frames resized to {info['resized_to']}: a Cityscapes submission "
                         f"needs the native size; prepare split {split!r} without --image_size")


def write_submission(model_dir, record_dir, split, fmt, output_dir, *, checkpoint=None, progress=True) -> list:
    """Write one benchmark PNG per frame of ``split`` of ``record_dir`` into ``output_dir``; returns the paths.

    Raises:
      FileNotFoundError: missing run, records or split.
      ValueError: an unknown format, records of another dataset or size, an output directory holding PNGs.
    """
    if fmt not in FORMATS:
        raise ValueError(f"--format must be one of {FORMATS}, received {fmt!r}")
    model_dir, record_dir, output_dir = os.fspath(model_dir), os.fspath(record_dir), os.fspath(output_dir)
    for name, path in (("model_dir", model_dir), ("record_dir", record_dir)):
        if not os.path.isdir(path):
            raise FileNotFoundError(f"{name} {path!r} does not exist")
    run = rundir.facts.load_run_info(model_dir)
    info = records.load_dataset_info(record_dir)
    _check_records(fmt, info, record_dir, split, run)
    if os.path.exists(output_dir) and (not os.path.isdir(output_dir) or os.listdir(output_dir)):
        raise FileExistsError(f"--output_dir={output_dir} already exists and is not empty: a submission needs exactly "
                              "one file per frame, give an empty or new directory")
    files = shards.shard_files(record_dir, split)
    model, config, _ = rundir.checkpoints.restore_model(model_dir, checkpoint)
    model = rundir.checkpoints.inference_model(model)
    keys = config.model.spec.input_keys(config.model_options)
    image_size = config.data.image_size
    dataset = pipeline.make_dataset(record_dir, split, batch_size=1, training=False,
                                    image_size=tuple(image_size) if image_size else None,
                                    depth_input=config.model.depth_input, keep_full_label=True, statistics=run)
    names = tf.data.TFRecordDataset(files).map(lambda s: records.parse_example(s, keys=("label",))["name"])
    predict = predict_function(model, keys, True)
    # Written into a staging directory beside output_dir and moved there only when complete: a failed run leaves
    # no partial submission behind.
    staging = f"{os.path.abspath(output_dir)}.tmp-{os.getpid()}"
    os.makedirs(staging)
    names_written = []
    total = (info.get("splits") or {}).get(split, {}).get("num_examples") or 0
    bar = Progress(f"submission {split}", total, enabled=progress)
    try:
        with shards.naming_corrupt_shards(record_dir, split):
            for (inputs, _, label), name in zip(dataset, names):
                train_ids = predict(inputs, tf.shape(label)[1:3]).numpy()[0]
                filename = submission_name(fmt, name.numpy().decode())
                if filename in names_written:
                    raise ValueError(f"two frames of split {split!r} map to the file {filename!r}")
                if not cv2.imwrite(os.path.join(staging, filename), benchmark_ids(fmt, train_ids)):
                    raise OSError(f"could not write {os.path.join(staging, filename)!r}")
                names_written.append(filename)
                bar.update()
        bar.close()
        if not names_written:
            raise ValueError(f"split {split!r} of {record_dir!r} holds no frame")
        if os.path.isdir(output_dir):
            os.rmdir(output_dir)  # empty (checked above)
        os.replace(staging, output_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    written = [os.path.join(output_dir, filename) for filename in names_written]
    logging.info("wrote %d %s submission file(s) to %s", len(written), fmt, output_dir)
    return written
