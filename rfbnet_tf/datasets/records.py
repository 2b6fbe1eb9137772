"""The record format shared by every dataset: TFRecord shards of ``tf.train.Example``.

One example per frame, at the frame's stored resolution:

=====================  ==============  ===================================================
key                    type            content
=====================  ==============  ===================================================
``image/rgb``          bytes           PNG (or JPEG, see ``image/rgb_format``) uint8 H×W×3, RGB
``image/rgb_format``   bytes           ``b"png"`` or ``b"jpeg"``
``image/hha``          bytes           PNG uint8 H×W×3, HHA of the *completed* depth
``image/depth``        bytes           PNG uint16 H×W, completed depth in millimetres
``image/depth_raw``    bytes           PNG uint16 H×W, raw sensor depth in millimetres, 0 = missing
``image/label``        bytes           PNG uint8 H×W, train ids, 255 = ignore (uint16, 65535 = ignore, for
                                       datasets of more than 255 classes: ``label_bits`` 16)
``image/height``       int64
``image/width``        int64
``camera/intrinsics``  float list (9)  3×3 camera matrix, row major, for the stored resolution
``image/name``         bytes           source frame id, e.g. ``aachen_000000_000019``
=====================  ==============  ===================================================

Shards are ``{record_dir}/{split}-{i:05d}-of-{n:05d}.tfrecord`` (:mod:`rfbnet_tf.datasets.shards`);
``{record_dir}/dataset_info.json`` holds counts, class names/histograms and normalisation statistics (written by
:mod:`rfbnet_tf.prepare_data`), and the label format: ``label_bits`` (8 or 16, :func:`label_bits`; 8 when absent,
the records of every dataset before NYUv2's 894 classes) and ``ignore_label`` (255 or 65535).

Encoding is :mod:`rfbnet_tf.datasets.example_encoding` (TensorFlow-free, for the workers of ``prepare_data``).
Decoding (:func:`parse_example`) is TensorFlow graph code for ``Dataset.map``; TensorFlow is imported there, on
first use, so importing this module stays TensorFlow-free.
"""

from __future__ import annotations

import os

import numpy as np

from rfbnet_tf.constants import IGNORE_LABEL, IGNORE_LABEL_16
from rfbnet_tf.utils import checks
from rfbnet_tf.utils.files import read_json

DATASET_INFO_FILENAME = "dataset_info.json"
RGB_FORMATS = ("png", "jpeg")
IMAGE_KEYS = ("rgb", "hha", "depth", "depth_raw", "label")
"""Image entries :func:`parse_example` can decode; select a subset with its ``keys`` argument."""

DEPTH_SCALE_MM = 1000.0
"""Millimetres per metre: depth PNGs store uint16 millimetres (max 65.535 m)."""

LABEL_DTYPES = {8: np.uint8, 16: np.uint16}
"""Stored label dtype per ``label_bits``."""
IGNORE_LABELS = {8: IGNORE_LABEL, 16: IGNORE_LABEL_16}
"""The ignore label per ``label_bits``: the largest value of the dtype."""


def load_dataset_info(record_dir: str) -> dict:
    """Read ``{record_dir}/dataset_info.json``; ``FileNotFoundError`` naming the path if missing."""
    path = os.path.join(record_dir, DATASET_INFO_FILENAME)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{path!r} not found: prepare the records first (python -m rfbnet_tf.prepare_data)"
        )
    return read_json(path, f"prepare the records again: python -m rfbnet_tf.prepare_data --output_dir={record_dir} "
                           "--overwrite (with the dataset's other flags)")


def label_bits(num_classes: int) -> int:
    """Bits of the stored label PNG of a dataset of ``num_classes`` classes: 8 (train ids 0..254, 255 = ignore) up to
    255 classes, else 16 (0..65534, 65535 = ignore; NYUv2's 894 raw classes)."""
    num_classes = checks.int_in("num_classes", num_classes, 1, IGNORE_LABEL_16)
    return 8 if num_classes <= IGNORE_LABEL else 16


def ignore_label(num_classes: int) -> int:
    """The ignore label of a dataset of ``num_classes`` classes (255, or 65535 beyond 255 classes)."""
    return IGNORE_LABELS[label_bits(num_classes)]


def stored_label_bits(info: dict) -> int:
    """``label_bits`` of records described by ``info`` (``dataset_info.json``): 8 when absent (records written before
    16-bit labels); ``ValueError`` for anything but 8 or 16."""
    bits = info.get("label_bits", 8)
    if bits not in LABEL_DTYPES or isinstance(bits, bool):
        raise ValueError(f"dataset info: label_bits must be 8 or 16, got {bits!r}")
    return int(bits)


# --------------------------------------------------------------------------- decoding


def _feature_spec():
    import tensorflow as tf

    return {
        "image/rgb": tf.io.FixedLenFeature([], tf.string),
        "image/rgb_format": tf.io.FixedLenFeature([], tf.string, default_value="png"),
        "image/hha": tf.io.FixedLenFeature([], tf.string),
        "image/depth": tf.io.FixedLenFeature([], tf.string),
        "image/depth_raw": tf.io.FixedLenFeature([], tf.string),
        "image/label": tf.io.FixedLenFeature([], tf.string),
        "image/height": tf.io.FixedLenFeature([], tf.int64),
        "image/width": tf.io.FixedLenFeature([], tf.int64),
        "camera/intrinsics": tf.io.FixedLenFeature([9], tf.float32),
        "image/name": tf.io.FixedLenFeature([], tf.string),
    }


def parse_example(serialized, keys=None, label_bits=8) -> dict:
    """Decode one serialized example (graph friendly: use inside ``tf.data.Dataset.map``).

    Returns ``{"rgb": uint8 (H,W,3), "hha": uint8 (H,W,3), "depth": float32 (H,W,1) metres
    (completed), "depth_raw": float32 (H,W,1) metres (0 = missing), "label": uint8 (H,W,1)
    (uint16 with ``label_bits=16``: the records' :func:`stored_label_bits`),
    "intrinsics": float32 (3,3), "name": tf.string}``.  ``keys`` (a subset of
    :data:`IMAGE_KEYS`) selects which images are decoded (the others are left out of the
    result); ``intrinsics`` and ``name`` are always returned.  Images whose decoded size differs
    from ``image/height``/``image/width`` fail with an ``InvalidArgumentError``.
    """
    import tensorflow as tf

    if keys is None:
        keys = IMAGE_KEYS
    keys = tuple(keys)
    unknown = [key for key in keys if key not in IMAGE_KEYS]
    if unknown:
        raise ValueError(f"keys must be a subset of {IMAGE_KEYS}, got {keys!r}")
    if label_bits not in LABEL_DTYPES:
        raise ValueError(f"label_bits must be 8 or 16, got {label_bits!r}")
    parsed = tf.io.parse_single_example(serialized, _feature_spec())
    height = tf.cast(parsed["image/height"], tf.int32)
    width = tf.cast(parsed["image/width"], tf.int32)

    def sized(image, channels):
        return tf.reshape(image, tf.stack([height, width, channels]))

    out = {}
    if "rgb" in keys:
        rgb = tf.io.decode_image(
            parsed["image/rgb"], channels=3, dtype=tf.uint8, expand_animations=False
        )
        out["rgb"] = sized(rgb, 3)
    if "hha" in keys:
        out["hha"] = sized(tf.io.decode_png(parsed["image/hha"], channels=3), 3)
    for key, feature in (("depth", "image/depth"), ("depth_raw", "image/depth_raw")):
        if key in keys:
            millimetres = tf.io.decode_png(parsed[feature], channels=1, dtype=tf.uint16)
            out[key] = sized(tf.cast(millimetres, tf.float32) / DEPTH_SCALE_MM, 1)
    if "label" in keys:
        # The dtype must be the stored one: decode_png rescales 8-bit PNGs to uint16 and 16-bit ones to uint8.
        label_dtype = tf.uint16 if label_bits == 16 else tf.uint8
        out["label"] = sized(tf.io.decode_png(parsed["image/label"], channels=1, dtype=label_dtype), 1)
    out["intrinsics"] = tf.reshape(parsed["camera/intrinsics"], [3, 3])
    out["name"] = parsed["image/name"]
    return out
