"""The worker side of ``prepare``: one frame description → a checked, depth-completed, HHA-encoded example
(:func:`process_frame`), and the spawn-context pool that runs it.

Imports no TensorFlow, so that spawned workers start quickly.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys

import numpy as np

from rfbnet_tf.constants import DATA_WORKER_ENV
from rfbnet_tf.datasets import example_encoding, records
from rfbnet_tf.datasets.frame_stats import FrameStats
from rfbnet_tf.datasets.sources import load_frame
from rfbnet_tf.utils import checks


def check_frame(frame: dict, num_classes: int) -> str | None:
    """Validate a loaded frame; return a skip reason for unusable depth, else ``None``.

    Raises ``ValueError`` naming the frame for wrong shapes/dtypes, mismatched sizes, label
    values outside ``0..num_classes-1`` ∪ {ignore} and bad intrinsics.  Labels are uint8 with ignore 255, or uint16
    with ignore 65535 for more than 255 classes (``records.label_bits``).
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
    label_dtype = np.dtype(records.LABEL_DTYPES[records.label_bits(num_classes)])
    if label.shape != size or label.dtype != label_dtype:
        raise ValueError(
            f"frame {name!r}: label must be {label_dtype.name} (H, W) = {size}, got {label.dtype} {label.shape}"
        )
    ignore = records.ignore_label(num_classes)
    bad = np.unique(label[(label >= num_classes) & (label != ignore)])
    if bad.size:
        raise ValueError(f"frame {name!r}: label values {bad.tolist()} outside 0..{num_classes - 1} and {ignore}")
    matrix = np.asarray(frame["intrinsics"], dtype=np.float64)
    if not checks.is_camera_matrix(matrix):
        raise ValueError(f"frame {name!r}: intrinsics must be a finite 3x3 camera matrix, got {matrix.tolist()}")
    if not np.all(np.isfinite(depth)):
        return "depth contains NaN or inf"
    if not np.any(depth > 0):
        return "depth has no valid (> 0) pixel"
    return None


def process_frame(task) -> tuple:
    """Worker: ``(dataset, frame, options)`` → ``("ok", name, example_bytes, FrameStats, size, notes)``
    or ``("skip", name, reason)``.  Errors are re-raised naming the frame."""
    dataset, frame, options = task
    name = frame["name"]
    try:
        from rfbnet_tf.preprocessing.depth_encoding import clip_raw_depth, complete_and_encode

        loaded = load_frame(dataset, frame, options["image_size"])
        reason = check_frame(loaded, options["num_classes"])
        if reason is not None:
            return ("skip", name, reason)
        max_depth = options["max_depth"]
        raw = clip_raw_depth(loaded["depth_m"], max_depth)
        if not np.any(raw > 0):
            return ("skip", name, f"depth has no valid pixel within max_depth={max_depth} m")
        completed, hha = complete_and_encode(raw, max_depth, loaded["intrinsics"])
        example = example_encoding.encode_example(
            rgb=loaded["rgb"], hha=hha, depth_mm=example_encoding.metres_to_millimetres(completed),
            depth_raw_mm=example_encoding.metres_to_millimetres(raw), label=loaded["label"],
            intrinsics=loaded["intrinsics"], name=name, rgb_format=options["rgb_format"],
        )
        stats = FrameStats.of_frame(loaded["rgb"], hha, completed, loaded["label"],
                                    options["num_classes"])
        return ("ok", name, example, stats, tuple(loaded["rgb"].shape[:2]), tuple(loaded.get("notes", ())))
    except Exception as error:  # name the frame; keep the error class for the usual ones
        message = str(error) if name in str(error) else f"frame {name!r}: {error}"
        if isinstance(error, FileNotFoundError):
            raise FileNotFoundError(message) from None
        if isinstance(error, ValueError):
            raise ValueError(message) from None
        raise RuntimeError(f"frame {name!r}: {type(error).__name__}: {error}") from error


def map_frames(tasks, pool):
    """``process_frame`` results in order: in ``pool`` (spawned workers) or, if None, here."""
    if pool is None:
        return map(process_frame, tasks)
    return pool.imap(process_frame, tasks, chunksize=1)


def worker_pool(num_workers: int):
    """A spawn-context ``Pool`` (fork is unsafe once TensorFlow/OpenCV threads run), or None
    for ``num_workers <= 1``."""
    if num_workers <= 1:
        return None
    # The workers inherit the environment at their start: there, ``import rfbnet_tf`` skips the Keras models.
    previous = os.environ.get(DATA_WORKER_ENV)
    os.environ[DATA_WORKER_ENV] = "1"
    try:
        with _main_module_hidden():
            return multiprocessing.get_context("spawn").Pool(num_workers, initializer=_ignore_interrupts)
    finally:
        if previous is None:
            del os.environ[DATA_WORKER_ENV]
        else:
            os.environ[DATA_WORKER_ENV] = previous


def _ignore_interrupts():
    """Worker initializer: Ctrl-C (SIGINT, sent to the whole process group) is the parent's to handle — it stops
    the pool and removes the temporaries — so the workers print no traceback of their own."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextlib.contextmanager
def _main_module_hidden():
    """Spawned workers re-import the parent's ``__main__`` (for ``python -m rfbnet_tf.train``: the binary, which
    imports TensorFlow: seconds per worker and its start-up notices). The workers run only functions of this
    package, so the main module is hidden from ``multiprocessing``'s preparation data while the pool starts."""
    main = sys.modules.get("__main__")
    saved = {key: main.__dict__[key] for key in ("__spec__", "__file__") if main is not None and key in main.__dict__}
    for key in saved:
        setattr(main, key, None) if key == "__spec__" else delattr(main, key)
    try:
        yield
    finally:
        for key, value in saved.items():
            setattr(main, key, value)
