"""``extract_frames``: every N-th paired RGB-D frame of a ROS recording into the own-data folder layout, for
labelling (the library of ``python -m rfbnet_tf.prepare_data --dataset=bag``).

Written (the layout ``--dataset=folder`` reads)::

    DIR/dataset.json                          {"classes": [], "ignore_ids": [0], "depth_scale": 0.001,
                                               "intrinsics": {"fx", "fy", "cx", "cy"}, "max_depth": ...}
    DIR/<split>/rgb/<stem>.png                8-bit RGB
    DIR/<split>/depth/<stem>.png              16-bit millimetres, 0 = missing (32FC1 metres are converted)
    DIR/<split>/intrinsics/<stem>.json        {"fx", "fy", "cx", "cy"} of the frame's camera

``<stem>`` is ``frame_<index>_<stamp ns>`` (:func:`bag_reader.frame_stem`; index among the paired frames with
measured depth). There is no ``label/`` folder: the frames are unlabelled. The split is built in a staging
directory beside it and renamed into place when complete; an existing ``dataset.json`` (another split extracted
before) is kept, and must store depth in millimetres too.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import time

import cv2
from absl import logging

from rfbnet_tf.inference.depth_input import DEFAULT_MAX_DEPTH
from rfbnet_tf.recordings import bag_reader, depth_warning, image_messages
from rfbnet_tf.utils import flag_configs
from rfbnet_tf.utils.checks import boolean, int_at_least, positive_number
from rfbnet_tf.utils.files import write_json_atomically
from rfbnet_tf.utils.progress import Progress

DATASET_FILENAME = "dataset.json"
DEFAULT_EVERY = 30
DEFAULT_SPLIT = "train"


def _write_png(path, image):
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(path, image):
        raise OSError(f"could not write {path!r}")


def _intrinsics_json(matrix) -> dict:
    return {"fx": float(matrix[0, 0]), "fy": float(matrix[1, 1]), "cx": float(matrix[0, 2]),
            "cy": float(matrix[1, 2])}


@dataclasses.dataclass(frozen=True)
class FrameExtractionConfig:
    """What :func:`extract_frames` writes: the flags of ``python -m rfbnet_tf.prepare_data --dataset=bag`` as typed
    fields (the binary: ``utils.flag_configs.from_flags``), checked here, once.

    Fields:
      input_dir: the recording: a ROS 1 ``.bag`` file or a ROS 2 bag directory.
      output_folder: the own-data folder (``--dataset=folder``'s layout) the frames go into.
      rgb_topic, depth_topic, camera_info_topic: the topics (the camera info optional: see ``intrinsics``).
      every: write every n-th paired frame.
      output_split: the split folder of ``output_folder`` to write (a plain folder name).
      max_time_difference: the largest RGB-depth stamp difference of a pair, in seconds.
      intrinsics: the colour camera's ``fx,fy,cx,cy`` (or 9 numbers, or a file) when the bag has no CameraInfo.
      max_depth: metres; frames with no measured depth within it are skipped (None: 10 m, recorded in
        ``dataset.json``).
      overwrite: replace an existing ``output_folder/output_split``.
      progress: draw the progress bar on stderr.
    """

    input_dir: str
    output_folder: str
    rgb_topic: str
    depth_topic: str
    camera_info_topic: str | None = None
    every: int = DEFAULT_EVERY
    output_split: str = DEFAULT_SPLIT
    max_time_difference: float = 0.02
    intrinsics: str | None = None
    max_depth: float | None = None
    overwrite: bool = False
    progress: bool = True

    def __post_init__(self):
        if self.input_dir is None or self.output_folder is None:
            raise ValueError("--dataset=bag extracts --input_dir=IN.bag into --output_folder=DIR: give both")
        flag_configs.normalise_paths(self, "input_dir", "output_folder")
        object.__setattr__(self, "every", int_at_least("--every", self.every, 1))
        split = self.output_split
        if not isinstance(split, str) or not split or split.startswith(".") or os.sep in split or split in (
                "rgb", "depth", "label", "intrinsics"):
            raise ValueError(f"--output_split must be a plain folder name such as train, received {split!r}")
        max_depth = DEFAULT_MAX_DEPTH if self.max_depth is None else self.max_depth
        object.__setattr__(self, "max_depth", positive_number("--max_depth", max_depth, "metres"))
        boolean("--overwrite", self.overwrite)
        boolean("--progress", self.progress)


def _existing_dataset(path):
    """The ``dataset.json`` already in the folder (None if absent); its depth must be millimetres."""
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            dataset = json.load(handle)
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path!r} is not a readable dataset.json: {error}") from None
    if not isinstance(dataset, dict) or dataset.get("depth_scale") != image_messages.DEPTH_SCALE:
        scale = dataset.get("depth_scale") if isinstance(dataset, dict) else None
        raise ValueError(f"{path!r} has depth_scale {scale!r}; extracted frames store depth in millimetres "
                         f"(depth_scale {image_messages.DEPTH_SCALE}): extract into another --output_folder")
    return dataset


def extract_frames(config: FrameExtractionConfig) -> dict:
    """Write every ``config.every``-th paired frame of the bag ``config.input_dir`` into
    ``config.output_folder/config.output_split`` (module docstring).

    Frames of an RGB frame without a depth partner within ``max_time_difference`` seconds, and frames whose depth
    has no measured pixel within ``max_depth`` metres (default 10, recorded in ``dataset.json``), are counted and
    not written.

    Returns:
      the summary: ``written``, ``frames`` (RGB frames read), ``paired``, ``unpaired_rgb``, ``unpaired_depth``,
      ``empty_depth``, ``split_dir``, ``seconds``.

    Raises:
      FileExistsError: ``output_folder/output_split`` exists and not ``overwrite``.
      ValueError: bad topics or messages (:class:`bag_reader.Recording`), no frame to write.
    """
    bag, output_folder, split, every, max_depth = (config.input_dir, config.output_folder, config.output_split,
                                                   config.every, config.max_depth)
    split_dir = os.path.join(output_folder, split)
    if os.path.lexists(split_dir) and not config.overwrite:
        raise FileExistsError(f"{split_dir!r} exists: pass --overwrite to replace it, or another --output_split")
    dataset_path = os.path.join(output_folder, DATASET_FILENAME)
    dataset = _existing_dataset(dataset_path)
    topics = bag_reader.Topics(rgb=config.rgb_topic, depth=config.depth_topic, camera_info=config.camera_info_topic)
    start = time.perf_counter()
    with bag_reader.Recording(bag, topics, config.max_time_difference, flag="--input_dir") as recording:
        matrix = recording.intrinsics(config.intrinsics)
        os.makedirs(output_folder, exist_ok=True)
        staging = os.path.join(output_folder, f".{split}.partial-{os.getpid()}")  # not mkdtemp: its mode is 0700
        shutil.rmtree(staging, ignore_errors=True)
        os.makedirs(staging)
        try:
            counts = _write_frames(recording, staging, matrix, every, max_depth, config.progress)
            if not counts["written"]:
                raise ValueError(f"no frame of {bag!r} has a depth partner within --max_time_difference="
                                 f"{config.max_time_difference} s and measured depth: nothing written")
            if os.path.lexists(split_dir):  # overwrite: swap the new split in, then drop the old one
                old = tempfile.mkdtemp(prefix=f".{split}.old-", dir=output_folder)
                os.replace(split_dir, os.path.join(old, split))
                os.replace(staging, split_dir)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(staging, split_dir)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    if dataset is None:
        write_json_atomically(dataset_path, {
            "classes": [], "ignore_ids": [0], "depth_scale": image_messages.DEPTH_SCALE,
            "intrinsics": _intrinsics_json(matrix), "max_depth": float(max_depth)}, sort_keys=False)
    summary = dict(counts, split_dir=split_dir, seconds=time.perf_counter() - start)
    logging.info("wrote %d of %d paired frames (every %d-th) to %s in %.1f s; %d RGB and %d depth frames unpaired "
                 "(no partner within %.0f ms), %d with no measured depth (skipped)", summary["written"],
                 summary["paired"], every, split_dir, summary["seconds"], summary["unpaired_rgb"],
                 summary["unpaired_depth"], recording.max_difference_ns / 1e6, summary["empty_depth"])
    return summary


def _write_frames(recording, staging, matrix, every, max_depth, progress) -> dict:
    for folder in ("rgb", "depth", "intrinsics"):
        os.makedirs(os.path.join(staging, folder))
    counts = {"written": 0, "frames": 0, "paired": 0, "unpaired_rgb": 0, "empty_depth": 0}
    usable = 0
    bar = Progress("extract", recording.message_count("rgb"), enabled=progress)
    for frame in recording.frames():
        counts["frames"] += 1
        bar.update()
        if frame.unpaired:
            counts["unpaired_rgb"] += 1
            continue
        counts["paired"] += 1
        if not image_messages.has_measured_depth(frame.depth, max_depth):
            counts["empty_depth"] += 1
            continue
        if usable == 0:
            depth_warning.warn_if_implausible(frame.depth, max_depth)
        if usable % every == 0:
            stem = bag_reader.frame_stem(usable, frame.stamp_ns)
            _write_png(os.path.join(staging, "rgb", f"{stem}.png"), frame.rgb)
            _write_png(os.path.join(staging, "depth", f"{stem}.png"), frame.depth)
            write_json_atomically(os.path.join(staging, "intrinsics", f"{stem}.json"), _intrinsics_json(matrix),
                                  sort_keys=False)
            counts["written"] += 1
        usable += 1
    bar.close()
    counts["unpaired_depth"] = recording.unpaired_depth
    return counts
