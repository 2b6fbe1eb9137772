"""Encoding one frame as a serialized ``tf.train.Example`` of the record format (:mod:`rfbnet_tf.datasets.records`,
which lists the keys), without TensorFlow: :func:`encode_example`, its image encoders :func:`encode_png` /
:func:`encode_jpeg`, and :func:`metres_to_millimetres` (the stored depth unit).

Encoding uses only numpy and OpenCV and serialises the protobuf by hand (:func:`_serialize_example`, the
documented wire format of ``tensorflow/core/example/example.proto`` and ``feature.proto``), so the worker processes
of ``prepare_data`` never import TensorFlow: a spawned worker starts in well under a second instead of several
seconds and hundreds of MB.  ``tests/test_records.py`` checks the bytes against TensorFlow's own serializer.
"""

from __future__ import annotations

import struct

import cv2
import numpy as np

from rfbnet_tf.datasets.records import DEPTH_SCALE_MM, RGB_FORMATS

JPEG_QUALITY = 95


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
