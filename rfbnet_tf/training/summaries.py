"""TensorBoard summaries of training (``model_dir/logs/train``) and validation (``model_dir/logs/val``).

Scalars: ``loss/total``, ``loss/cross_entropy``, ``loss/weight_decay``, ``loss/aux{i}``, ``learning_rate``,
``steps_per_second``, ``miou`` and ``iou/{class name}`` (train: over the pixels of the last ``summary_every``
steps; val: over the validation split), ``pixel_accuracy``.  Images (val writer, a fixed set of validation
frames): ``images/rgb``, ``images/depth`` (HHA or depth, de-normalised), ``images/ground_truth`` and
``images/prediction`` (colourised, :func:`rfbnet_tf.visualize.colorize`) and, for RFBNet models, the four gate
maps of the first residual fusion block ``gates/G_Rin``, ``gates/G_Din``, ``gates/G_Rout``, ``gates/G_Dout``
(values in [0, 1], shown as grey levels, Sec. III-C).

TensorFlow 2.21 no longer installs the ``tensorboard`` package, and ``tf.summary.scalar`` / ``image`` live
there.  This module writes the same event records with TensorFlow's own ``tf.summary.write`` and the
TensorBoard plugin metadata of those two functions (``plugin_name`` "scalars" / "images"; an image summary is
the string tensor ``[width, height, png_1, ...]``), so training needs no ``tensorboard`` install; viewing the
logs does (``pip install tensorboard; tensorboard --logdir model_dir/logs``).
"""

from __future__ import annotations

import math
import os

import numpy as np
import tensorflow as tf

from tensorflow.core.framework import summary_pb2

from rfbnet_tf import run_directory
from rfbnet_tf.constants import IGNORE_LABEL
from rfbnet_tf.visualize import colorize

GATE_NAMES = ("G_Rin", "G_Din", "G_Rout", "G_Dout")


def _metadata(plugin_name, data_class):
    return summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=plugin_name), data_class=data_class
    ).SerializeToString()


SCALAR_METADATA = _metadata("scalars", summary_pb2.DATA_CLASS_SCALAR)
IMAGE_METADATA = _metadata("images", summary_pb2.DATA_CLASS_BLOB_SEQUENCE)


def scalar(tag, value, step=None):
    """``tf.summary.scalar`` without the tensorboard package (same event record)."""
    return tf.summary.write(tag, tf.cast(value, tf.float32), step=step, metadata=SCALAR_METADATA)


def image(tag, images, step=None, max_outputs=3):
    """``tf.summary.image`` without the tensorboard package: ``images`` (B, H, W, 1|3) uint8, or float in
    [0, 1]; the first ``max_outputs`` are PNG-encoded."""
    images = tf.convert_to_tensor(images)
    if images.dtype != tf.uint8:
        images = tf.image.convert_image_dtype(tf.clip_by_value(tf.cast(images, tf.float32), 0.0, 1.0), tf.uint8,
                                              saturate=True)
    images = images[:max_outputs]
    encoded = tf.map_fn(tf.image.encode_png, images, fn_output_signature=tf.string)
    shape = tf.shape(images)
    dimensions = tf.stack([tf.as_string(shape[2]), tf.as_string(shape[1])])  # width, height
    return tf.summary.write(tag, tf.concat([dimensions, encoded], 0), step=step, metadata=IMAGE_METADATA)


class SummaryWriters:
    """The train and val ``tf.summary`` writers of a model_dir (no-op writers when ``enabled`` is False,
    e.g. on non-chief workers)."""

    def __init__(self, model_dir, enabled=True):
        if enabled:
            self.train = tf.summary.create_file_writer(os.path.join(model_dir, run_directory.TRAIN_LOGS_SUBDIR))
            self.val = tf.summary.create_file_writer(os.path.join(model_dir, run_directory.VAL_LOGS_SUBDIR))
        else:
            self.train = self.val = tf.summary.create_noop_writer()

    def flush(self):
        self.train.flush()
        self.val.flush()

    def close(self):
        self.train.close()
        self.val.close()


def write_scalars(writer, step, scalars: dict):
    """One scalar summary per ``{tag: value}``; NaN values (e.g. IoU of an absent class) are left out."""
    with writer.as_default(step=int(step)):
        for tag, value in scalars.items():
            value = float(value)
            if not math.isnan(value):
                scalar(tag, value)


def iou_scalars(miou, per_class_iou, class_names) -> dict:
    """``{"miou": m, "iou/<name>": ...}`` for :func:`write_scalars`."""
    scalars = {"miou": miou}
    for name, value in zip(class_names, per_class_iou):
        scalars[f"iou/{name}"] = value
    return scalars


def image_panel(inputs, labels, logits, denormalize, gates=None, palette=None, ignore_label=IGNORE_LABEL) -> dict:
    """The image summaries of one batch as ``{tag: uint8 or [0,1] float (B, H, W, C)}``.

    Args:
      inputs: ``{"rgb": ..., "depth": ...}`` normalised numpy arrays (unimodal: one of them).
      labels: int (B, H, W) ground truth; logits: (B, H, W, K).
      denormalize: ``f(array, key) -> uint8`` with key "rgb" / "depth" (the train binary passes the dataset's
        statistics, see ``pipeline.denormalize``).
      gates: optional (B, h, w, 4) gate maps in [0, 1].
      palette, ignore_label: the colours and ignore label of :func:`rfbnet_tf.visualize.colorize`.
    """
    panel = {}
    for key, array in inputs.items():
        panel[f"images/{key}"] = denormalize(np.asarray(array), key)
    panel["images/ground_truth"] = colorize(np.asarray(labels), palette, ignore_label)
    panel["images/prediction"] = colorize(np.argmax(np.asarray(logits), axis=-1), palette, ignore_label)
    if gates is not None:
        gates = np.clip(np.asarray(gates, np.float32), 0.0, 1.0)
        for index, name in enumerate(GATE_NAMES[: gates.shape[-1]]):
            panel[f"gates/{name}"] = gates[..., index : index + 1]
    return panel


def write_images(writer, step, panel: dict, max_outputs=3):
    """Write every image of :func:`image_panel`."""
    with writer.as_default(step=int(step)):
        for tag, images in panel.items():
            image(tag, images, max_outputs=max_outputs)
