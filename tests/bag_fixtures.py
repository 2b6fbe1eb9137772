"""Synthetic RGB-D recordings written with rosbags itself (ROS 1 bags and ROS 2 MCAP / SQLite bags), for the
tests of ``rfbnet_tf.recordings``.

:func:`recording_frames` makes the frames: 6 RGB frames 100 ms apart; frame 0's depth is all zero (sensor start-up),
frame 3's depth is 50 ms off (so RGB frame 3 and that depth frame are both unpaired), the other depth frames are a
few ms off their RGB frame. :func:`write_recording` writes them with a chosen RGB message kind and depth encoding.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
from rosbags.rosbag1 import Writer as Writer1
from rosbags.rosbag2 import StoragePlugin
from rosbags.rosbag2 import Writer as Writer2
from rosbags.typesys import Stores, get_typestore

SIZE = (32, 48)
CAMERA = (40.0, 40.0, 23.5, 15.5)  # fx, fy, cx, cy
START_NS = 1_700_000_000_000_000_000
FRAME_NS = 100_000_000
FRAME_ID = "camera_color_optical_frame"
RGB_TOPIC = "/camera/color/image_raw"
COMPRESSED_TOPIC = "/camera/color/image_raw/compressed"
DEPTH_TOPIC = "/camera/aligned_depth_to_color/image_raw"
INFO_TOPIC = "/camera/color/camera_info"
DEPTH_OFFSETS_MS = (4, -6, 3, 50, -2, 7)
EMPTY_FRAME, UNPAIRED_FRAME = 0, 3
RGB_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8", "rgb8", "bgr8")


@dataclasses.dataclass
class RecordedFrame:
    stamp_ns: int
    depth_stamp_ns: int
    rgb: np.ndarray  # uint8 (H, W, 3): what the RGB message holds (JPEG: as decoded)
    depth_mm: np.ndarray  # uint16 (H, W): what the depth message holds, in mm


def _depth_mm(index, rng):
    rows, cols = np.indices(SIZE, dtype=np.float64)
    if index % 2:  # the frames differ in geometry, so that their predictions differ
        rows, cols = rows[::-1], cols[:, ::-1]
    depth = 900.0 + (20.0 + 10 * index) * rows + (8.0 + 3 * index) * cols + 150.0 * np.sin(cols / (2.0 + index))
    depth[rng.random(SIZE) < 0.2] = 0
    depth[4 + index:9 + index, 10:20] = 0
    return np.rint(depth).astype(np.uint16)


def recording_frames(seed=0):
    rng = np.random.default_rng(seed)
    frames = []
    for index in range(6):
        stamp = START_NS + index * FRAME_NS
        depth = np.zeros(SIZE, np.uint16) if index == EMPTY_FRAME else _depth_mm(index, rng)
        frames.append(RecordedFrame(stamp_ns=stamp, depth_stamp_ns=stamp + DEPTH_OFFSETS_MS[index] * 1_000_000,
                                    rgb=rng.integers(0, 256, SIZE + (3,), dtype=np.uint8), depth_mm=depth))
    return frames


def _time(typestore, stamp):
    return typestore.types["builtin_interfaces/msg/Time"](sec=stamp // 1_000_000_000, nanosec=stamp % 1_000_000_000)


def _header(typestore, ros1, stamp, seq=0):
    fields = {"stamp": _time(typestore, stamp), "frame_id": FRAME_ID}
    if ros1:
        fields["seq"] = seq
    return typestore.types["std_msgs/msg/Header"](**fields)


def _image(typestore, header, array, encoding, pad=0, bigendian=False):
    array = np.ascontiguousarray(array)
    if bigendian:
        array = array.astype(array.dtype.newbyteorder(">"))
    rows = array.reshape(array.shape[0], -1).view(np.uint8)
    rows = np.concatenate([rows, np.zeros((rows.shape[0], pad), np.uint8)], axis=1)
    return typestore.types["sensor_msgs/msg/Image"](
        header=header, height=array.shape[0], width=array.shape[1], encoding=encoding,
        is_bigendian=int(bigendian), step=rows.shape[1], data=rows.reshape(-1))


def rgb_array(rgb, encoding):
    """``rgb`` in the channel layout of ``encoding`` (as it is for an encoding the reader rejects)."""
    conversions = {"rgb8": None, "bgr8": cv2.COLOR_RGB2BGR, "rgba8": cv2.COLOR_RGB2RGBA,
                   "bgra8": cv2.COLOR_RGB2BGRA}
    return rgb if conversions.get(encoding) is None else cv2.cvtColor(rgb, conversions[encoding])


def camera_info(typestore, ros1, stamp, matrix=None):
    fx, fy, cx, cy = CAMERA
    k = np.array([fx, 0, cx, 0, fy, cy, 0, 0, 1], np.float64) if matrix is None else np.ravel(matrix)
    names = ("D", "K", "R", "P") if ros1 else ("d", "k", "r", "p")
    values = (np.zeros(5), k, np.eye(3).reshape(-1), np.zeros(12))
    roi = typestore.types["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0,
                                                              do_rectify=False)
    return typestore.types["sensor_msgs/msg/CameraInfo"](
        header=_header(typestore, ros1, stamp), height=SIZE[0], width=SIZE[1], distortion_model="plumb_bob",
        binning_x=0, binning_y=0, roi=roi, **dict(zip(names, values)))


def write_recording(path, frames, *, fmt="ros1", rgb="raw", depth_encoding="16UC1", with_camera_info=True,
                    rgb_encodings=RGB_ENCODINGS, depth_override=None):
    """Write ``frames`` to a bag at ``path``; returns the RGB topic and the frames' RGB as the run will decode it.

    ``fmt``: "ros1" / "ros2_mcap" / "ros2_sqlite3"; ``rgb``: "raw" (``Image`` in ``rgb_encodings``, frame 2 with
    row padding) or "jpeg" (``CompressedImage``, frame 4 as PNG); ``depth_encoding``: "16UC1" (frame 4 big endian)
    or "32FC1" (metres, holes as NaN); ``depth_override``: ``{index: encoding}`` written as 16UC1 data with that
    encoding name.
    """
    ros1 = fmt == "ros1"
    typestore = get_typestore(Stores.ROS1_NOETIC if ros1 else Stores.ROS2_HUMBLE)
    serialize = typestore.serialize_ros1 if ros1 else typestore.serialize_cdr
    if ros1:
        writer = Writer1(Path(path))
    else:
        plugin = StoragePlugin.MCAP if fmt == "ros2_mcap" else StoragePlugin.SQLITE3
        writer = Writer2(Path(path), version=9, storage_plugin=plugin)
    rgb_topic = RGB_TOPIC if rgb == "raw" else COMPRESSED_TOPIC
    rgb_type = "sensor_msgs/msg/Image" if rgb == "raw" else "sensor_msgs/msg/CompressedImage"
    decoded = []
    with writer:
        rgb_connection = writer.add_connection(rgb_topic, rgb_type, typestore=typestore)
        depth_connection = writer.add_connection(DEPTH_TOPIC, "sensor_msgs/msg/Image", typestore=typestore)
        info_connection = writer.add_connection(INFO_TOPIC, "sensor_msgs/msg/CameraInfo", typestore=typestore)
        messages = []
        for index, frame in enumerate(frames):
            header = _header(typestore, ros1, frame.stamp_ns, index)
            if rgb == "raw":
                encoding = rgb_encodings[index]
                message = _image(typestore, header, rgb_array(frame.rgb, encoding), encoding,
                                 pad=8 if index == 2 else 0)
                decoded.append(frame.rgb)
            else:
                extension = ".png" if index == 4 else ".jpg"
                ok, data = cv2.imencode(extension, cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR))
                assert ok
                message = typestore.types["sensor_msgs/msg/CompressedImage"](
                    header=header, format="png" if index == 4 else "rgb8; jpeg compressed bgr8",
                    data=data.reshape(-1))
                decoded.append(cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB))
            messages.append((frame.stamp_ns + 30_000_000, rgb_connection, serialize(message, rgb_type)))
            depth_header = _header(typestore, ros1, frame.depth_stamp_ns, index)
            override = (depth_override or {}).get(index)
            if override is not None:
                depth = _image(typestore, depth_header, frame.depth_mm, override)
            elif depth_encoding == "16UC1":
                depth = _image(typestore, depth_header, frame.depth_mm, "16UC1", bigendian=index == 4)
            else:
                metres = np.where(frame.depth_mm > 0, frame.depth_mm.astype(np.float32) / np.float32(1000), np.nan)
                depth = _image(typestore, depth_header, metres.astype(np.float32), "32FC1")
            messages.append((frame.depth_stamp_ns + 40_000_000, depth_connection,
                             serialize(depth, "sensor_msgs/msg/Image")))
        if with_camera_info:  # logged after the first frames: the reader still takes the first CameraInfo
            for index, matrix in ((0, None), (1, np.eye(3) * 7)):
                messages.append((frames[1].stamp_ns + index, info_connection,
                                 serialize(camera_info(typestore, ros1, frames[1].stamp_ns, matrix),
                                           "sensor_msgs/msg/CameraInfo")))
        for bag_time, connection, data in sorted(messages, key=lambda entry: entry[0]):
            writer.write(connection, bag_time, data)
    return rgb_topic, decoded
