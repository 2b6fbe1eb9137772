r"""``prepare(dataset, output_dir, ...)``: convert a dataset into the shared TFRecord format
(``rfbnet_tf.datasets.records``); the library of ``python -m rfbnet_tf.prepare_data``.

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

The pieces: the datasets (:mod:`rfbnet_tf.datasets.sources`), the per-frame worker
(:mod:`rfbnet_tf.datasets.frame_conversion`) and its statistics (:mod:`rfbnet_tf.datasets.frame_stats`), the
shard writer and the directory swap (:mod:`rfbnet_tf.datasets.record_directory`).  The worker side (those
modules but the last, :mod:`~rfbnet_tf.datasets.example_encoding`, the converters and the preprocessing) imports no
TensorFlow, so spawned workers start quickly; only the parent imports it, to write the TFRecord files.
"""

from __future__ import annotations

import json
import os
import shutil
import time

from absl import logging

from rfbnet_tf.datasets import records
from rfbnet_tf.datasets.frame_conversion import map_frames, worker_pool
from rfbnet_tf.datasets.frame_stats import FrameStats
from rfbnet_tf.datasets.record_directory import (ShardWriter, carry_over, existing_shards, remove_dead_staging,
                                                 replaced_names, swap_in)
from rfbnet_tf.datasets import sources
from rfbnet_tf.utils import processes
from rfbnet_tf.utils import checks
from rfbnet_tf.utils.files import write_json_atomically
from rfbnet_tf.utils.progress import Progress

DEFAULT_EXAMPLES_PER_SHARD = 256
_DEPTH_SOURCE_TEXT = {
    "toolbox": "the toolbox's filled depth (NYUv2 depths, SUN RGB-D depth_bfx)",
    "raw": "the raw sensor depth (NYUv2 rawDepths, SUN RGB-D depth), completed by this project's depth completion",
}
DEFAULT_SYNTHETIC_TRAIN = 200
DEFAULT_SYNTHETIC_VAL = 50
RGB_FORMATS = records.RGB_FORMATS


def resolve_splits(dataset, input_dir, splits, options) -> tuple:
    """The splits to convert: ``splits`` (a tuple or "a,b"), or the dataset's default splits (for a folder
    dataset: every split present); each must be one the dataset has."""
    registered = sources.dataset(dataset)
    if isinstance(splits, str):
        splits = tuple(s for s in splits.split(",") if s)
    available = registered.available_splits(input_dir, options)
    if splits is None:
        splits = registered.default_splits or available
    splits = tuple(splits)
    if not splits or len(set(splits)) != len(splits):
        raise ValueError(f"splits must be distinct split names, got {splits!r}")
    unknown = [s for s in splits if s not in available]
    if unknown and dataset == "synthetic":
        raise ValueError(f"synthetic splits are 'train' and 'val', got {splits!r}")
    if unknown:
        where = f" ({input_dir} holds {list(available)})" if registered.splits is None else ""
        raise ValueError(f"--splits: {dataset} has no split {unknown[0]!r}; its splits are {list(available)}{where}")
    return splits


def _prepare_split(dataset, split, frames, writer, options, pool, progress):
    """Convert one split into ``writer`` (left unfinished); returns ``(stats, skipped, sizes)``."""
    stats = FrameStats(options["num_classes"])
    skipped, sizes, notes = {}, set(), {}
    bar = Progress(f"{dataset}/{split}", len(frames), enabled=progress)
    tasks = [(dataset, frame, options) for frame in frames]
    for result in map_frames(tasks, pool):
        if result[0] == "skip":
            _, name, reason = result
            skipped[name] = reason
            logging.warning("skipped %s frame %r: %s", split, name, reason)
        else:
            _, name, example, frame_stats, size, frame_notes = result
            for note in frame_notes:
                notes.setdefault(note, []).append(name)
            writer.write(example)
            stats.add(frame_stats)
            sizes.add(size)
        bar.update()
    bar.close()
    for note, names in notes.items():
        logging.info("%s: %d frame(s) (e.g. %s): %s", split, len(names), names[0], note)
    if writer.count == 0:
        raise ValueError(
            f"every one of the {len(frames)} {split} frames was skipped: {sorted(set(skipped.values()))}"
        )
    return stats, skipped, sizes


def prepare(dataset, output_dir, *, input_dir=None, splits=None, num_workers=None,
            examples_per_shard=DEFAULT_EXAMPLES_PER_SHARD, overwrite=False, progress=True, max_depth=None,
            image_size=None, rgb_format="png", **options) -> dict:
    """Convert ``dataset`` into TFRecord shards and ``dataset_info.json`` in ``output_dir``.

    Args:
      dataset: a registered dataset (:data:`rfbnet_tf.datasets.sources.REGISTERED`): "synthetic", "cityscapes",
        "scannet", "nyuv2", "sunrgbd" or "folder" (your own data, :mod:`rfbnet_tf.datasets.folder`).
      output_dir: record directory (created).
      input_dir: the official download, or the folder; unused for synthetic.
      splits: splits to convert (default: the dataset's own, e.g. train,test for NYUv2; every split present for a
        folder); others already in ``output_dir`` are kept in the info.
      num_workers: worker processes (default: ``utils.processes.usable_cores()``); 1 = in this process.
      examples_per_shard: examples per TFRecord shard.
      overwrite: replace existing shards of the requested splits / another dataset's info.
      progress: draw the progress bar on stderr.
      max_depth: depth range in metres (raw depth beyond it is dropped before completion);
        default per dataset (synthetic 10, Cityscapes 65, ScanNet 10, NYUv2 10, SUN RGB-D 8, folder its
        dataset.json's ``max_depth`` or 10).
      image_size: stored (height, width); default per dataset (ScanNet, NYUv2, SUN RGB-D 480×640,
        Cityscapes and folder native, synthetic ``synthetic_size``).
      rgb_format: "png" or "jpeg" for the stored RGB image.
      **options: the dataset's options (:func:`rfbnet_tf.datasets.sources.check_dataset_options`):
        synthetic ``synthetic_train``, ``synthetic_val``, ``synthetic_size`` (h, w), ``seed``; nyuv2
        ``nyuv2_classes`` (40, 13 or 894: 16-bit labels, ignore 65535) and ``depth_source``; sunrgbd
        ``depth_source`` ("toolbox" or "raw", written to ``dataset_info.json``); scannet ``scannet_frame_skip``
        (default 100); folder ``folder_description`` (default ``<input_dir>/dataset.json``).

    Returns:
      The dataset info written (``records.load_dataset_info`` reads it back) plus
      ``"record_dir"`` and ``"seconds"``.
    """
    dataset_options = sources.check_dataset_options(dataset, **options)
    source = sources.get_source(dataset, input_dir=input_dir, **dataset_options)
    splits = resolve_splits(dataset, input_dir, splits, dataset_options)
    if num_workers is None:
        num_workers = processes.usable_cores()
    num_workers = sources.check_count("num_workers", num_workers, 1)
    examples_per_shard = sources.check_count("examples_per_shard", examples_per_shard, 1)
    image_size = sources.check_size("image_size", image_size)
    synthetic_size = dataset_options.get("synthetic_size")
    if dataset == "synthetic":
        if image_size is not None and image_size != synthetic_size:
            raise ValueError(f"for synthetic data set synthetic_size, not image_size; got {image_size!r}")
    elif image_size is None:
        image_size = source.default_image_size
    if rgb_format not in RGB_FORMATS:
        raise ValueError(f"rgb_format must be one of {RGB_FORMATS}, got {rgb_format!r}")
    max_depth = source.max_depth if max_depth is None else max_depth
    if not checks.is_real(max_depth) or not 0 < max_depth <= 65.535:
        raise ValueError(f"max_depth must be in (0, 65.535] metres (uint16 mm storage), got {max_depth!r}")

    # Refuse to clobber before doing any work.
    output_dir = os.path.abspath(output_dir)
    remove_dead_staging(output_dir)
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
        if existing_shards(output_dir, split) and not overwrite:
            raise FileExistsError(
                f"{output_dir!r} already holds {split!r} shards; pass overwrite=True (--overwrite)"
            )

    kept = sorted(set(existing["splits"]) - set(splits)) if existing else []
    if kept and image_size is not None and existing.get("image_size") and list(image_size) != list(
            existing["image_size"]):
        raise ValueError(f"{output_dir!r} keeps the splits {kept} at {existing['image_size']}: converting "
                         f"{list(splits)} at image_size {list(image_size)} would mix sizes in one directory; "
                         "convert every split, or use another --output_dir")

    if kept:  # one directory holds one label set and one depth source
        kept_depth = (existing.get("depth_source") or "").split(":")[0] or None
        for what, old, new in (("classes", existing.get("num_classes"), len(source.class_names)),
                               ("depth_source", kept_depth, dataset_options.get("depth_source"))):
            if old != new:
                raise ValueError(f"{output_dir!r} keeps the splits {kept} with {what} {old!r}: converting {list(splits)} "
                                 f"with {what} {new!r} would mix them in one directory; convert every split, or use "
                                 "another --output_dir")

    started = time.monotonic()
    frames = {split: sources.list_frames(dataset, split, input_dir=input_dir, **dataset_options) for split in splits}
    if "depth_source" in dataset_options:
        logging.info("%s depth: %s", dataset, _DEPTH_SOURCE_TEXT[dataset_options["depth_source"]])
    options = {"image_size": image_size, "num_classes": len(source.class_names),
               "max_depth": float(max_depth), "rgb_format": rgb_format, **dataset_options}
    staging = f"{output_dir}.tmp-{os.getpid()}"
    os.makedirs(staging)
    writers = {split: ShardWriter(staging, split, examples_per_shard) for split in splits}
    results = {}
    pool = worker_pool(min(num_workers, max(len(f) for f in frames.values())))
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
        info = _dataset_info(dataset, source, results, {split: writers[split].shard_sizes for split in splits},
                             existing, options, input_dir, dataset_options)
        carry_over(output_dir, staging, replaced=replaced_names(output_dir, splits, existing))
        write_json_atomically(os.path.join(staging, records.DATASET_INFO_FILENAME), info, sort_keys=False)
        swap_in(staging, output_dir)
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


def _dataset_info(dataset, source, results, shard_sizes, existing, options, input_dir, dataset_options):
    """The ``dataset_info.json`` content (records spec), merged with kept splits of ``existing``."""
    splits = dict(existing["splits"]) if existing else {}
    histograms = dict(existing.get("class_histogram", {})) if existing else {}
    skipped_by_split = dict(existing.get("skipped", {}).get("by_split", {})) if existing else {}
    normalization = existing.get("normalization") if existing else None
    sizes = {tuple(existing["image_size"])} if existing and existing.get("image_size") else set()
    for split, (files, count, stats, skipped, split_sizes) in results.items():
        splits[split] = {"num_examples": count, "files": files, "examples_per_file": shard_sizes[split]}
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
    from rfbnet_tf.version import __version__

    settings = {"max_depth": options["max_depth"], "image_size": options["image_size"],
                "rgb_format": options["rgb_format"], "input_dir": input_dir, "seed": 0}
    keywords = dict(getattr(sources.dataset(dataset), "option_keywords", ()))  # nyuv2_classes → "classes"
    settings.update({keywords.get(key, key): list(value) if isinstance(value, tuple) else value
                     for key, value in dataset_options.items() if value is not None})
    extra = {}
    if "depth_source" in dataset_options:
        extra["depth_source"] = (f"{dataset_options['depth_source']}: "
                                 f"{_DEPTH_SOURCE_TEXT[dataset_options['depth_source']]}")
    return {
        "dataset": dataset,
        "num_classes": len(source.class_names),
        "class_names": list(source.class_names),
        "palette": [list(colour) for colour in source.palette],
        "ignore_label": records.ignore_label(len(source.class_names)),
        "label_bits": records.label_bits(len(source.class_names)),
        "image_size": image_size,
        "resized_to": list(options["image_size"]) if options["image_size"] else None,
        "splits": splits,
        "normalization": normalization,
        "class_histogram": histograms,
        "skipped": {"count": sum(e["count"] for e in skipped_by_split.values()),
                    "reasons": total_reasons, "by_split": skipped_by_split},
        "max_depth": options["max_depth"],
        **extra,
        "created_by": f"rfbnet_tf.prepare_data {__version__} {json.dumps(settings, sort_keys=True)}",
    }
