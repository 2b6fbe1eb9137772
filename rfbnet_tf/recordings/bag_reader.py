"""Reading RGB-D recordings from ROS bags with ``rosbags`` (the optional extra ``[ros]``, imported only here and
only when a bag is opened): :class:`Recording` opens a ROS 1 ``.bag`` file or a ROS 2 bag (a directory, or one
``.mcap`` / ``.db3`` file) with ``rosbags.highlevel.AnyReader``, checks the topics and their message types, reads
the intrinsics from the first ``CameraInfo``, and streams the frames (:meth:`Recording.frames`: RGB and depth
paired by header stamp, :mod:`rfbnet_tf.recordings.frame_pairing`; decoded by
:mod:`rfbnet_tf.recordings.image_messages`). Every problem of the input is a ``ValueError`` /
``FileNotFoundError`` naming the flag, the topic or the bag.
"""

from __future__ import annotations

import dataclasses
import os
import types
from pathlib import Path

import numpy as np
from absl import logging

from rfbnet_tf.inference import image_files
from rfbnet_tf.recordings import image_messages
from rfbnet_tf.recordings.frame_pairing import StampPairer
from rfbnet_tf.utils import checks

ROS_EXTRA = "pip install rfbnet_tf[ros]"
BAG_FORMATS = ("ros1", "ros2_mcap", "ros2_sqlite3")
"""A ROS 1 bag file, a ROS 2 bag in MCAP or SQLite 3 storage."""


def rosbags():
    """The ``rosbags`` modules this package uses, as a namespace; ``ValueError`` (one line: how to install it) when
    the extra is not installed."""
    try:
        from rosbags import highlevel, rosbag1, rosbag2, typesys
    except ImportError:
        raise ValueError(f"reading and writing ROS bags needs the package rosbags: {ROS_EXTRA}") from None
    return types.SimpleNamespace(highlevel=highlevel, rosbag1=rosbag1, rosbag2=rosbag2, typesys=typesys)


def bag_format(path) -> str:
    """The :data:`BAG_FORMATS` entry of an existing bag: ``.bag`` file → ros1; ``.mcap`` / ``.db3`` file or a ROS 2
    directory (by its storage files) → ros2_mcap / ros2_sqlite3."""
    path = os.fspath(path)
    names = os.listdir(path) if os.path.isdir(path) else [path]
    if not os.path.isdir(path) and path.endswith(".bag"):
        return "ros1"
    return "ros2_sqlite3" if any(".db3" in name for name in names) else "ros2_mcap"


@dataclasses.dataclass(frozen=True)
class Topics:
    """The topics of a recording: RGB (``Image`` / ``CompressedImage``), depth (``Image``; None: not read) and
    ``CameraInfo`` (None: not read)."""

    rgb: str
    depth: str | None = None
    camera_info: str | None = None


@dataclasses.dataclass
class Frame:
    """One RGB frame of a recording (:meth:`Recording.frames`).

    ``stamp_ns``/``frame_id``: its header; ``bag_time_ns``: when the bag logged it; ``rgb``: uint8 ``(H, W, 3)``;
    ``depth``: its paired uint16 ``(H, W)`` depth in millimetres, or None (not read, or ``unpaired``).
    """

    stamp_ns: int
    frame_id: str
    bag_time_ns: int
    rgb: np.ndarray
    depth: np.ndarray | None
    unpaired: bool = False


_FLAGS = {"rgb": "--rgb_topic", "depth": "--depth_topic", "camera_info": "--camera_info_topic"}
_TYPES = {"rgb": image_messages.RGB_TYPES, "depth": (image_messages.IMAGE_TYPE,),
          "camera_info": (image_messages.CAMERA_INFO_TYPE,)}


class Recording:
    """An opened bag and its checked topics (a context manager: ``with Recording(...) as recording``).

    Args:
      path: the bag (``--bag`` / ``--input_dir``; ``flag`` names it in messages).
      topics: :class:`Topics`; every topic given must be in the bag with its message type, and the RGB and
        depth topics must hold a message (whose encoding is checked on opening).
      max_time_difference: seconds; depth pairs with RGB within it (:class:`StampPairer`).
    """

    def __init__(self, path, topics: Topics, max_time_difference: float = 0.02, flag: str = "--bag"):
        checks.number_in("--max_time_difference", max_time_difference, 0, 10, high_open=True, unit="seconds")
        self.path, self.topics, self.flag = os.fspath(path), topics, flag
        self.max_difference_ns = int(round(max_time_difference * 1e9))
        if not os.path.exists(self.path):
            raise FileNotFoundError(f"{flag} {self.path!r} does not exist")
        self.format = bag_format(self.path)
        self.unpaired_depth = 0
        self._reader = None

    def __enter__(self):
        modules = rosbags()
        errors = (modules.highlevel.AnyReaderError, FileNotFoundError)  # a directory without metadata.yaml
        try:
            reader = modules.highlevel.AnyReader(
                [Path(self.path)],
                default_typestore=modules.typesys.get_typestore(modules.typesys.Stores.ROS2_HUMBLE))
            reader.open()
        except errors as error:
            raise ValueError(f"{self.flag} {self.path!r} is not a ROS bag rosbags can read: {error}") from None
        self._reader = reader
        try:
            self._connections = {kind: self._checked(kind) for kind in ("rgb", "depth", "camera_info")
                                 if getattr(self.topics, kind) is not None}
            self._connections = {kind: found for kind, found in self._connections.items() if found is not None}
            for kind in ("rgb", "depth"):
                if kind in self._connections:
                    self._decode(kind, *self._first(kind))
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        return False

    # ------------------------------------------------------------------------------------------------ topics

    def _checked(self, kind):
        topic = getattr(self.topics, kind)
        topics = self._reader.topics
        if topic not in topics and kind == "camera_info":  # optional: --intrinsics can stand in
            return None
        if topic not in topics:
            raise ValueError(f"{_FLAGS[kind]}={topic} is not a topic of {self.path!r}; its topics: "
                             + ", ".join(f"{name} ({info.msgtype})" for name, info in sorted(topics.items())))
        msgtype = topics[topic].msgtype
        if msgtype not in _TYPES[kind]:
            raise ValueError(f"{_FLAGS[kind]}={topic} in {self.path!r} carries {msgtype}, not "
                             + " or ".join(_TYPES[kind]))
        return topics[topic].connections

    def _first(self, kind):
        """``(connection, bag time, message)`` of the first message of a topic."""
        for connection, bag_time, raw in self._reader.messages(connections=self._connections[kind]):
            return connection, bag_time, self._reader.deserialize(raw, connection.msgtype)
        raise ValueError(f"{_FLAGS[kind]}={getattr(self.topics, kind)} has no message in {self.path!r}")

    def _decode(self, kind, connection, bag_time, message):
        decode = image_messages.decode_rgb if kind == "rgb" else image_messages.decode_depth
        return decode(message, connection.msgtype, connection.topic)

    def message_count(self, kind: str = "rgb") -> int:
        """Messages on the RGB (or depth, camera_info) topic."""
        return sum(connection.msgcount for connection in self._connections[kind])

    @property
    def start_time_ns(self) -> int:
        return self._reader.start_time

    @property
    def duration_ns(self) -> int:
        return self._reader.duration

    def intrinsics(self, explicit=None, required: bool = True):
        """The 3×3 camera matrix: ``explicit`` (``--intrinsics``: "fx,fy,cx,cy", 9 numbers or a file) when given,
        else ``K`` of the first calibrated ``CameraInfo`` on the camera_info topic; None when neither is there and
        not ``required``, else ``ValueError`` saying to pass ``--intrinsics``."""
        if explicit is not None:
            matrix = image_files.parse_intrinsics(explicit)
            logging.info("intrinsics from --intrinsics: fx %.2f, fy %.2f, cx %.2f, cy %.2f", matrix[0, 0],
                         matrix[1, 1], matrix[0, 2], matrix[1, 2])
            return matrix
        topic = self.topics.camera_info
        infos = self._connections.get("camera_info")
        for connection, _, raw in self._reader.messages(connections=infos) if infos else ():
            matrix = image_messages.camera_matrix(self._reader.deserialize(raw, connection.msgtype))
            if matrix is not None:
                logging.info("intrinsics from the first CameraInfo on %s: fx %.2f, fy %.2f, cx %.2f, cy %.2f",
                             topic, matrix[0, 0], matrix[1, 1], matrix[0, 2], matrix[1, 2])
                return matrix
        if not required:
            return None
        why = "is not a topic of" if "camera_info" not in self._connections else "has no calibrated CameraInfo in"
        raise ValueError(f"--camera_info_topic={topic} {why} {self.path!r}: without a CameraInfo, pass the colour "
                         f"camera's --intrinsics=fx,fy,cx,cy")

    # ------------------------------------------------------------------------------------------------ frames

    def frames(self):
        """The RGB frames in stamp order, as :class:`Frame` s, with their paired depth when the depth topic is
        read (then ``unpaired`` frames carry no depth, and :attr:`unpaired_depth` counts the depth frames left
        alone once the stream ends). Streams: decodes one message at a time."""
        connections = list(self._connections["rgb"])
        with_depth = "depth" in self._connections
        if with_depth:
            connections += self._connections["depth"]
        pairer = StampPairer(self.max_difference_ns)
        for connection, bag_time, raw in self._reader.messages(connections=connections):
            message = self._reader.deserialize(raw, connection.msgtype)
            kind = "rgb" if connection.topic == self.topics.rgb else "depth"
            if not with_depth:
                yield self._frame((connection, bag_time, message), None)
                continue
            for decided in pairer.push(kind, image_messages.stamp_ns(message), (connection, bag_time, message)):
                yield self._frame(decided[1], decided[3])
        for decided in pairer.finish():
            yield self._frame(decided[1], decided[3])
        self.unpaired_depth = pairer.unpaired_depth

    def _frame(self, rgb_entry, depth_entry) -> Frame:
        connection, bag_time, message = rgb_entry
        rgb = self._decode("rgb", *rgb_entry)
        depth = None if depth_entry is None else self._decode("depth", *depth_entry)
        if depth is not None and depth.shape != rgb.shape[:2]:
            raise ValueError(
                f"--depth_topic={self.topics.depth} frames are {depth.shape[0]}x{depth.shape[1]} (HxW), "
                f"--rgb_topic={self.topics.rgb} frames {rgb.shape[0]}x{rgb.shape[1]}: record the depth registered "
                f"to the colour camera (e.g. aligned_depth_to_color)")
        return Frame(stamp_ns=image_messages.stamp_ns(message), frame_id=str(message.header.frame_id),
                     bag_time_ns=int(bag_time), rgb=rgb, depth=depth,
                     unpaired="depth" in self._connections and depth_entry is None)


def frame_stem(index: int, stamp: int) -> str:
    """The file stem of the ``index``-th frame, stamped ``stamp`` ns: ``frame_000030_1700000000123456789``."""
    return f"frame_{index:06d}_{stamp}"
