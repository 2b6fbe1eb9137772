"""Writing the segmented recording: a new bag with the label topics (:class:`LabelBagWriter`).

Topics: :data:`LABELS_TOPIC` (``sensor_msgs/Image``, mono8 train ids, mono16 beyond 255 classes),
:data:`COLOR_TOPIC` (rgb8, the label colours), both with the input frame's header (stamp and frame_id) and logged
at the input frame's bag time, and :data:`CLASSES_TOPIC` (one ``std_msgs/String``: the classes as JSON, logged at the
input bag's start). The bag is written inside a staging directory beside the output path and renamed into place
only when complete, so a failed or killed run leaves no half-written bag at that path.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from rfbnet_tf.recordings import bag_reader, image_messages

LABELS_TOPIC = "/rfbnet/labels"
COLOR_TOPIC = "/rfbnet/color"
CLASSES_TOPIC = "/rfbnet/classes"
ROS2_VERSION = 8


def check_output_path(path, fmt: str):
    """``ValueError`` / ``FileExistsError`` / ``FileNotFoundError`` for an output bag path that cannot be written
    in ``fmt`` (one of :data:`bag_reader.BAG_FORMATS`): ROS 1 bags are ``.bag`` files, ROS 2 bags directories."""
    path = os.fspath(path)
    if fmt not in bag_reader.BAG_FORMATS:
        raise ValueError(f"--output_format must be one of {bag_reader.BAG_FORMATS}, received {fmt!r}")
    if (fmt == "ros1") != path.endswith(".bag"):
        raise ValueError(f"--output_bag={path}: a {fmt} bag is " + (
            "a file ending in .bag" if fmt == "ros1" else "a directory, whose name must not end in .bag"))
    if os.path.lexists(path):
        raise FileExistsError(f"--output_bag={path} exists: remove it or choose another path")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise FileNotFoundError(f"--output_bag={path}: directory {parent!r} does not exist")


def classes_json(class_names, palette, ignore_label: int) -> str:
    """The :data:`CLASSES_TOPIC` message: ``{"classes": [{"id", "name", "color"}], "ignore_label",
    "ignore_color"}``; ``palette``: the run's (``palettes.run_palette``, an entry up to the ignore label)."""
    palette = np.asarray(palette)
    return json.dumps({
        "classes": [{"id": index, "name": name, "color": palette[index].tolist()}
                    for index, name in enumerate(class_names)],
        "ignore_label": int(ignore_label),
        "ignore_color": palette[ignore_label].tolist(),
    })


class LabelBagWriter:
    """A context manager writing the label topics of a recording to a new bag at ``path``.

    Args:
      path: the output bag (checked with :func:`check_output_path`).
      fmt: one of :data:`bag_reader.BAG_FORMATS`.
      classes: the :data:`CLASSES_TOPIC` text (:func:`classes_json`), logged at ``start_time_ns``.
    """

    def __init__(self, path, fmt: str, classes: str, start_time_ns: int):
        check_output_path(path, fmt)
        self.path, self.format = os.path.abspath(os.fspath(path)), fmt
        self._classes, self._start = classes, int(start_time_ns)
        self._staging = self._writer = None
        self.count = 0

    def __enter__(self):
        modules = bag_reader.rosbags()
        stores = modules.typesys.Stores
        name = os.path.basename(self.path)
        self._staging = tempfile.mkdtemp(prefix=f".{name}.partial-", dir=os.path.dirname(self.path))
        target = Path(self._staging, name)
        try:
            if self.format == "ros1":
                self._typestore = modules.typesys.get_typestore(stores.ROS1_NOETIC)
                self._serialize = self._typestore.serialize_ros1
                self._writer = modules.rosbag1.Writer(target)
            else:
                self._typestore = modules.typesys.get_typestore(stores.ROS2_HUMBLE)
                self._serialize = self._typestore.serialize_cdr
                plugins = modules.rosbag2.StoragePlugin
                plugin = plugins.MCAP if self.format == "ros2_mcap" else plugins.SQLITE3
                self._writer = modules.rosbag2.Writer(target, version=ROS2_VERSION, storage_plugin=plugin)
            self._writer.open()
            add = self._writer.add_connection
            types = self._typestore.types
            self._image, self._header = types[image_messages.IMAGE_TYPE], types["std_msgs/msg/Header"]
            self._time = types["builtin_interfaces/msg/Time"]
            self._connections = {topic: add(topic, image_messages.IMAGE_TYPE, typestore=self._typestore)
                                 for topic in (LABELS_TOPIC, COLOR_TOPIC)}
            string = types[image_messages.STRING_TYPE]
            classes = add(CLASSES_TOPIC, image_messages.STRING_TYPE, typestore=self._typestore)
            self._writer.write(classes, self._start, self._serialize(string(data=self._classes),
                                                                      image_messages.STRING_TYPE))
        except BaseException:
            self._discard()
            raise
        return self

    def write(self, bag_time_ns: int, stamp_ns: int, frame_id: str, class_ids, colours):
        """Write one frame: uint8/uint16 ``class_ids`` (H, W) and uint8 ``colours`` (H, W, 3)."""
        sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
        fields = {"stamp": self._time(sec=sec, nanosec=nanosec), "frame_id": frame_id}
        if self.format == "ros1":
            fields["seq"] = self.count
        header = self._header(**fields)
        for topic, image in ((LABELS_TOPIC, class_ids), (COLOR_TOPIC, colours)):
            message = self._image(header=header, **image_messages.image_fields(image))
            self._writer.write(self._connections[topic], int(bag_time_ns),
                               self._serialize(message, image_messages.IMAGE_TYPE))
        self.count += 1

    def __exit__(self, exc_type, exc, traceback):
        if exc_type is not None:
            self._discard()
            return False
        try:
            self._writer.close()
            self._writer = None
            if os.path.lexists(self.path):
                raise FileExistsError(f"--output_bag={self.path} appeared while writing; the new bag is not moved "
                                      f"onto it")
            os.replace(os.path.join(self._staging, os.path.basename(self.path)), self.path)
        finally:
            self._discard()
        return False

    def _discard(self):
        """Close the writer (if open) and remove the staging directory."""
        if self._writer is not None:
            try:
                self._writer.close()
            except Exception:  # noqa: BLE001 (the bag is thrown away; the error that got here is the one to see)
                pass
            self._writer = None
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None
