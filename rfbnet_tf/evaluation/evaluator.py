"""``evaluate(EvaluationConfig(model_dir, ...))``: score a trained run on a record split (the library of
``python -m rfbnet_tf.evaluate``, whose docstring describes the protocol and the outputs)."""

from __future__ import annotations

import dataclasses
import datetime
import math
import os
import time

import cv2
import tensorflow as tf
from absl import logging

from rfbnet_tf import metrics, rundir
from rfbnet_tf.datasets import pipeline, records, shards
from rfbnet_tf.evaluation import split_scoring
from rfbnet_tf.inference import serving_ops
from rfbnet_tf.drawing import confusion_plot
from rfbnet_tf.utils import files
from rfbnet_tf.utils.checks import boolean, positive_int
from rfbnet_tf.utils.flag_configs import normalise_paths
from rfbnet_tf.utils.progress import Progress

DEFAULT_SPLIT = "val"


def result_name(split: str, full_resolution: bool) -> str:
    """Base name of the result files: ``{split}`` or ``{split}_full_resolution``."""
    return f"{split}_full_resolution" if full_resolution else split


def _class_names(run, num_classes):
    names = run.get("class_names")
    if not names or len(names) != num_classes:
        return [f"class_{k}" for k in range(num_classes)]
    return [str(name) for name in names]


def _split_size(info, split, record_dir):
    """Examples in ``split`` (from dataset_info; checks the shards exist with a clear error)."""
    try:
        shards.shard_files(record_dir, split)
    except FileNotFoundError:
        available = sorted((info.get("splits") or {}).keys())
        raise FileNotFoundError(
            f"split {split!r} not found in record_dir {record_dir!r}; available splits: {available}"
        ) from None
    entry = (info.get("splits") or {}).get(split) or {}
    return entry.get("num_examples")


def _nan_to_none(value):
    value = float(value)
    return None if math.isnan(value) else value


def format_table(class_names, per_class_iou, miou, pixel_accuracy, mean_class_accuracy=None) -> str:
    """The console table: one line per class (IoU in %), then the mean, the pixel accuracy and (if given) the mean
    class accuracy."""
    width = max(len("mean class acc."), *(len(name) for name in class_names))

    def percent(value):
        return "   n/a" if value is None or math.isnan(value) else f"{100.0 * value:6.2f}"

    lines = [f"{'class':<{width}}  IoU (%)"]
    lines += [f"{name:<{width}}  {percent(iou)}" for name, iou in zip(class_names, per_class_iou)]
    lines.append("-" * (width + 9))
    lines.append(f"{'mean IoU':<{width}}  {percent(miou)}")
    lines.append(f"{'pixel acc.':<{width}}  {percent(pixel_accuracy)}")
    if mean_class_accuracy is not None:
        lines.append(f"{'mean class acc.':<{width}}  {percent(mean_class_accuracy)}")
    return "\n".join(lines)


def predict_function(model, keys, full_resolution):
    """tf.function: normalised inputs (+ label size) → int32 class ids at the scoring size."""

    @tf.function(reduce_retracing=True)
    def predict(inputs, size):
        logits = model(inputs if len(keys) > 1 else inputs[keys[0]], training=False)
        logits = tf.cast(logits, tf.float32)
        if full_resolution:
            logits = serving_ops.resize_to(logits, size)
        return tf.argmax(logits, axis=-1, output_type=tf.int32)

    return predict


@dataclasses.dataclass(frozen=True)
class EvaluationConfig:
    """What :func:`evaluate` scores: the flags of ``python -m rfbnet_tf.evaluate`` as typed fields (the binary:
    ``utils.flag_configs.from_flags``), checked here, once.

    Fields:
      model_dir: a directory written by ``rfbnet_tf.train``.
      record_dir: records to evaluate on (default: the run's ``record_dir``).
      split: split name, e.g. ``"val"``.
      full_resolution: score at the stored label resolution (logits resized bilinearly).
      checkpoint: which weights (``rundir.checkpoints.restore_model``; None = latest, ``"final"``, a path).
      batch_size: frames per batch (1 with ``full_resolution``, frames may differ in size there).
      output_dir: where to write (default ``model_dir/eval``).
      progress: draw a progress bar on stderr.
    """

    model_dir: str
    record_dir: str | None = None
    split: str = DEFAULT_SPLIT
    full_resolution: bool = False
    checkpoint: str | None = None
    batch_size: int = 1
    output_dir: str | None = None
    progress: bool = True

    def __post_init__(self):
        normalise_paths(self, "model_dir", "record_dir", "output_dir")
        if not isinstance(self.split, str) or not self.split:
            raise ValueError(f"split must be a non-empty string, received {self.split!r}")
        boolean("full_resolution", self.full_resolution)
        boolean("progress", self.progress)
        positive_int("batch_size", self.batch_size)
        if self.full_resolution and self.batch_size != 1:
            raise ValueError("full_resolution scoring runs one frame at a time: batch_size must be 1, received "
                             f"{self.batch_size}")


def evaluate(evaluation: EvaluationConfig) -> dict:
    """Evaluate the run ``evaluation.model_dir`` on its ``split``; writes the JSON and PNG and returns the result
    dict.

    Raises:
      FileNotFoundError: missing model_dir, flags.json, run_info.json, weights, record_dir, dataset_info or split.
      ValueError: records whose class count differs from the model's.
    """
    start = time.monotonic()
    model_dir, record_dir, split = evaluation.model_dir, evaluation.record_dir, evaluation.split
    full_resolution, checkpoint, batch_size = evaluation.full_resolution, evaluation.checkpoint, evaluation.batch_size
    if not os.path.isdir(model_dir):
        raise FileNotFoundError(f"model_dir {model_dir!r} does not exist")
    output_dir = files.check_writable_directory(  # before the evaluation, not after it
        os.path.join(model_dir, rundir.layout.EVAL_SUBDIR) if evaluation.output_dir is None else evaluation.output_dir,
        "--output_dir")

    config = rundir.config_file.load_run_config(model_dir)
    run = rundir.facts.load_run_info(model_dir)
    record_dir = record_dir if record_dir is not None else config.data.record_dir
    if not record_dir:
        raise ValueError(f"no record_dir given and {model_dir!r}/flags.json names none")
    if not os.path.isdir(record_dir):
        raise FileNotFoundError(f"record_dir {record_dir!r} does not exist")
    info = records.load_dataset_info(record_dir)
    num_classes = config.num_classes
    if int(info["num_classes"]) != num_classes:
        raise ValueError(
            f"records in {record_dir!r} have {info['num_classes']} classes but the model of {model_dir!r} "
            f"predicts {num_classes}"
        )
    total = _split_size(info, split, record_dir)
    ignore_label = int(run["ignore_label"])
    class_names = _class_names(run, num_classes)

    model, config, step = rundir.checkpoints.restore_model(model_dir, checkpoint, config)
    model = rundir.checkpoints.inference_model(model)
    keys = config.model.spec.input_keys(config.model_options)
    image_size = config.data.image_size
    dataset = pipeline.make_dataset(
        record_dir, split, batch_size=batch_size, training=False,
        image_size=tuple(image_size) if image_size else None,
        depth_input=config.model.depth_input, keep_full_label=full_resolution, statistics=run,
    )
    predict = predict_function(model, keys, full_resolution)

    def score_batch(element):
        inputs, label = element[0], element[-1]  # label_full is last with keep_full_label
        prediction = predict(inputs, tf.shape(label)[1:3])
        return (metrics.confusion_matrix(label.numpy(), prediction.numpy(), num_classes, ignore_label), None, None,
                int(label.shape[0]))

    bar = Progress(f"evaluate {split}", total or 0, enabled=evaluation.progress)

    def on_batch(score, examples):
        if total is None:
            bar.total = score.examples
        bar.update(examples)

    score = split_scoring.score_split(dataset, score_batch, num_classes=num_classes, record_dir=record_dir, split=split,
                                      on_batch=on_batch)
    bar.close()
    confusion, examples = score.confusion, score.examples
    if examples == 0:
        raise ValueError(f"split {split!r} of {record_dir!r} holds no examples")

    miou, per_class = metrics.mean_iou(confusion)
    accuracy = metrics.pixel_accuracy(confusion)
    class_accuracy, per_class_accuracy = metrics.mean_class_accuracy(confusion)
    result = {
        "miou": _nan_to_none(miou),
        "per_class_iou": {name: _nan_to_none(v) for name, v in zip(class_names, per_class)},
        "pixel_accuracy": _nan_to_none(accuracy),
        "mean_class_accuracy": _nan_to_none(class_accuracy),
        "per_class_accuracy": {name: _nan_to_none(v) for name, v in zip(class_names, per_class_accuracy)},
        "confusion_matrix": confusion.tolist(),
        "class_names": class_names,
        "checkpoint_step": step,
        "checkpoint": checkpoint if checkpoint is not None else "latest",
        "model": config.model.name,
        "model_dir": os.path.abspath(model_dir),
        "record_dir": os.path.abspath(record_dir),
        "split": split,
        "num_examples": examples,
        "full_resolution": full_resolution,
        "image_size": list(image_size) if image_size else None,
        "seconds": round(time.monotonic() - start, 3),
        "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    print(format_table(class_names, per_class, miou, accuracy, class_accuracy))

    os.makedirs(output_dir, exist_ok=True)
    name = result_name(split, full_resolution)
    json_path = os.path.join(output_dir, f"{name}.json")
    files.write_json_atomically(json_path, result)
    image, _ = confusion_plot.render_confusion(confusion, class_names)
    png_path = os.path.join(output_dir, f"{name}_confusion.png")
    files.write_bytes_atomically(png_path, cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))[1].tobytes())
    logging.info("mIoU %.2f%% on %d %s frames; wrote %s and %s", 100.0 * miou if not math.isnan(miou) else float("nan"),
                 examples, split, json_path, png_path)
    return result
