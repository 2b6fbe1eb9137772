r"""Convert a dataset into the shared TFRecord format (``rfbnet_tf.datasets.records``).

Usage::

    python -m rfbnet_tf.prepare_data --dataset=synthetic --output_dir=data/synthetic
    python -m rfbnet_tf.prepare_data --dataset=cityscapes --input_dir=/data/cityscapes \
        --output_dir=data/cityscapes [--image_size=512,1024]
    python -m rfbnet_tf.prepare_data --dataset=scannet --input_dir=/data/scannet \
        --output_dir=data/scannet

Per frame (paper Sec. IV-B: "We perform depth completion [38] for the depth images. Moreover,
we employ the three-channel HHA encoding [29]"): load → validate → drop raw depth beyond
``max_depth`` → ``complete_depth`` → ``depth_to_hha(completed, intrinsics)`` (normals fitted to
the measured pixels) → encode.  Frames run in parallel worker processes (``multiprocessing``
spawn context, results in order), with a progress bar on stderr.  Frames whose depth has no
valid pixel or holds NaN/inf are skipped and counted (with the reason) in the summary and in
``dataset_info.json``; every other bad input (missing or corrupt file, size mismatch, unknown
label id, wrong channel count, empty directory) stops the run with an error naming the file.

The whole record directory is replaced atomically: the new shards and ``dataset_info.json`` are
built in a staging directory beside it (``<output_dir>.tmp-<pid>``; the shards of splits that are
kept are hard-linked into it), and only when everything is written is it swapped in for the old
directory.  On any error (a bad frame, a full disk, a failing last write) the staging directory is
removed and the old records are untouched; a run that is killed leaves a staging directory that the
next start removes (temporaries of dead PIDs, :mod:`rfbnet_tf.utils.processes`).  Converting some
splits anew at another image size than the kept splits is refused: one directory holds one size.  Normalisation statistics
(per-channel mean/std of RGB and HHA on 0..255, of the completed depth in metres) come from the
train split.

The worker side (this module, ``records.encode_example``, the converters and the
preprocessing) imports no TensorFlow, so spawned workers start quickly; only the parent
imports it, to write the TFRecord files.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import multiprocessing
import os
import shutil
import time

import numpy as np
from absl import logging

from rfbnet_tf import cli
from rfbnet_tf.constants import IGNORE_LABEL
from rfbnet_tf.datasets import records
from rfbnet_tf.utils import processes
from rfbnet_tf.utils.files import write_json_atomically
from rfbnet_tf.utils.progress import Progress

DATASETS = ("synthetic", "cityscapes", "scannet")
DEFAULT_EXAMPLES_PER_SHARD = 256
DEFAULT_SYNTHETIC_TRAIN = 200
DEFAULT_SYNTHETIC_VAL = 50
DEFAULT_SYNTHETIC_SIZE = (120, 160)
SYNTHETIC_MAX_DEPTH_M = 10.0
"""Default ``--max_depth`` for the synthetic scenes (indoor-like rooms, see datasets/synthetic)."""
RGB_FORMATS = records.RGB_FORMATS


# --------------------------------------------------------------------------- dataset sources


@dataclasses.dataclass(frozen=True)
class Source:
    """What ``prepare`` needs to know of a dataset up front: its classes and defaults."""

    name: str
    class_names: tuple
    max_depth: float
    default_image_size: tuple | None


def _converter(dataset: str):
    """The converter module of a real dataset (``rfbnet_tf.datasets.{dataset}``)."""
    return importlib.import_module(f"rfbnet_tf.datasets.{dataset}")


def get_source(dataset: str) -> Source:
    """``Source`` of ``dataset`` (one of :data:`DATASETS`)."""
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")
    if dataset == "synthetic":
        from rfbnet_tf.datasets import synthetic

        return Source("synthetic", tuple(synthetic.CLASS_NAMES), SYNTHETIC_MAX_DEPTH_M, None)
    module = _converter(dataset)
    return Source(dataset, tuple(module.CLASS_NAMES), module.MAX_DEPTH_M, module.DEFAULT_IMAGE_SIZE)


def list_frames(dataset: str, split: str, *, input_dir=None, synthetic_count=0,
                synthetic_size=DEFAULT_SYNTHETIC_SIZE, seed=0, frame_skip=None) -> list[dict]:
    """Picklable frame descriptions of ``split`` (paths, or a seed for synthetic frames)."""
    if dataset == "synthetic":
        from rfbnet_tf.datasets import synthetic

        seeds = synthetic.split_seeds(split, synthetic_count, seed)
        height, width = synthetic_size
        return [{"name": f"synthetic_{split}_{index:05d}_seed{int(s)}", "seed": int(s),
                 "size": (height, width)} for index, s in enumerate(seeds)]
    if input_dir is None:
        raise ValueError(f"--input_dir is required for dataset {dataset!r}, got None")
    if not os.path.isdir(input_dir):
        raise FileNotFoundError(f"input directory {input_dir!r} does not exist")
    if not os.listdir(input_dir):
        raise FileNotFoundError(f"input directory {input_dir!r} is empty")
    module = _converter(dataset)
    if dataset == "scannet" and frame_skip is not None:
        return module.list_frames(input_dir, split, frame_skip=frame_skip)
    return module.list_frames(input_dir, split)


def load_frame(dataset: str, frame: dict, image_size) -> dict:
    """``{"rgb", "depth_m", "label", "intrinsics", "name"}`` of one frame description."""
    if dataset == "synthetic":
        from rfbnet_tf.datasets import synthetic

        scene = synthetic.render_scene(frame["seed"], *frame["size"])
        loaded = {"rgb": scene["rgb"], "depth_m": scene["depth"], "label": scene["label"],
                  "intrinsics": scene["intrinsics"], "name": frame["name"]}
        if image_size is not None and tuple(image_size) != tuple(frame["size"]):
            raise ValueError(
                f"synthetic frames are rendered at synthetic_size {frame['size']}, "
                f"got image_size {image_size!r}"
            )
        return loaded
    return _converter(dataset).load_frame(frame, image_size)


# --------------------------------------------------------------------------- per-frame work


def check_frame(frame: dict, num_classes: int) -> str | None:
    """Validate a loaded frame; return a skip reason for unusable depth, else ``None``.

    Raises ``ValueError`` naming the frame for wrong shapes/dtypes, mismatched sizes, label
    values outside ``0..num_classes-1`` ∪ {255} and bad intrinsics.
    """
    name = frame.get("name")
    rgb, depth, label = (np.asarray(frame[key]) for key in ("rgb", "depth_m", "label"))
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"frame {name!r}: rgb must be uint8 (H, W, 3), got {rgb.dtype} {rgb.shape}")
    size = rgb.shape[:2]
    if depth.shape != size or depth.dtype.kind != "f":
        raise ValueError(
            f"frame {name!r}: depth must be float (H, W) = {size}, got {depth.dtype} {depth.shape}"
        )
    if label.shape != size or label.dtype != np.uint8:
        raise ValueError(
            f"frame {name!r}: label must be uint8 (H, W) = {size}, got {label.dtype} {label.shape}"
        )
    bad = np.unique(label[(label >= num_classes) & (label != IGNORE_LABEL)])
    if bad.size:
        raise ValueError(f"frame {name!r}: label values {bad.tolist()} outside 0..{num_classes - 1} and 255")
    matrix = np.asarray(frame["intrinsics"], dtype=np.float64)
    if matrix.shape != (3, 3) or not np.all(np.isfinite(matrix)) or matrix[0, 0] <= 0 or matrix[1, 1] <= 0:
        raise ValueError(f"frame {name!r}: intrinsics must be a finite 3x3 camera matrix, got {matrix.tolist()}")
    if not np.all(np.isfinite(depth)):
        return "depth contains NaN or inf"
    if not np.any(depth > 0):
        return "depth has no valid (> 0) pixel"
    return None


@dataclasses.dataclass
class FrameStats:
    """Sums for the normalisation statistics and the class histogram of some frames."""

    num_classes: int
    pixels: int = 0
    rgb_sum: np.ndarray = None
    rgb_sq: np.ndarray = None
    hha_sum: np.ndarray = None
    hha_sq: np.ndarray = None
    depth_sum: float = 0.0
    depth_sq: float = 0.0
    depth_count: int = 0
    histogram: np.ndarray = None

    def __post_init__(self):
        for key in ("rgb_sum", "rgb_sq", "hha_sum", "hha_sq"):
            if getattr(self, key) is None:
                setattr(self, key, np.zeros(3, np.float64))
        if self.histogram is None:
            self.histogram = np.zeros(self.num_classes, np.int64)

    @classmethod
    def of_frame(cls, rgb, hha, depth_m, label, num_classes):
        rgb64, hha64 = rgb.reshape(-1, 3).astype(np.float64), hha.reshape(-1, 3).astype(np.float64)
        valid_depth = depth_m[depth_m > 0].astype(np.float64)
        labels = label[label != IGNORE_LABEL]
        return cls(
            num_classes, rgb64.shape[0], rgb64.sum(0), (rgb64**2).sum(0), hha64.sum(0),
            (hha64**2).sum(0), float(valid_depth.sum()), float((valid_depth**2).sum()),
            int(valid_depth.size), np.bincount(labels, minlength=num_classes).astype(np.int64),
        )

    def add(self, other: "FrameStats"):
        self.pixels += other.pixels
        self.depth_sum += other.depth_sum
        self.depth_sq += other.depth_sq
        self.depth_count += other.depth_count
        for key in ("rgb_sum", "rgb_sq", "hha_sum", "hha_sq", "histogram"):
            setattr(self, key, getattr(self, key) + getattr(other, key))

    def normalization(self) -> dict:
        def mean_std(total, squares, count):
            mean = np.asarray(total, np.float64) / max(count, 1)
            var = np.maximum(np.asarray(squares, np.float64) / max(count, 1) - mean**2, 0.0)
            return {"mean": np.atleast_1d(mean).tolist(), "std": np.atleast_1d(np.sqrt(var)).tolist()}

        return {
            "rgb": mean_std(self.rgb_sum, self.rgb_sq, self.pixels),
            "hha": mean_std(self.hha_sum, self.hha_sq, self.pixels),
            "depth": mean_std(self.depth_sum, self.depth_sq, self.depth_count),
        }


def process_frame(task) -> tuple:
    """Worker: ``(dataset, frame, options)`` → ``("ok", name, example_bytes, FrameStats, size)``
    or ``("skip", name, reason)``.  Errors are re-raised naming the frame."""
    dataset, frame, options = task
    name = frame["name"]
    try:
        from rfbnet_tf.preprocessing.depth_completion import complete_depth
        from rfbnet_tf.preprocessing.hha import depth_to_hha

        loaded = load_frame(dataset, frame, options["image_size"])
        reason = check_frame(loaded, options["num_classes"])
        if reason is not None:
            return ("skip", name, reason)
        max_depth = options["max_depth"]
        raw = np.where(loaded["depth_m"] <= max_depth, loaded["depth_m"], 0.0).astype(np.float32)
        if not np.any(raw > 0):
            return ("skip", name, f"depth has no valid pixel within max_depth={max_depth} m")
        completed = np.clip(complete_depth(raw, max_depth=max_depth), 0.0, max_depth)
        hha = depth_to_hha(completed, loaded["intrinsics"], measured_mask=raw > 0)
        example = records.encode_example(
            rgb=loaded["rgb"], hha=hha, depth_mm=records.metres_to_millimetres(completed),
            depth_raw_mm=records.metres_to_millimetres(raw), label=loaded["label"],
            intrinsics=loaded["intrinsics"], name=name, rgb_format=options["rgb_format"],
        )
        stats = FrameStats.of_frame(loaded["rgb"], hha, completed, loaded["label"],
                                    options["num_classes"])
        return ("ok", name, example, stats, tuple(loaded["rgb"].shape[:2]))
    except Exception as error:  # name the frame; keep the error class for the usual ones
        message = str(error) if name in str(error) else f"frame {name!r}: {error}"
        if isinstance(error, FileNotFoundError):
            raise FileNotFoundError(message) from None
        if isinstance(error, ValueError):
            raise ValueError(message) from None
        raise RuntimeError(f"frame {name!r}: {type(error).__name__}: {error}") from error


def _map_frames(tasks, pool):
    """``process_frame`` results in order: in ``pool`` (spawned workers) or, if None, here."""
    if pool is None:
        return map(process_frame, tasks)
    return pool.imap(process_frame, tasks, chunksize=1)


def _worker_pool(num_workers: int):
    """A spawn-context ``Pool`` (fork is unsafe once TensorFlow/OpenCV threads run), or None
    for ``num_workers <= 1``."""
    if num_workers <= 1:
        return None
    return multiprocessing.get_context("spawn").Pool(num_workers)


# --------------------------------------------------------------------------- shards


class ShardWriter:
    """Writes examples to ``{split}-{i:05d}-of-{n:05d}.tfrecord`` via temporary files.

    ``finish()`` renames the temporaries to their final names (replacing the split's old
    shards); ``abort()`` deletes them.  Until ``finish`` no file with a shard name exists.
    """

    def __init__(self, record_dir: str, split: str, examples_per_shard: int):
        self.record_dir, self.split, self.per_shard = record_dir, split, examples_per_shard
        self.temp_paths, self.writer, self.in_shard, self.count = [], None, 0, 0

    def write(self, example: bytes):
        import tensorflow as tf

        if self.writer is None or self.in_shard == self.per_shard:
            self._close()
            path = os.path.join(
                self.record_dir, f".tmp-{os.getpid()}-{self.split}-{len(self.temp_paths):05d}.tfrecord"
            )
            self.temp_paths.append(path)
            self.writer, self.in_shard = tf.io.TFRecordWriter(path), 0
        self.writer.write(example)
        self.in_shard += 1
        self.count += 1

    def _close(self):
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def finish(self) -> list[str]:
        self._close()
        for old in _existing_shards(self.record_dir, self.split):
            os.remove(os.path.join(self.record_dir, old))
        names = [records.shard_name(self.split, i, len(self.temp_paths)) for i in range(len(self.temp_paths))]
        for path, name in zip(self.temp_paths, names):
            os.replace(path, os.path.join(self.record_dir, name))
        self.temp_paths = []
        return names

    def abort(self):
        """Delete the temporaries; never raises (it runs while another error is on its way up: a writer
        that fails to close on a full disk is logged, not raised over it)."""
        try:
            self._close()
        except Exception as error:  # noqa: BLE001 - cleanup must not mask the original error
            logging.warning("closing the %s shard writer failed during cleanup: %s", self.split, error)
            self.writer = None
        for path in self.temp_paths:
            try:
                if os.path.exists(path):
                    os.remove(path)
            except OSError as error:
                logging.warning("could not remove the temporary shard %s: %s", path, error)
        self.temp_paths = []


def _existing_shards(record_dir: str, split: str) -> list[str]:
    try:
        return [os.path.basename(p) for p in records.shard_files(record_dir, split)]
    except FileNotFoundError:
        return []
    except ValueError:  # an incomplete set: still the split's shards, to be replaced
        prefix = f"{split}-"
        return sorted(n for n in os.listdir(record_dir) if n.startswith(prefix) and n.endswith(".tfrecord"))


# --------------------------------------------------------------------------- prepare


def _check_size_argument(name, value):
    if value is None:
        return None
    if (not isinstance(value, (tuple, list)) or len(value) != 2
            or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 for v in value)):
        raise ValueError(f"{name} must be (height, width) of positive ints, got {value!r}")
    return (int(value[0]), int(value[1]))


def _check_count(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _prepare_split(dataset, split, frames, writer, options, pool, progress):
    """Convert one split into ``writer`` (left unfinished); returns ``(stats, skipped, sizes)``."""
    stats = FrameStats(options["num_classes"])
    skipped, sizes = {}, set()
    bar = Progress(f"{dataset}/{split}", len(frames), enabled=progress)
    tasks = [(dataset, frame, options) for frame in frames]
    for result in _map_frames(tasks, pool):
        if result[0] == "skip":
            _, name, reason = result
            skipped[name] = reason
            logging.warning("skipped %s frame %r: %s", split, name, reason)
        else:
            _, name, example, frame_stats, size = result
            writer.write(example)
            stats.add(frame_stats)
            sizes.add(size)
        bar.update()
    bar.close()
    if writer.count == 0:
        raise ValueError(
            f"every one of the {len(frames)} {split} frames was skipped: {sorted(set(skipped.values()))}"
        )
    return stats, skipped, sizes


def prepare(dataset, output_dir, *, input_dir=None, splits=("train", "val"), num_workers=None,
            examples_per_shard=DEFAULT_EXAMPLES_PER_SHARD, synthetic_train=DEFAULT_SYNTHETIC_TRAIN,
            synthetic_val=DEFAULT_SYNTHETIC_VAL, synthetic_size=DEFAULT_SYNTHETIC_SIZE, seed=0,
            overwrite=False, progress=True, max_depth=None, image_size=None, frame_skip=None,
            rgb_format="png") -> dict:
    """Convert ``dataset`` into TFRecord shards and ``dataset_info.json`` in ``output_dir``.

    Args:
      dataset: "synthetic", "cityscapes" or "scannet".
      output_dir: record directory (created).
      input_dir: the official download (Cityscapes, ScanNet); unused for synthetic.
      splits: splits to convert; others already in ``output_dir`` are kept in the info.
      num_workers: worker processes (default: CPU count); 1 = in this process.
      examples_per_shard: examples per TFRecord shard.
      synthetic_train, synthetic_val, synthetic_size, seed: synthetic frame counts, (h, w),
        and the seed of ``synthetic.split_seeds``.
      overwrite: replace existing shards of the requested splits / another dataset's info.
      progress: draw the progress bar on stderr.
      max_depth: depth range in metres (raw depth beyond it is dropped before completion);
        default per dataset (synthetic 10, Cityscapes 65, ScanNet 10).
      image_size: stored (height, width); default per dataset (ScanNet 480×640, Cityscapes
        native, synthetic ``synthetic_size``).
      frame_skip: ScanNet only, keep frames whose index is a multiple of it (default 100).
      rgb_format: "png" or "jpeg" for the stored RGB image.

    Returns:
      The dataset info written (``records.load_dataset_info`` reads it back) plus
      ``"record_dir"`` and ``"seconds"``.
    """
    source = get_source(dataset)
    if isinstance(splits, str):
        splits = tuple(s for s in splits.split(",") if s)
    splits = tuple(splits)
    if not splits or len(set(splits)) != len(splits):
        raise ValueError(f"splits must be distinct split names, got {splits!r}")
    if num_workers is None:
        num_workers = os.cpu_count() or 1
    num_workers = _check_count("num_workers", num_workers, 1)
    examples_per_shard = _check_count("examples_per_shard", examples_per_shard, 1)
    synthetic_size = _check_size_argument("synthetic_size", synthetic_size)
    image_size = _check_size_argument("image_size", image_size)
    if dataset == "synthetic":
        if image_size is not None and image_size != synthetic_size:
            raise ValueError(f"for synthetic data set synthetic_size, not image_size; got {image_size!r}")
        counts = {"train": _check_count("synthetic_train", synthetic_train, 1),
                  "val": _check_count("synthetic_val", synthetic_val, 1)}
        unknown = [s for s in splits if s not in counts]
        if unknown:
            raise ValueError(f"synthetic splits are 'train' and 'val', got {splits!r}")
    elif image_size is None:
        image_size = source.default_image_size
    if rgb_format not in RGB_FORMATS:
        raise ValueError(f"rgb_format must be one of {RGB_FORMATS}, got {rgb_format!r}")
    max_depth = source.max_depth if max_depth is None else max_depth
    if isinstance(max_depth, bool) or not isinstance(max_depth, (int, float)) or not (0 < max_depth <= 65.535):
        raise ValueError(f"max_depth must be in (0, 65.535] metres (uint16 mm storage), got {max_depth!r}")
    if frame_skip is not None and dataset != "scannet":
        raise ValueError(f"frame_skip applies to scannet only, got frame_skip={frame_skip!r} for {dataset!r}")

    # Refuse to clobber before doing any work.
    output_dir = os.path.abspath(output_dir)
    _remove_dead_staging(output_dir)
    existing = None
    info_path = os.path.join(output_dir, records.DATASET_INFO_FILENAME)
    if os.path.exists(info_path):
        existing = records.load_dataset_info(output_dir)
        if existing.get("dataset") != dataset:
            if not overwrite:
                raise FileExistsError(
                    f"{info_path!r} describes dataset {existing.get('dataset')!r}, not {dataset!r}; "
                    "pass overwrite=True (--overwrite) to replace it"
                )
            existing = None
    for split in splits:
        if _existing_shards(output_dir, split) and not overwrite:
            raise FileExistsError(
                f"{output_dir!r} already holds {split!r} shards; pass overwrite=True (--overwrite)"
            )

    kept = sorted(set(existing["splits"]) - set(splits)) if existing else []
    if kept and image_size is not None and existing.get("image_size") and list(image_size) != list(
            existing["image_size"]):
        raise ValueError(f"{output_dir!r} keeps the splits {kept} at {existing['image_size']}: converting "
                         f"{list(splits)} at image_size {list(image_size)} would mix sizes in one directory; "
                         "convert every split, or use another --output_dir")

    started = time.monotonic()
    frames = {
        split: list_frames(dataset, split, input_dir=input_dir,
                           synthetic_count=counts[split] if dataset == "synthetic" else 0,
                           synthetic_size=synthetic_size, seed=seed, frame_skip=frame_skip)
        for split in splits
    }
    options = {"image_size": image_size, "num_classes": len(source.class_names),
               "max_depth": float(max_depth), "rgb_format": rgb_format}
    staging = f"{output_dir}.tmp-{os.getpid()}"
    os.makedirs(staging)
    writers = {split: ShardWriter(staging, split, examples_per_shard) for split in splits}
    results = {}
    pool = _worker_pool(min(num_workers, max(len(f) for f in frames.values())))
    try:
        for split in splits:
            stats, skipped, sizes = _prepare_split(dataset, split, frames[split], writers[split],
                                                   options, pool, progress)
            results[split] = (None, writers[split].count, stats, skipped, sizes)
        for split in splits:
            results[split] = (writers[split].finish(),) + results[split][1:]
        if kept and existing.get("image_size"):
            new_sizes = set().union(*(result[4] for result in results.values()))
            if new_sizes - {tuple(existing["image_size"])}:
                raise ValueError(f"{output_dir!r} keeps the splits {kept} at {existing['image_size']}, but the new "
                                 f"frames are {sorted(new_sizes)}: one directory holds one size; convert every "
                                 "split, or use another --output_dir")
        info = _dataset_info(dataset, source, results, existing, options, input_dir, seed,
                             synthetic_size if dataset == "synthetic" else None)
        _carry_over(output_dir, staging, replaced=_replaced_names(output_dir, splits, existing))
        write_json_atomically(os.path.join(staging, records.DATASET_INFO_FILENAME), info, sort_keys=False)
        _swap_in(staging, output_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
        for writer in writers.values():
            writer.abort()  # no-op after finish(); removes temporaries after any error
    return {**info, "record_dir": output_dir, "seconds": time.monotonic() - started}


def _replaced_names(output_dir, splits, existing) -> set:
    """Names in ``output_dir`` that the new directory replaces: ``dataset_info.json`` and the shards of the
    converted splits — of every split when the old records are of another dataset (``existing`` is None)."""
    if not os.path.isdir(output_dir):
        return set()
    if existing is None:
        shards = {name for name in os.listdir(output_dir) if name.endswith(".tfrecord") and "-of-" in name}
    else:
        shards = {name for split in splits for name in _existing_shards(output_dir, split)}
    return shards | {records.DATASET_INFO_FILENAME}


def _carry_over(output_dir, staging, replaced):
    """Everything of ``output_dir`` that is not replaced (the kept splits' shards, files of the user) goes into
    the staging directory: hard links for files (copies across devices), copies of directories."""
    if not os.path.isdir(output_dir):
        return
    for name in sorted(os.listdir(output_dir)):
        pid = processes.temporary_pid(name)
        if name in replaced or (pid is not None and (pid == os.getpid() or not processes.pid_alive(pid))):
            continue  # a live writer's temporary is carried (as a link, it keeps receiving its writes)
        source, target = os.path.join(output_dir, name), os.path.join(staging, name)
        if os.path.isdir(source):
            shutil.copytree(source, target, copy_function=_link_or_copy)
        else:
            _link_or_copy(source, target)


def _link_or_copy(source, target):
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _swap_in(staging, output_dir):
    """Replace ``output_dir`` by ``staging``: the old directory is renamed aside (``<output_dir>.tmp-<pid>-old``),
    the new one takes its name, then the old one is deleted."""
    old = None
    if os.path.exists(output_dir):
        old = f"{output_dir}.tmp-{os.getpid()}-old"
        os.rename(output_dir, old)
    try:
        os.rename(staging, output_dir)
    except OSError:
        if old is not None:
            os.rename(old, output_dir)  # put the old records back before reporting the error
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _remove_dead_staging(output_dir):
    """Clean up after killed runs: shard temporaries inside ``output_dir`` and staging directories beside it
    whose PID is dead; an old directory renamed aside by a run killed in the middle of the swap is put back."""
    parent, base = os.path.split(output_dir)
    if os.path.isdir(parent):
        for name in sorted(os.listdir(parent)):
            pid = processes.temporary_pid(name)
            if (name.startswith(f"{base}.tmp-") and name.endswith("-old") and pid is not None
                    and not processes.pid_alive(pid) and not os.path.exists(output_dir)):
                os.rename(os.path.join(parent, name), output_dir)
                logging.warning("restored %s from %s (a run was killed while replacing it)", output_dir, name)
        processes.remove_dead_temporaries(parent, f"{base}.tmp-")
    processes.remove_dead_temporaries(output_dir, ".tmp-")


def _dataset_info(dataset, source, results, existing, options, input_dir, seed, synthetic_size):
    """The ``dataset_info.json`` content (records spec), merged with kept splits of ``existing``."""
    splits = dict(existing["splits"]) if existing else {}
    histograms = dict(existing.get("class_histogram", {})) if existing else {}
    skipped_by_split = dict(existing.get("skipped", {}).get("by_split", {})) if existing else {}
    normalization = existing.get("normalization") if existing else None
    sizes = {tuple(existing["image_size"])} if existing and existing.get("image_size") else set()
    for split, (files, count, stats, skipped, split_sizes) in results.items():
        splits[split] = {"num_examples": count, "files": files}
        histograms[split] = stats.histogram.tolist()
        reasons = {}
        for reason in skipped.values():
            reasons[reason] = reasons.get(reason, 0) + 1
        skipped_by_split[split] = {"count": len(skipped), "reasons": reasons, "frames": skipped}
        sizes |= split_sizes
        if split == "train":
            normalization = stats.normalization()
    if normalization is None:
        logging.warning("no train split prepared in this record directory: dataset_info.json has "
                        "no normalization statistics until the train split is prepared")
    total_reasons = {}
    for entry in skipped_by_split.values():
        for reason, count in entry["reasons"].items():
            total_reasons[reason] = total_reasons.get(reason, 0) + count
    image_size = list(next(iter(sizes))) if len(sizes) == 1 else None
    from rfbnet_tf import __version__

    settings = {"max_depth": options["max_depth"], "image_size": options["image_size"],
                "rgb_format": options["rgb_format"], "input_dir": input_dir, "seed": seed}
    if synthetic_size is not None:
        settings["synthetic_size"] = list(synthetic_size)
    return {
        "dataset": dataset,
        "num_classes": len(source.class_names),
        "class_names": list(source.class_names),
        "ignore_label": IGNORE_LABEL,
        "image_size": image_size,
        "splits": splits,
        "normalization": normalization,
        "class_histogram": histograms,
        "skipped": {"count": sum(e["count"] for e in skipped_by_split.values()),
                    "reasons": total_reasons, "by_split": skipped_by_split},
        "max_depth": options["max_depth"],
        "created_by": f"rfbnet_tf.prepare_data {__version__} {json.dumps(settings, sort_keys=True)}",
    }


# --------------------------------------------------------------------------- binary


def _define_flags():
    """absl flags of the binary (defined only by :func:`run`, so that spawned workers and importers
    such as the train binary never define them twice)."""
    from absl import flags

    flags.DEFINE_enum("dataset", "synthetic", list(DATASETS), "Dataset to convert.")
    flags.DEFINE_string("input_dir", None, "Official download root (Cityscapes, ScanNet).")
    flags.DEFINE_string("output_dir", None, "Record directory to write.", required=True)
    flags.DEFINE_list("splits", ["train", "val"], "Splits to convert.")
    flags.DEFINE_integer("num_workers", None, "Worker processes (default: CPU count).")
    flags.DEFINE_integer("examples_per_shard", DEFAULT_EXAMPLES_PER_SHARD, "Examples per shard.")
    flags.DEFINE_integer("synthetic_train", DEFAULT_SYNTHETIC_TRAIN, "Synthetic train frames.")
    flags.DEFINE_integer("synthetic_val", DEFAULT_SYNTHETIC_VAL, "Synthetic val frames.")
    flags.DEFINE_integer("synthetic_height", DEFAULT_SYNTHETIC_SIZE[0], "Synthetic frame height.")
    flags.DEFINE_integer("synthetic_width", DEFAULT_SYNTHETIC_SIZE[1], "Synthetic frame width.")
    flags.DEFINE_integer("seed", 0, "Seed of the synthetic split seeds.")
    flags.DEFINE_float("max_depth", None, "Depth range in metres (default per dataset).")
    flags.DEFINE_list("image_size", None, "Stored height,width (default per dataset).")
    flags.DEFINE_integer("scannet_frame_skip", None, "ScanNet: keep every n-th frame (default 100).")
    flags.DEFINE_enum("rgb_format", "png", list(RGB_FORMATS), "Stored RGB encoding.")
    flags.DEFINE_boolean("overwrite", False, "Replace existing shards / dataset_info.json.")
    flags.DEFINE_boolean("progress", True, "Show a progress bar on stderr.")


@cli.exits_on_user_error
def main(argv):
    from absl import flags

    cli.check_no_arguments(argv)
    FLAGS = flags.FLAGS
    image_size = None
    if FLAGS.image_size:
        try:
            image_size = tuple(int(v) for v in FLAGS.image_size)
        except ValueError:
            raise ValueError(f"--image_size must be height,width, got {FLAGS.image_size}") from None
    summary = prepare(
        FLAGS.dataset, FLAGS.output_dir, input_dir=FLAGS.input_dir, splits=tuple(FLAGS.splits),
        num_workers=FLAGS.num_workers, examples_per_shard=FLAGS.examples_per_shard,
        synthetic_train=FLAGS.synthetic_train, synthetic_val=FLAGS.synthetic_val,
        synthetic_size=(FLAGS.synthetic_height, FLAGS.synthetic_width), seed=FLAGS.seed,
        overwrite=FLAGS.overwrite, progress=FLAGS.progress, max_depth=FLAGS.max_depth,
        image_size=image_size, frame_skip=FLAGS.scannet_frame_skip, rgb_format=FLAGS.rgb_format,
    )
    for split, entry in summary["splits"].items():
        logging.info("%s: %d examples in %d shards", split, entry["num_examples"], len(entry["files"]))
    if summary["skipped"]["count"]:
        logging.warning("skipped %d frames: %s", summary["skipped"]["count"], summary["skipped"]["reasons"])
    logging.info("wrote %s in %.1f s", os.path.join(FLAGS.output_dir, records.DATASET_INFO_FILENAME),
                 summary["seconds"])


def run():
    """Entry point of ``rfbnet-prepare-data`` and ``python -m rfbnet_tf.prepare_data``."""
    cli.run(main, _define_flags)


if __name__ == "__main__":
    run()
