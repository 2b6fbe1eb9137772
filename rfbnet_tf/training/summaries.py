"""TensorBoard summaries of training (``model_dir/logs/train``) and validation (``model_dir/logs/val``).

TensorBoard shows a section per tag prefix (the text before the first "/"), sections in alphabetical order, and
the runs ``train`` and ``val`` of a tag on one chart; the prefixes order the sections:

* ``1_headline/``: ``loss`` (the cross-entropy of the main output, class-weighted as in training: train over the
  last ``summary_every`` steps, val over the validation split), ``miou``, ``pixel_accuracy`` (train and val) and
  ``learning_rate`` (train);
* ``2_class_iou/{class name}``: per-class IoU (train and val);
* ``3_training/``: the terms of the training loss (``total_loss``, ``weight_decay``, ``aux{i}``) and
  ``steps_per_second`` (train);
* ``4_images/`` (val, a fixed set of validation frames): ``rgb``, ``depth`` (HHA or depth, de-normalised),
  ``ground_truth`` and ``prediction`` in the run's palette (:func:`rfbnet_tf.rundir.facts.label_palette`, the colours
  ``predict`` uses: the ignore label has a colour no class has);
* ``5_gates/{block}`` (RFBNet models, val): per residual fusion block its four gates G_Rin, G_Din (above) and
  G_Rout, G_Dout upsampled and drawn over the RGB, with a colour bar 0 → 1 (``rfbnet_tf.drawing.gate_figures.GRID``).

TensorFlow 2.21 no longer installs the ``tensorboard`` package, and ``tf.summary.scalar`` / ``image`` live
there.  This module writes the same event records with TensorFlow's own ``tf.summary.write`` and the
TensorBoard plugin metadata of those two functions (``plugin_name`` "scalars" / "images"; an image summary is
the string tensor ``[width, height, png_1, ...]``), so training needs no ``tensorboard`` install; viewing the
logs does (``pip install tensorboard; tensorboard --logdir model_dir/logs``).
"""

from __future__ import annotations

import math
import os

import keras
import numpy as np
import tensorflow as tf

from tensorflow.core.framework import summary_pb2

from rfbnet_tf import rundir
from rfbnet_tf.drawing import gate_figures
from rfbnet_tf.constants import IGNORE_LABEL
from rfbnet_tf.models import fusion_blocks, gate_maps_model
from rfbnet_tf.drawing.palettes import colorize

HEADLINE, CLASS_IOU, TRAINING, IMAGES, GATES = "1_headline", "2_class_iou", "3_training", "4_images", "5_gates"
"""Tag prefixes: TensorBoard's sections, in this order."""


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
            self.train = tf.summary.create_file_writer(os.path.join(model_dir, rundir.layout.TRAIN_LOGS_SUBDIR))
            self.val = tf.summary.create_file_writer(os.path.join(model_dir, rundir.layout.VAL_LOGS_SUBDIR))
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


def _scores(loss, miou, per_class_iou, pixel_accuracy, class_names) -> dict:
    scalars = {f"{HEADLINE}/loss": loss, f"{HEADLINE}/miou": miou, f"{HEADLINE}/pixel_accuracy": pixel_accuracy}
    for name, value in zip(class_names, per_class_iou):
        scalars[f"{CLASS_IOU}/{name}"] = value
    return scalars


def train_scalars(terms: dict, learning_rate, steps_per_second, miou, per_class_iou, pixel_accuracy,
                  class_names) -> dict:
    """The train writer's ``{tag: value}``: ``terms`` are the window means of the train step's loss terms
    (``loss`` = total, ``cross_entropy``, ``weight_decay``, ``aux{i}``)."""
    scalars = _scores(terms["cross_entropy"], miou, per_class_iou, pixel_accuracy, class_names)
    scalars[f"{HEADLINE}/learning_rate"] = learning_rate
    for key, value in terms.items():
        if key != "cross_entropy":
            scalars[f"{TRAINING}/{'total_loss' if key == 'loss' else key}"] = value
    scalars[f"{TRAINING}/steps_per_second"] = steps_per_second
    return scalars


def val_scalars(loss, miou, per_class_iou, pixel_accuracy, class_names) -> dict:
    """The val writer's ``{tag: value}`` (the headline tags of :func:`train_scalars`: one chart per tag)."""
    return _scores(loss, miou, per_class_iou, pixel_accuracy, class_names)


def gate_maps(model):
    """``f(model_inputs) -> [(block name, (B, h, w, 4) numpy gate maps), ...]`` of every residual fusion block of
    ``model`` (the ``gates`` of :func:`image_panel`), or None when it has none."""
    if not fusion_blocks(model):
        return None
    gates, names = gate_maps_model(model), [block.name for block in fusion_blocks(model)]

    def maps(model_inputs):
        return [(name, keras.ops.convert_to_numpy(m)) for name, m in zip(names, gates(model_inputs, training=False))]

    return maps


def image_panel(inputs, labels, logits, denormalize, palette, gates=None, ignore_label=IGNORE_LABEL) -> dict:
    """The image summaries of one batch as ``{tag: uint8 (B, H, W, C)}``.

    Args:
      inputs: ``{"rgb": ..., "depth": ...}`` normalised numpy arrays (unimodal: one of them).
      labels: int (B, H, W) ground truth; logits: (B, H, W, K).
      denormalize: ``f(array, key) -> uint8`` with key "rgb" / "depth" (the train binary passes the dataset's
        statistics, see ``pipeline.denormalize``).
      palette: the run's label colours (:func:`rfbnet_tf.rundir.facts.label_palette`).
      gates: optional ``[(block name, (B, h, w, 4) gate maps in [0, 1]), ...]`` (needs ``inputs["rgb"]``).
      ignore_label: the label of unlabelled pixels.
    """
    panel = {}
    for key, array in inputs.items():
        panel[f"{IMAGES}/{key}"] = denormalize(np.asarray(array), key)
    panel[f"{IMAGES}/ground_truth"] = colorize(np.asarray(labels), palette, ignore_label)
    panel[f"{IMAGES}/prediction"] = colorize(np.argmax(np.asarray(logits), axis=-1), palette, ignore_label)
    for block, maps in gates or ():
        rgb = panel[f"{IMAGES}/rgb"]
        panel[f"{GATES}/{block}"] = np.stack([gate_figures.block_figure(rgb[i], maps[i], block, gate_figures.GRID)
                                              for i in range(len(rgb))])
    return panel


def write_images(writer, step, panel: dict, max_outputs=3):
    """Write every image of :func:`image_panel`."""
    with writer.as_default(step=int(step)):
        for tag, images in panel.items():
            image(tag, images, max_outputs=max_outputs)
