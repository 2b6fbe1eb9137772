"""``prepare_data --check_only``: read every frame of a dataset, convert nothing, report per split.

Per split: the frame count; the class histogram (every class, those that never occur included); the measured
depth range in metres, the fraction of pixels missing and the fraction beyond ``max_depth``; what loading changed
(depth resized to the RGB size); and every problem a conversion would stop at (unmatched stems, unknown label ids,
unreadable files), each naming its file.  Frames are read by the same loaders and checks as ``prepare``, in
spawned workers.  Imports no TensorFlow.
"""

from __future__ import annotations

import os

import numpy as np

from rfbnet_tf.datasets import sources
from rfbnet_tf.datasets.frame_conversion import check_frame, worker_pool
from rfbnet_tf.datasets.preparation import resolve_splits
from rfbnet_tf.utils import processes
from rfbnet_tf.utils.progress import Progress

_SHOWN_ERRORS = 10


def check_frame_task(task) -> dict:
    """Worker: ``(dataset, frame, options)`` → the frame's statistics, or ``{"name", "error"}``."""
    dataset, frame, options = task
    name = frame["name"]
    try:
        loaded = sources.load_frame(dataset, frame, options["image_size"])
        skip = check_frame(loaded, options["num_classes"])
    except (ValueError, FileNotFoundError, OSError) as error:
        message = str(error)
        return {"name": name, "error": message if name in message or os.sep in message else f"{name}: {message}"}
    depth, label = np.asarray(loaded["depth_m"]), np.asarray(loaded["label"])
    measured = np.isfinite(depth) & (depth > 0)
    labelled = label < options["num_classes"]
    return {
        "name": name, "skip": skip, "notes": list(loaded.get("notes", ())), "pixels": int(depth.size),
        "missing": int(depth.size - measured.sum()),
        "beyond": int(np.sum(measured & (depth > options["max_depth"]))),
        "min": float(depth[measured].min()) if measured.any() else None,
        "max": float(depth[measured].max()) if measured.any() else None,
        "histogram": np.bincount(label[labelled].astype(np.int64), minlength=options["num_classes"]).tolist(),
        "labelled": bool(labelled.any()),
    }


def _split_report(results, num_classes) -> dict:
    report = {"frames": 0, "histogram": [0] * num_classes, "pixels": 0, "missing": 0, "beyond": 0, "min": None,
              "max": None, "notes": {}, "skipped": {}, "errors": [], "unlabelled_frames": 0}
    for result in results:
        if "error" in result:
            report["errors"].append(result["error"])
            continue
        report["frames"] += 1
        if result["skip"]:
            report["skipped"][result["name"]] = result["skip"]
        report["histogram"] = [a + b for a, b in zip(report["histogram"], result["histogram"])]
        report["unlabelled_frames"] += not result["labelled"]
        for key in ("pixels", "missing", "beyond"):
            report[key] += result[key]
        for key, pick in (("min", min), ("max", max)):
            if result[key] is not None:
                report[key] = result[key] if report[key] is None else pick(report[key], result[key])
        for note in result["notes"]:
            report["notes"][note] = report["notes"].get(note, 0) + 1
    return report


def check_dataset(dataset, *, input_dir=None, splits=None, num_workers=None, progress=True, max_depth=None,
                  image_size=None, **options) -> dict:
    """Read every frame of ``splits`` (default: the dataset's) and return ``{"dataset", "max_depth",
    "class_names", "splits": {split: report}, "errors": [every problem, naming its file]}``.

    A problem of the dataset as a whole (a missing or malformed ``dataset.json``, an unknown option) is raised, as
    ``prepare`` raises it; problems of a split or a frame are collected.
    """
    dataset_options = sources.check_dataset_options(dataset, **options)
    sources.check_input_dir(dataset, input_dir)
    source = sources.get_source(dataset, input_dir=input_dir, **dataset_options)
    splits = resolve_splits(dataset, input_dir, splits, dataset_options)
    max_depth = float(source.max_depth if max_depth is None else max_depth)
    if image_size is None and dataset != "synthetic":
        image_size = source.default_image_size
    options = {"image_size": image_size, "num_classes": len(source.class_names), "max_depth": max_depth}
    report = {"dataset": dataset, "input_dir": input_dir, "max_depth": max_depth,
              "class_names": list(source.class_names), "splits": {}, "errors": []}
    listed = {}
    for split in splits:
        try:
            listed[split] = sources.list_frames(dataset, split, input_dir=input_dir, **dataset_options)
        except (ValueError, FileNotFoundError) as error:
            listed[split] = error
    counts = [len(frames) for frames in listed.values() if isinstance(frames, list)]
    pool = worker_pool(min(num_workers or processes.usable_cores(), max(counts, default=1)))
    try:
        for split, frames in listed.items():
            if not isinstance(frames, list):
                report["splits"][split] = {**_split_report([], len(source.class_names)), "errors": [str(frames)]}
            else:
                bar = Progress(f"check {dataset}/{split}", len(frames), enabled=progress)
                tasks = [(dataset, frame, options) for frame in frames]
                results = []
                for result in (pool.imap(check_frame_task, tasks) if pool else map(check_frame_task, tasks)):
                    results.append(result)
                    bar.update()
                bar.close()
                report["splits"][split] = _split_report(results, len(source.class_names))
            report["errors"].extend(report["splits"][split]["errors"])
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
    return report


def _percent(part, whole) -> str:
    return f"{100.0 * part / whole:.1f} %" if whole else "n/a"


def format_report(report) -> str:
    """The report as text, a few lines per split."""
    names = report["class_names"]
    lines = [f"{report['dataset']} {report['input_dir'] or ''}: {len(names)} classes, max_depth "
             f"{report['max_depth']:g} m"]
    for split, entry in report["splits"].items():
        lines.append(f"split {split}: {entry['frames']} frames"
                     + (f" ({entry['unlabelled_frames']} unlabelled)" if entry["unlabelled_frames"] else ""))
        total = sum(entry["histogram"])
        if total:
            lines.append("  classes (labelled pixels): " + ", ".join(
                f"{name} {count} ({_percent(count, total)})" if count else f"{name} 0 (never occurs)"
                for name, count in zip(names, entry["histogram"])))
        elif entry["frames"]:
            lines.append("  classes: no labelled pixel")
        if entry["pixels"]:
            depth_range = ("no measured pixel" if entry["min"] is None
                           else f"{entry['min']:.3f} to {entry['max']:.3f} m")
            measured = entry["pixels"] - entry["missing"]
            lines.append(f"  depth: {depth_range}; missing {_percent(entry['missing'], entry['pixels'])} of the "
                         f"pixels; beyond max_depth {report['max_depth']:g} m: "
                         f"{_percent(entry['beyond'], measured)} of the measured")
            if measured and entry["beyond"] > measured / 2:
                lines.append("  warning: more than half of the measured depth lies beyond max_depth: are the depth "
                             "units right (dataset.json depth_scale, metres per unit)?")
        for note, count in entry["notes"].items():
            lines.append(f"  {count} frame(s): {note}")
        for name, reason in list(entry["skipped"].items())[:_SHOWN_ERRORS]:
            lines.append(f"  skipped by a conversion: {name}: {reason}")
        for error in entry["errors"][:_SHOWN_ERRORS]:
            lines.append(f"  error: {error}")
        if len(entry["errors"]) > _SHOWN_ERRORS:
            lines.append(f"  ... and {len(entry['errors']) - _SHOWN_ERRORS} more errors")
    lines.append(f"{len(report['errors'])} problem(s)" + (": a conversion would fail" if report["errors"]
                                                          else ": the dataset converts"))
    return "\n".join(lines)

