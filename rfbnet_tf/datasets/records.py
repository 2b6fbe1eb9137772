"""The record format shared by every dataset: TFRecord shards of ``tf.train.Example``.

One example per frame, at the frame's stored resolution (DESIGN.md §4):

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

Shards are ``{record_dir}/{split}-{i:05d}-of-{n:05d}.tfrecord``; ``{record_dir}/dataset_info.json``
holds counts, class names/histograms and normalisation statistics (written by
:mod:`rfbnet_tf.prepare_data`), and the label format: ``label_bits`` (8 or 16, :func:`label_bits`; 8 when absent,
the records of every dataset before NYUv2's 894 classes) and ``ignore_label`` (255 or 65535).

The module also holds the helpers every converter shares to turn source files into the arrays
of one example: :func:`read_image` (checked PNG/JPEG reading), :func:`resize_rgb`,
:func:`resize_nearest` and :func:`scale_intrinsics` (resampling to the stored resolution with
one pixel-centre convention), :func:`metres_to_millimetres`.

Encoding (:func:`encode_example`) uses only numpy and OpenCV and serialises the protobuf by
hand (:func:`_serialize_example`, the documented wire format of ``tensorflow/core/example/
example.proto`` and ``feature.proto``), so the worker processes of ``prepare_data`` never import
TensorFlow: a spawned worker starts in well under a second instead of several seconds and
hundreds of MB.  Decoding (:func:`parse_example`) is TensorFlow graph code for ``Dataset.map``;
TensorFlow is imported there, on first use.
"""

from __future__ import annotations

import contextlib
import os
import re
import struct

import cv2
import numpy as np
from absl import logging

from rfbnet_tf.constants import IGNORE_LABEL, IGNORE_LABEL_16  # noqa: F401 (re-exported: records.IGNORE_LABEL)
from rfbnet_tf.utils.files import read_image_unchanged, read_json

DATASET_INFO_FILENAME = "dataset_info.json"
RGB_FORMATS = ("png", "jpeg")
IMAGE_KEYS = ("rgb", "hha", "depth", "depth_raw", "label")
"""Image entries :func:`parse_example` can decode; select a subset with its ``keys`` argument."""

DEPTH_SCALE_MM = 1000.0
"""Millimetres per metre: depth PNGs store uint16 millimetres (max 65.535 m)."""

JPEG_QUALITY = 95

LABEL_DTYPES = {8: np.uint8, 16: np.uint16}
"""Stored label dtype per ``label_bits``."""
IGNORE_LABELS = {8: IGNORE_LABEL, 16: IGNORE_LABEL_16}
"""The ignore label per ``label_bits``: the largest value of the dtype."""

_SHARD_RE = re.compile(r"^(?P<split>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.tfrecord$")


# --------------------------------------------------------------------------- file names


def shard_name(split: str, index: int, count: int) -> str:
    """File name of shard ``index`` (0-based) of ``count`` for ``split``."""
    if not isinstance(split, str) or not split or "/" in split:
        raise ValueError(f"split must be a non-empty name without '/', got {split!r}")
    if not (isinstance(count, int) and count >= 1 and isinstance(index, int) and 0 <= index < count):
        raise ValueError(f"need 0 <= index < count, got index={index!r}, count={count!r}")
    return f"{split}-{index:05d}-of-{count:05d}.tfrecord"


def shard_files(record_dir: str, split: str) -> list[str]:
    """Sorted full paths of the shards of ``split`` in ``record_dir``.

    Raises ``FileNotFoundError`` naming the directory and split when there are none, and
    ``ValueError`` when the shard set is incomplete or mixes shard counts.
    """
    if not os.path.isdir(record_dir):
        raise FileNotFoundError(f"record directory {record_dir!r} does not exist (split {split!r})")
    found = {}
    for name in os.listdir(record_dir):
        match = _SHARD_RE.match(name)
        if match and match.group("split") == split:
            found[name] = (int(match.group("index")), int(match.group("count")))
    if not found:
        raise FileNotFoundError(
            f"no shards '{split}-?????-of-?????.tfrecord' for split {split!r} in {record_dir!r}"
        )
    counts = {count for _, count in found.values()}
    indices = sorted(index for index, _ in found.values())
    if len(counts) != 1 or indices != list(range(next(iter(counts)))):
        raise ValueError(
            f"incomplete or mixed shard set for split {split!r} in {record_dir!r}: {sorted(found)}"
        )
    return [os.path.join(record_dir, name) for name in sorted(found)]


def shard_sizes(record_dir: str, split: str, info: dict) -> list[int]:
    """Records in each shard of :func:`shard_files` (same order): ``info["splits"][split]["examples_per_file"]``
    (``dataset_info.json``; ``prepare_data`` writes it) when it lists exactly the shards on disk, else counted by
    reading every shard once (record directories prepared before it, or written by hand; logged).  What the
    training pipeline addresses a record by (shard, offset) with."""
    paths = shard_files(record_dir, split)
    entry = (info.get("splits") or {}).get(split) or {}
    names, sizes = entry.get("files"), entry.get("examples_per_file")
    if (isinstance(sizes, list) and names == [os.path.basename(p) for p in paths]
            and len(sizes) == len(paths) and all(isinstance(n, int) and n >= 0 for n in sizes)):
        return list(sizes)
    import tensorflow as tf

    logging.info("counting the records of the %d %r shards of %s (its dataset_info.json lists no "
                 "examples_per_file: records prepared before it); prepare_data --overwrite writes them",
                 len(paths), split, record_dir)
    with naming_corrupt_shards(record_dir, split):
        return [int(tf.data.TFRecordDataset(path).reduce(tf.constant(0, tf.int64), lambda count, _: count + 1))
                for path in paths]


def corrupt_shard(record_dir: str, split: str) -> tuple | None:
    """``(path, reason)`` of the first shard of ``split`` that cannot be read to its end (truncated, bad CRC),
    None when every shard reads.  Reads the raw records only (no decoding): meant for diagnosing a read error,
    not for every start."""
    import tensorflow as tf

    for path in shard_files(record_dir, split):
        try:
            tf.data.TFRecordDataset(path).reduce(tf.constant(0, tf.int64), lambda count, _: count + 1)
        except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as error:
            return path, " ".join(error.message.split())
    return None


def read_error(record_dir: str, split: str, error: Exception) -> Exception:
    """The error to raise for ``error`` (a ``tf.errors.DataLossError`` while reading ``split``): a one-line
    ``ValueError`` naming the corrupt shard and the fix, or ``error`` itself when no shard is found corrupt."""
    found = corrupt_shard(record_dir, split)
    if found is None:
        return error
    path, reason = found
    return ValueError(f"shard {path!r} of split {split!r} is corrupt ({reason}): prepare the records again "
                      f"(python -m rfbnet_tf.prepare_data ... --overwrite)")


@contextlib.contextmanager
def naming_corrupt_shards(record_dir: str, split: str):
    """``with naming_corrupt_shards(record_dir, split): <read split>`` turns a ``tf.errors.DataLossError`` raised
    inside into the one-line error of :func:`read_error` that names the corrupt shard."""
    import tensorflow as tf

    try:
        yield
    except tf.errors.DataLossError as error:
        raise read_error(record_dir, split, error) from None


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
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or not (
            1 <= num_classes <= IGNORE_LABEL_16):
        raise ValueError(f"num_classes must be an int in 1..{IGNORE_LABEL_16}, got {num_classes!r}")
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


# --------------------------------------------------------------------------- source frames
# Shared by the converters (cityscapes.py, scannet.py): read a source image with checks, and
# resample a frame to the stored resolution.  Sizes are (height, width).


def read_image(path: str, *, channels: int, dtype) -> np.ndarray:
    """Read a source PNG/JPEG as ``dtype`` with ``channels`` channels (3 → RGB order).

    Raises ``FileNotFoundError`` naming a missing file and ``ValueError`` naming a file whose
    bytes do not decode or whose channel count / bit depth is not the expected one.
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    image = read_image_unchanged(path)
    found = 1 if image.ndim == 2 else image.shape[2]
    if found != channels:
        raise ValueError(f"image {path!r} has {found} channels, expected {channels}")
    if image.dtype != np.dtype(dtype):
        raise ValueError(f"image {path!r} has dtype {image.dtype}, expected {np.dtype(dtype).name}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if channels == 3 else image


def _check_size(size):
    if (
        not isinstance(size, (tuple, list))
        or len(size) != 2
        or not all(isinstance(v, (int, np.integer)) and v > 0 for v in size)
    ):
        raise ValueError(f"size must be (height, width) of positive ints, got {size!r}")
    return int(size[0]), int(size[1])


def resize_rgb(rgb: np.ndarray, size) -> np.ndarray:
    """Resize a colour image: area averaging when shrinking (no aliasing), bilinear otherwise."""
    height, width = _check_size(size)
    if rgb.shape[:2] == (height, width):
        return rgb
    shrinking = height <= rgb.shape[0] and width <= rgb.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(rgb, (width, height), interpolation=interpolation)


def resize_nearest(array: np.ndarray, size) -> np.ndarray:
    """Nearest-neighbour resize for labels and depth (no mixed classes, no invented depths).

    ``INTER_NEAREST_EXACT`` samples the source pixel whose centre is nearest, i.e.
    ``src = floor((dst + 0.5) * scale)``, the same pixel-centre convention as
    :func:`scale_intrinsics` (plain ``INTER_NEAREST`` uses ``floor(dst * scale)``).
    """
    height, width = _check_size(size)
    if array.shape[:2] == (height, width):
        return array
    return cv2.resize(array, (width, height), interpolation=cv2.INTER_NEAREST_EXACT)


def scale_intrinsics(intrinsics, from_size, to_size) -> np.ndarray:
    """Camera matrix of an image resized from ``from_size`` to ``to_size``.

    Pixel centres map as ``x' = (x + 0.5) * s - 0.5`` (the convention of ``cv2.resize``), so
    ``f' = f * s`` and ``c' = (c + 0.5) * s - 0.5`` per axis, ``s = new / old``.
    """
    matrix = np.array(intrinsics, dtype=np.float64).reshape(3, 3)
    (old_h, old_w), (new_h, new_w) = _check_size(from_size), _check_size(to_size)
    sx, sy = new_w / old_w, new_h / old_h
    matrix[0, 0] *= sx
    matrix[0, 1] *= sx
    matrix[1, 1] *= sy
    matrix[0, 2] = (matrix[0, 2] + 0.5) * sx - 0.5
    matrix[1, 2] = (matrix[1, 2] + 0.5) * sy - 0.5
    return matrix


# --------------------------------------------------------------------------- encoding


def metres_to_millimetres(depth_m) -> np.ndarray:
    """Depth in metres → uint16 millimetres (rounded; NaN/inf/negative → 0; clipped to 65535)."""
    depth = np.asarray(depth_m, dtype=np.float64)
    depth = np.where(np.isfinite(depth) & (depth > 0), depth, 0.0)
    return np.clip(np.rint(depth * DEPTH_SCALE_MM), 0, 65535).astype(np.uint16)


def _check_image(name, array, channels, dtype, shape=None):
    array = np.asarray(array)
    expected = ("H", "W", channels) if channels > 1 else ("H", "W")
    ok_rank = array.ndim == len(expected) and (channels == 1 or array.shape[-1] == channels)
    if not ok_rank:
        raise ValueError(f"{name} must have shape {expected}, got shape {array.shape}")
    if array.dtype != dtype:
        raise ValueError(f"{name} must be {np.dtype(dtype).name}, got dtype {array.dtype}")
    if shape is not None and array.shape[:2] != shape:
        raise ValueError(f"{name} has size {array.shape[:2]}, expected {shape} (the RGB size)")
    if array.size == 0:
        raise ValueError(f"{name} is empty, got shape {array.shape}")
    return array


def encode_png(array: np.ndarray) -> bytes:
    """PNG bytes of a uint8/uint16 H×W or uint8 H×W×3 (RGB order) array."""
    array = np.ascontiguousarray(array)
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    ok, buffer = cv2.imencode(".png", array)
    if not ok:
        raise ValueError(f"OpenCV could not PNG-encode an array of shape {array.shape}, {array.dtype}")
    return buffer.tobytes()


def encode_jpeg(rgb: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    """JPEG bytes of a uint8 H×W×3 RGB array."""
    bgr = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)
    ok, buffer = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"OpenCV could not JPEG-encode an array of shape {rgb.shape}")
    return buffer.tobytes()


def encode_example(
    *, rgb, hha, depth_mm, depth_raw_mm, label, intrinsics, name, rgb_format="png"
) -> bytes:
    """Serialized ``tf.train.Example`` of one frame (see the module docstring for the keys).

    Args:
      rgb: uint8 (H, W, 3), RGB order.
      hha: uint8 (H, W, 3).
      depth_mm: uint16 (H, W), completed depth in millimetres (:func:`metres_to_millimetres`).
      depth_raw_mm: uint16 (H, W), raw depth in millimetres, 0 = missing.
      label: uint8 (H, W), train ids, 255 = ignore; or uint16 (65535 = ignore) for more than 255 classes.
      intrinsics: 3×3 camera matrix (anything of 9 finite numbers) for this resolution.
      name: source frame id (str).
      rgb_format: "png" (lossless) or "jpeg".
    """
    if rgb_format not in RGB_FORMATS:
        raise ValueError(f"rgb_format must be one of {RGB_FORMATS}, got {rgb_format!r}")
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty str, got {name!r}")
    rgb = _check_image("rgb", rgb, 3, np.uint8)
    size = rgb.shape[:2]
    hha = _check_image("hha", hha, 3, np.uint8, size)
    depth_mm = _check_image("depth_mm", depth_mm, 1, np.uint16, size)
    depth_raw_mm = _check_image("depth_raw_mm", depth_raw_mm, 1, np.uint16, size)
    label = np.asarray(label)
    label = _check_image("label", label, 1, np.uint16 if label.dtype == np.uint16 else np.uint8, size)
    matrix = np.asarray(intrinsics, dtype=np.float64)
    if matrix.size != 9 or not np.all(np.isfinite(matrix)):
        raise ValueError(f"intrinsics must be a finite 3x3 matrix, got {intrinsics!r}")
    rgb_bytes = encode_png(rgb) if rgb_format == "png" else encode_jpeg(rgb)
    features = {
        "image/rgb": ("bytes", [rgb_bytes]),
        "image/rgb_format": ("bytes", [rgb_format.encode()]),
        "image/hha": ("bytes", [encode_png(hha)]),
        "image/depth": ("bytes", [encode_png(depth_mm)]),
        "image/depth_raw": ("bytes", [encode_png(depth_raw_mm)]),
        "image/label": ("bytes", [encode_png(label)]),
        "image/height": ("int64", [size[0]]),
        "image/width": ("int64", [size[1]]),
        "camera/intrinsics": ("float", matrix.reshape(9).tolist()),
        "image/name": ("bytes", [name.encode("utf-8")]),
    }
    return _serialize_example(features)


# Protobuf wire format (https://protobuf.dev/programming-guides/encoding/) of
# Example{Features features = 1}, Features{map<string, Feature> feature = 1},
# Feature{oneof: BytesList bytes_list = 1; FloatList float_list = 2; Int64List int64_list = 3},
# *List{repeated value = 1} (float and int64 packed).


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64 → 10-byte two's complement, as protobuf does
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _length_delimited(field: int, payload: bytes) -> bytes:
    return _varint((field << 3) | 2) + _varint(len(payload)) + payload


def _serialize_feature(kind: str, values) -> bytes:
    if kind == "bytes":
        inner = b"".join(_length_delimited(1, bytes(v)) for v in values)
        return _length_delimited(1, inner)
    if kind == "float":
        packed = struct.pack(f"<{len(values)}f", *values)
        return _length_delimited(2, _length_delimited(1, packed))
    if kind == "int64":
        packed = b"".join(_varint(int(v)) for v in values)
        return _length_delimited(3, _length_delimited(1, packed))
    raise ValueError(f"feature kind must be bytes, float or int64, got {kind!r}")


def _serialize_example(features: dict) -> bytes:
    """``tf.train.Example`` bytes from ``{key: (kind, values)}`` without importing TensorFlow."""
    entries = b"".join(
        _length_delimited(
            1,
            _length_delimited(1, key.encode("utf-8"))
            + _length_delimited(2, _serialize_feature(*features[key])),
        )
        for key in sorted(features)
    )
    return _length_delimited(1, entries)


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
