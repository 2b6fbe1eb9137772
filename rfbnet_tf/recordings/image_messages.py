"""ROS image messages ↔ numpy: ``sensor_msgs/Image`` and ``CompressedImage`` (RGB), ``Image`` (depth),
``CameraInfo`` (intrinsics), and the label images written back.

Works on the message objects ``rosbags`` deserializes (plain attributes), so this module needs no ``rosbags``.

* RGB: ``Image`` in :data:`RGB_ENCODINGS`, or ``CompressedImage`` in JPEG / PNG → uint8 ``(H, W, 3)`` RGB.
* Depth: ``Image`` in :data:`DEPTH_ENCODINGS` — ``16UC1`` millimetres (the ROS convention), ``32FC1`` metres —
  → uint16 ``(H, W)`` millimetres, 0 = missing (32FC1: rounded to the millimetre, NaN / inf / ≤ 0 → 0, clipped at
  65535), so every consumer sees one unit (:data:`DEPTH_SCALE` metres per unit).
* Intrinsics: ``K`` of a ``CameraInfo`` (``k`` in ROS 2) as a 3×3 matrix.

An encoding not listed is a ``ValueError`` naming the topic and the encoding.
"""

from __future__ import annotations

import cv2
import numpy as np

from rfbnet_tf.utils import checks

IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE_TYPE = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
STRING_TYPE = "std_msgs/msg/String"
RGB_TYPES = (IMAGE_TYPE, COMPRESSED_IMAGE_TYPE)
RGB_ENCODINGS = {"rgb8": (3, None), "bgr8": (3, cv2.COLOR_BGR2RGB), "rgba8": (4, cv2.COLOR_RGBA2RGB),
                 "bgra8": (4, cv2.COLOR_BGRA2RGB)}
"""Encoding → (channels, OpenCV conversion to RGB)."""
COMPRESSED_FORMATS = ("jpeg", "jpg", "png")
DEPTH_ENCODINGS = {"16UC1": "millimetres", "32FC1": "metres"}
DEPTH_SCALE = 0.001
"""Metres per unit of the decoded depth (millimetres)."""
MAX_DEPTH_UNITS = np.iinfo(np.uint16).max


def stamp_ns(message) -> int:
    """The header stamp of a message in nanoseconds."""
    stamp = message.header.stamp
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def _pixels(message, dtype, channels: int, topic: str) -> np.ndarray:
    """``(H, W, channels)`` pixels of an ``Image`` message (rows of ``step`` bytes, padding dropped, its byte
    order), in native byte order."""
    dtype = np.dtype(dtype).newbyteorder(">" if message.is_bigendian else "<")
    height, width, step = int(message.height), int(message.width), int(message.step)
    row_bytes = width * channels * dtype.itemsize
    data = np.asarray(message.data, np.uint8).reshape(-1)
    if height == 0 or width == 0 or step < row_bytes or data.size < step * height:
        raise ValueError(f"topic {topic!r}: an Image of {height}x{width} {message.encoding!r} with step {step} "
                         f"holds {data.size} bytes, not the {step * height} it needs")
    rows = np.ascontiguousarray(data[: step * height].reshape(height, step)[:, :row_bytes])
    return rows.view(dtype).reshape(height, width, channels).astype(dtype.newbyteorder("="))


def decode_rgb(message, msgtype: str, topic: str) -> np.ndarray:
    """uint8 ``(H, W, 3)`` RGB of an ``Image`` (:data:`RGB_ENCODINGS`) or a JPEG / PNG ``CompressedImage``."""
    if msgtype == COMPRESSED_IMAGE_TYPE:
        fmt = str(message.format).lower()
        if "compresseddepth" in fmt or not any(name in fmt for name in COMPRESSED_FORMATS):
            raise ValueError(f"topic {topic!r}: CompressedImage format {message.format!r} is not an RGB image this "
                             f"run can read (jpeg or png)")
        image = cv2.imdecode(np.asarray(message.data, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"topic {topic!r}: a CompressedImage ({message.format!r}) does not decode")
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    encoding = str(message.encoding)
    if encoding not in RGB_ENCODINGS:
        raise ValueError(f"topic {topic!r}: RGB encoding {encoding!r} is not one this run can read "
                         f"({', '.join(RGB_ENCODINGS)}, or a jpeg/png CompressedImage)")
    channels, conversion = RGB_ENCODINGS[encoding]
    image = _pixels(message, np.uint8, channels, topic)
    return image if conversion is None else cv2.cvtColor(image, conversion)


def metres_to_depth_units(metres) -> np.ndarray:
    """Float metres → uint16 millimetres: rounded, clipped at 65535; NaN, inf and ≤ 0 become 0 (missing)."""
    metres = np.asarray(metres, np.float64)
    valid = np.isfinite(metres) & (metres > 0)
    units = np.rint(np.where(valid, metres, 0.0) / DEPTH_SCALE)
    return np.clip(units, 0, MAX_DEPTH_UNITS).astype(np.uint16)


def decode_depth(message, msgtype: str, topic: str) -> np.ndarray:
    """uint16 ``(H, W)`` millimetres (0 = missing) of a ``16UC1`` (mm) or ``32FC1`` (m) depth ``Image``."""
    encoding = str(getattr(message, "encoding", getattr(message, "format", "")))
    if msgtype != IMAGE_TYPE or encoding not in DEPTH_ENCODINGS:
        kind = "Image" if msgtype == IMAGE_TYPE else msgtype.rsplit("/", 1)[-1]
        raise ValueError(f"topic {topic!r}: depth {kind} encoding {encoding!r} is not one this run can read "
                         f"(an Image in 16UC1 millimetres or 32FC1 metres)")
    if encoding == "16UC1":
        return _pixels(message, np.uint16, 1, topic)[..., 0]
    return metres_to_depth_units(_pixels(message, np.float32, 1, topic)[..., 0])


def has_measured_depth(depth_units, max_depth: float) -> bool:
    """Whether a decoded depth image has a pixel the graph preprocessing can use: > 0 and within ``max_depth``
    metres (in float32, as ``serving_raw`` computes it). Sensors often send all-zero images at start-up."""
    depth = np.asarray(depth_units)
    metres = depth.astype(np.float32) * np.float32(DEPTH_SCALE)
    return bool(np.any((depth > 0) & (metres <= np.float32(max_depth))))


def camera_matrix(message):
    """The 3×3 ``K`` of a ``CameraInfo`` (ROS 1 ``K``, ROS 2 ``k``), or None when it is not calibrated (a zero
    or non-finite focal length)."""
    values = getattr(message, "k", None)
    if values is None:
        values = message.K
    matrix = np.asarray(values, np.float64).reshape(3, 3)
    return matrix if checks.is_camera_matrix(matrix) else None


def image_fields(image: np.ndarray) -> dict:
    """The ``Image`` fields (``encoding``, ``height``, ``width``, ``step``, ``is_bigendian``, ``data``) of a uint8
    ``(H, W)`` (mono8), uint16 ``(H, W)`` (mono16, little endian) or uint8 ``(H, W, 3)`` RGB (rgb8) array."""
    image = np.ascontiguousarray(image)
    encodings = {(2, np.dtype(np.uint8)): "mono8", (2, np.dtype(np.uint16)): "mono16",
                 (3, np.dtype(np.uint8)): "rgb8"}
    encoding = encodings[image.ndim, image.dtype]
    data = image.astype(image.dtype.newbyteorder("<"), copy=False).view(np.uint8).reshape(-1)
    return {"encoding": encoding, "height": image.shape[0], "width": image.shape[1],
            "step": data.size // image.shape[0], "is_bigendian": 0, "data": data}
