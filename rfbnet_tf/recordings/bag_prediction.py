"""``predict_bag``: segment an RGB-D ROS recording with a trained run and write the labels as a new bag (the
library of ``python -m rfbnet_tf.predict --bag=... --output_bag=...``).

Per RGB frame of ``--rgb_topic`` (in stamp order), paired with the depth frame of ``--depth_topic`` nearest in
stamp within ``--max_time_difference`` (:mod:`rfbnet_tf.recordings.frame_pairing`): the raw depth (millimetres,
:mod:`rfbnet_tf.recordings.image_messages`) goes through the run's graph preprocessing — completion and HHA under
XLA, the export's ``serving_raw`` path (:meth:`rfbnet_tf.inference.serving.ServingModule.serve_raw`) — and the
model; the class ids go to the output bag (:mod:`rfbnet_tf.recordings.bag_writer`), and optionally to PNGs as
``predict`` writes them (``output_dir``) and to an overlay video (``video``). RGB frames without a depth partner
are counted and skipped; frames whose depth has no measured pixel (sensor start-up) are checked in numpy before
the graph and either skipped (``empty_depth="skip"``) or written as all-ignore labels (``"ignore"``). One frame
is read, segmented and written at a time: memory stays flat in the bag's length.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import shutil
import time

import cv2
import numpy as np
import tensorflow as tf
from absl import logging

from rfbnet_tf import rundir
from rfbnet_tf.drawing import palettes
from rfbnet_tf.datasets import records
from rfbnet_tf.inference import input_spec, prediction, serving, serving_ops
from rfbnet_tf.drawing import error_map
from rfbnet_tf.recordings import bag_reader, bag_writer, depth_warning, image_messages
from rfbnet_tf.utils.checks import boolean, fraction, positive_number
from rfbnet_tf.utils.flag_configs import normalise_paths
from rfbnet_tf.utils.progress import Progress

EMPTY_DEPTH_POLICIES = ("skip", "ignore")
"""What becomes of a frame whose depth has no measured pixel: skipped, or written with every pixel ignored."""
VIDEO_CODECS = {".mp4": "mp4v", ".avi": "MJPG"}
DEFAULT_VIDEO_FPS = 30.0
_NO_INTRINSICS = (1.0, 1.0, 0.0, 0.0)  # runs on completed depth do not use them


class _GraphPath:
    """RGB uint8 (H, W, 3) + depth uint16 millimetres (H, W) → class ids (H, W), through the serving module's
    graph path (``serve_raw``; depth-only runs: the same raw-depth preprocessing, then the model). Built once per
    run: the graph is traced and compiled at the first frame of each image size, whichever bag it comes from."""

    def __init__(self, module: serving.ServingModule):
        self.module, self.spec = module, module.spec
        self.scale = tf.constant(image_messages.DEPTH_SCALE, tf.float32)
        self.depth_only = None
        if self.spec.model_inputs == ("depth",):
            serve = module.serve if self.spec.depth_input == "hha" else module.serve_depth_metres
            spec = self.spec
            self.depth_only = tf.function(
                lambda depth, scale, intrinsics: serve(serving_ops.raw_model_depth(depth, scale, intrinsics, spec)[0]),
                autograph=False)

    def __call__(self, rgb, depth, intrinsics):
        if depth is None:
            return self.module.run({"rgb": rgb})["class_ids"][0]
        depth = tf.constant(depth[None, ..., None])
        if self.depth_only is not None:
            out = self.depth_only(depth, self.scale, intrinsics)
        else:
            out = self.module.serve_raw(tf.constant(rgb[None]), depth, self.scale, intrinsics)
        return out["class_ids"][0].numpy()


def _intrinsics_vector(matrix):
    """``(fx, fy, cx, cy)`` of a 3×3 matrix as the graph takes them (placeholders without one)."""
    values = _NO_INTRINSICS if matrix is None else (matrix[0, 0], matrix[1, 1], matrix[0, 2], matrix[1, 2])
    return tf.constant(values, tf.float32)


class _OverlayVideo:
    """An overlay video written with OpenCV beside its path and renamed into place by :meth:`close`."""

    def __init__(self, path, fps: float):
        self.path, self.fps = os.path.abspath(os.fspath(path)), fps
        extension = os.path.splitext(self.path)[1].lower()
        if extension not in VIDEO_CODECS:
            raise ValueError(f"--video={path}: give a {' or '.join(VIDEO_CODECS)} file")
        if not os.path.isdir(os.path.dirname(self.path)):
            raise FileNotFoundError(f"--video={path}: directory {os.path.dirname(self.path)!r} does not exist")
        self.codec = VIDEO_CODECS[extension]
        self.temporary = os.path.join(os.path.dirname(self.path),
                                      f".{os.path.basename(self.path)}.partial-{os.getpid()}{extension}")
        self.writer, self.size = None, None

    def write(self, overlay):
        size = (overlay.shape[1], overlay.shape[0])
        if self.writer is None:
            self.writer = cv2.VideoWriter(self.temporary, cv2.VideoWriter_fourcc(*self.codec), self.fps, size)
            self.size = size
            if not self.writer.isOpened():
                raise ValueError(f"--video={self.path}: this OpenCV build cannot write {self.codec} video")
        elif size != self.size:
            overlay = cv2.resize(overlay, self.size, interpolation=cv2.INTER_AREA)
        self.writer.write(cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR))

    def close(self, keep: bool):
        if self.writer is not None:
            self.writer.release()
        if keep and os.path.exists(self.temporary):
            os.replace(self.temporary, self.path)
        elif os.path.exists(self.temporary):
            os.remove(self.temporary)


@dataclasses.dataclass
class _Tally:
    frames: int = 0
    segmented: int = 0
    unpaired: int = 0
    empty_depth: int = 0
    first_unpaired: list = dataclasses.field(default_factory=list)
    first_empty: list = dataclasses.field(default_factory=list)
    latencies: list = dataclasses.field(default_factory=list)
    first_done: float | None = None  # perf_counter when the first frame was written (after the compilation)


def _check_max_depth(max_depth):
    if max_depth is not None:
        positive_number("--max_depth", max_depth, "metres")


def _video_fps(recording) -> float:
    count, duration = recording.message_count("rgb"), recording.duration_ns / 1e9
    return float(np.clip((count - 1) / duration, 1.0, 240.0)) if count > 1 and duration > 0 else DEFAULT_VIDEO_FPS


@dataclasses.dataclass(frozen=True)
class BagRecordingConfig:
    """What :meth:`BagSegmenter.segment` reads and writes: the recording flags of ``python -m rfbnet_tf.predict
    --bag`` as typed fields (the binary: ``utils.flag_configs.from_flags``), checked here, once.

    Fields:
      bag: the input bag (ROS 1 ``.bag`` file, ROS 2 directory or ``.mcap`` / ``.db3`` file).
      output_bag: the bag to write (must not exist); ``output_format`` (:data:`bag_reader.BAG_FORMATS`, None =
        the input's) picks its format.
      rgb_topic, depth_topic, camera_info_topic: the topics (depth and CameraInfo are read only when the run
        uses depth / HHA).
      max_time_difference: seconds between paired RGB and depth stamps at most.
      intrinsics: "fx,fy,cx,cy" (or 9 numbers, or a file) instead of the first CameraInfo.
      output_dir: also write ``predict``'s PNGs (legend, labels, class ids, overlay) per frame there.
      video: also write an overlay video (``.mp4`` or ``.avi``).
      empty_depth: :data:`EMPTY_DEPTH_POLICIES`.
      alpha, progress: as ``prediction.PredictConfig``.
    """

    bag: str
    output_bag: str
    rgb_topic: str
    depth_topic: str | None = None
    camera_info_topic: str | None = None
    max_time_difference: float = 0.02
    intrinsics: str | None = None
    output_format: str | None = None
    output_dir: str | None = None
    video: str | None = None
    empty_depth: str = "skip"
    alpha: float = 0.5
    progress: bool = True

    def __post_init__(self):
        normalise_paths(self, "bag", "output_bag", "output_dir", "video")
        if self.empty_depth not in EMPTY_DEPTH_POLICIES:
            raise ValueError(f"--empty_depth must be one of {EMPTY_DEPTH_POLICIES}, received {self.empty_depth!r}")
        fraction("--alpha", self.alpha)
        boolean("progress", self.progress)


class BagSegmenter:
    """A trained run that segments recordings (:meth:`segment`); :func:`predict_bag` segments one.

    Reads the run's ``flags.json`` / ``run_info.json`` at once (``max_depth``, metres, overrides the run's depth
    range); builds the model at the first :meth:`segment` (after that bag's topics are checked) and keeps it, so
    segmenting several bags in one process traces and compiles the graph once per image size.
    """

    def __init__(self, model_dir, *, checkpoint=None, size_policy=None, max_depth=None):
        if not os.path.isdir(os.fspath(model_dir)):
            raise FileNotFoundError(f"model_dir {os.fspath(model_dir)!r} does not exist")
        _check_max_depth(max_depth)
        self.model_dir, self.checkpoint = os.fspath(model_dir), checkpoint
        self.info = rundir.facts.load_run_info(model_dir)
        self.run_config = rundir.config_file.load_run_config(model_dir)
        spec = input_spec.input_spec(self.run_config, self.info, size_policy)
        if max_depth is not None:
            spec = dataclasses.replace(spec, max_depth=float(max_depth))
        if "depth" in spec.model_inputs and spec.max_depth is None:
            raise ValueError("the run's run_info.json records no max_depth: pass --max_depth")
        self.spec = spec
        self.palette = rundir.facts.label_palette(self.info)
        self._graph = None

    def _graph_path(self) -> _GraphPath:
        if self._graph is None:
            model, _, _ = rundir.checkpoints.restore_model(self.model_dir, self.checkpoint, self.run_config)
            self._graph = _GraphPath(serving.ServingModule(model, self.spec))
        return self._graph

    def segment(self, recording_config: BagRecordingConfig) -> dict:
        """Segment the recording ``recording_config.bag`` into the new bag ``output_bag`` (:func:`predict_bag`
        documents the summary returned)."""
        r = recording_config
        spec, info = self.spec, self.info
        uses_depth = "depth" in spec.model_inputs
        needs_intrinsics = uses_depth and spec.depth_input == "hha"
        if uses_depth and r.depth_topic is None:
            raise ValueError("the run uses depth: give --depth_topic")
        topics = bag_reader.Topics(rgb=r.rgb_topic, depth=r.depth_topic if uses_depth else None,
                                   camera_info=r.camera_info_topic if needs_intrinsics else None)
        with bag_reader.Recording(r.bag, topics, r.max_time_difference) as recording:
            fmt = r.output_format or recording.format
            bag_writer.check_output_path(r.output_bag, fmt)
            matrix = _intrinsics_vector(recording.intrinsics(r.intrinsics) if needs_intrinsics else None)
            video_writer = _OverlayVideo(r.video, _video_fps(recording)) if r.video is not None else None
            graph = self._graph_path()
            classes = bag_writer.classes_json(info["class_names"], self.palette, int(info["ignore_label"]))
            created = r.output_dir is not None and not os.path.exists(r.output_dir)
            logging.info("segmenting %s (%d RGB frames on %s) with %s into %s (%s); frames with all-zero depth: %s",
                         r.bag, recording.message_count("rgb"), r.rgb_topic, self.model_dir, r.output_bag, fmt,
                         "skipped" if r.empty_depth == "skip" else "written as all-ignore labels")
            tally, start, ok = _Tally(), time.perf_counter(), False
            try:
                if r.output_dir is not None:
                    os.makedirs(r.output_dir, exist_ok=True)
                    prediction.write_legend(r.output_dir, info, self.palette)
                with bag_writer.LabelBagWriter(r.output_bag, fmt, classes, recording.start_time_ns) as writer:
                    bar = Progress("predict --bag", recording.message_count("rgb"), enabled=r.progress)
                    segment = functools.partial(graph, intrinsics=matrix)
                    for frame in recording.frames():
                        self._frame(frame, tally, segment, r.empty_depth, writer, r.output_dir, video_writer, r.alpha)
                        bar.update()
                    bar.close()
                ok = True
            finally:
                if video_writer is not None:
                    video_writer.close(keep=ok)
                if not ok and created:
                    shutil.rmtree(r.output_dir, ignore_errors=True)
            summary = _summary(tally, recording.unpaired_depth, start, r.empty_depth, r.output_bag, recording)
        _log_summary(summary)
        return summary

    def _frame(self, frame, tally, segment, empty_depth, writer, output_dir, video, alpha):
        """Segment one :class:`bag_reader.Frame` (or count it as unpaired / empty) and write its outputs."""
        info, palette = self.info, self.palette
        tally.frames += 1
        ignore_label = int(info["ignore_label"])
        if frame.unpaired:
            tally.unpaired += 1
            if len(tally.first_unpaired) < 10:
                tally.first_unpaired.append(frame.stamp_ns)
            return
        if frame.depth is not None and not image_messages.has_measured_depth(frame.depth, self.spec.max_depth):
            tally.empty_depth += 1
            if len(tally.first_empty) < 10:
                tally.first_empty.append(frame.stamp_ns)
            if empty_depth == "skip":
                return
            class_ids = np.full(frame.rgb.shape[:2], ignore_label, np.int64)
        else:
            if frame.depth is not None and not tally.latencies:
                depth_warning.warn_if_implausible(frame.depth, self.spec.max_depth)
            began = time.perf_counter()
            class_ids = segment(frame.rgb, frame.depth)
            tally.latencies.append(time.perf_counter() - began)
        class_ids = class_ids.astype(records.LABEL_DTYPES[records.label_bits(len(info["class_names"]))])
        colours = palettes.colorize(class_ids, palette, ignore_label)
        writer.write(frame.bag_time_ns, frame.stamp_ns, frame.frame_id, class_ids, colours)
        if output_dir is not None:
            stem = bag_reader.frame_stem(tally.segmented, frame.stamp_ns)
            prediction.write_frame_images(output_dir, stem, frame.rgb, class_ids, info, palette, alpha)
        if video is not None:
            video.write(error_map.overlay(frame.rgb, colours, alpha))
        tally.segmented += 1
        if tally.first_done is None:
            tally.first_done = time.perf_counter()


def predict_bag(model_dir, recording_config: BagRecordingConfig, *, checkpoint=None, size_policy=None,
                max_depth=None) -> dict:
    """Segment the recording ``recording_config.bag`` with the run ``model_dir`` into the new bag ``output_bag``.

    Args:
      model_dir: a directory written by ``rfbnet_tf.train``.
      recording_config: the recording, its topics and the outputs (:class:`BagRecordingConfig`).
      checkpoint, size_policy: as ``prediction.PredictConfig``.
      max_depth: metres (default: the run's ``max_depth``).

    Returns:
      the summary: ``frames`` (RGB frames read), ``segmented``, ``unpaired_rgb``, ``unpaired_depth``,
      ``empty_depth`` (with ``empty_depth_policy``), ``unpaired_stamps`` / ``empty_stamps`` (the first ten),
      ``fps`` (``fps_after_first``: once the graph is compiled), ``latency_ms`` (``p50``, ``p95`` without the
      first frame, ``first``), ``seconds``, ``output_bag``.
    """
    segmenter = BagSegmenter(model_dir, checkpoint=checkpoint, size_policy=size_policy, max_depth=max_depth)
    return segmenter.segment(recording_config)


def _summary(tally, unpaired_depth, start, empty_depth, output_bag, recording) -> dict:
    end = time.perf_counter()
    seconds = end - start
    after_first = end - tally.first_done if tally.first_done is not None else 0.0
    latencies = np.asarray(tally.latencies) * 1000.0
    steady = latencies[1:] if latencies.size > 1 else latencies  # the first call compiles the graph
    return {
        "frames": tally.frames, "segmented": tally.segmented, "unpaired_rgb": tally.unpaired,
        "unpaired_depth": int(unpaired_depth), "empty_depth": tally.empty_depth, "empty_depth_policy": empty_depth,
        "unpaired_stamps": tally.first_unpaired, "empty_stamps": tally.first_empty,
        "max_time_difference_ms": recording.max_difference_ns / 1e6,
        "fps": tally.segmented / seconds if seconds > 0 else 0.0,
        "fps_after_first": (tally.segmented - 1) / after_first if tally.segmented > 1 and after_first > 0 else None,
        "latency_ms": {"p50": float(np.percentile(steady, 50)) if steady.size else None,
                       "p95": float(np.percentile(steady, 95)) if steady.size else None,
                       "first": float(latencies[0]) if latencies.size else None},
        "seconds": seconds, "output_bag": os.fspath(output_bag),
    }


def _log_summary(summary):
    latency = summary["latency_ms"]
    timing = ("no frame segmented" if latency["first"] is None else
              f"latency per frame p50 {latency['p50']:.0f} ms, p95 {latency['p95']:.0f} ms (first frame "
              f"{latency['first']:.0f} ms: it compiles the graph)")
    steady = "" if summary["fps_after_first"] is None else f" ({summary['fps_after_first']:.2f} after the first)"
    logging.info("segmented %d of %d RGB frames in %.1f s: %.2f frames/s%s, %s; wrote %s",
                 summary["segmented"], summary["frames"], summary["seconds"], summary["fps"], steady, timing,
                 summary["output_bag"])
    if summary["unpaired_rgb"] or summary["unpaired_depth"]:
        logging.warning("unpaired frames (no partner within %.0f ms): %d RGB (skipped; first stamps %s), %d depth",
                        summary["max_time_difference_ms"], summary["unpaired_rgb"], summary["unpaired_stamps"],
                        summary["unpaired_depth"])
    if summary["empty_depth"]:
        logging.warning("%d frame(s) with no measured depth (%s; first stamps %s)", summary["empty_depth"],
                        "skipped" if summary["empty_depth_policy"] == "skip" else "written as all-ignore labels",
                        summary["empty_stamps"])
