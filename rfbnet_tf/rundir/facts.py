r"""``model_dir/run_info.json``: the dataset facts a trained run needs after training, copied at its start.

Evaluate, export and predict read the normalisation statistics, class names and depth range from here, never
from the record directory the run was trained on (records move, are re-prepared or deleted; a Cityscapes run
must not silently get the indoor 10 m depth range).  The train binary writes the file next to ``flags.json``
(``checked_run.write_run_config``) from the records' ``dataset_info.json``:

=======================  ======================================================================================
``format``               1
``dataset``              dataset name of the records (``"synthetic"``, ``"scannet"``, ``"cityscapes"``)
``num_classes``          K
``class_names``          K names, index = train id
``palette``              colours of label images: K ``[r, g, b]`` (the dataset's ``PALETTE``, from
                         ``dataset_info.json``), or the name of a colour map (``rfbnet_tf.drawing.palettes.PALETTES``:
                         ``"voc"`` for records that name no palette)
``ignore_label``         label value excluded from loss and metrics (255; 65535 for more than 255 classes)
``normalization``        ``{"rgb"|"hha"|"depth": {"mean": [...], "std": [...]}}``: the train-split statistics
                         the input pipeline normalised with (``depth`` in metres)
``max_depth``            depth range in metres the records were prepared with (raw depth beyond it dropped
                         before completion; predict uses it on raw depth files)
``depth_units``          unit of stored / served raw depth: ``"millimetres"`` (uint16 PNGs; the model sees
                         metres)
``stored_image_size``    (h, w) of the frames in the records (None if mixed); the training resolution is
                         ``image_size`` of ``flags.json``
``record_dir``           where the records were when training started (informational only)
``created_by``           writer and version
``class_weight_values``  the per-class loss weights the run trained with (None: unweighted; written by train)
``versions``             rfbnet_tf, Python, TensorFlow, Keras and numpy versions at the start of training
``git_commit``           commit of the rfbnet_tf checkout (None outside a git checkout)
=======================  ======================================================================================

Runs written before this file existed get a one-line ``FileNotFoundError`` naming the file and the fix, the
backfill command (it reads the dataset facts from the run's records, which must then be the training ones)::

    python -m rfbnet_tf.backfill_run_info --model_dir=runs/old_run [--record_dir=data/scannet]
"""

from __future__ import annotations

import os

from absl import logging

from rfbnet_tf.utils import files
from rfbnet_tf import __version__
from rfbnet_tf.rundir import config_file, layout
from rfbnet_tf.drawing import palettes
from rfbnet_tf.datasets import records

RUN_INFO_FILENAME = layout.RUN_INFO_FILENAME
FORMAT = 1
DEFAULT_PALETTE = "voc"
DEPTH_UNITS = "millimetres"
REQUIRED_KEYS = ("num_classes", "class_names", "normalization", "max_depth", "ignore_label")
COMPARED_KEYS = ("num_classes", "class_names", "normalization", "max_depth")
"""Facts that must not change when a run is resumed on other records (a warning names them)."""


def run_info_path(model_dir) -> str:
    """``model_dir/run_info.json``."""
    return os.path.join(os.fspath(model_dir), RUN_INFO_FILENAME)


def from_dataset_info(info: dict, record_dir=None) -> dict:
    """The ``run_info.json`` content for a run trained on records described by ``info`` (``dataset_info.json``)."""
    num_classes = int(info["num_classes"])
    max_depth = info.get("max_depth")
    stored = info.get("image_size")
    return {
        "format": FORMAT,
        "dataset": info.get("dataset"),
        "num_classes": num_classes,
        "class_names": [str(n) for n in (info.get("class_names") or [str(i) for i in range(num_classes)])],
        "palette": info.get("palette") or DEFAULT_PALETTE,
        "ignore_label": int(info.get("ignore_label", records.IGNORE_LABEL)),
        "normalization": info.get("normalization"),
        "max_depth": None if max_depth is None else float(max_depth),
        "depth_units": DEPTH_UNITS,
        "stored_image_size": list(stored) if stored else None,
        "record_dir": None if record_dir is None else os.path.abspath(os.fspath(record_dir)),
        "created_by": f"rfbnet_tf {__version__}",
    }


def label_palette(info: dict):
    """The label colours (:func:`rfbnet_tf.drawing.palettes.run_palette`) of a ``run_info.json`` or ``dataset_info.json``
    dict: its ``palette`` (default :data:`DEFAULT_PALETTE`) and ``ignore_label`` (default 255)."""
    return palettes.run_palette(info.get("palette") or DEFAULT_PALETTE,
                                 int(info.get("ignore_label", records.IGNORE_LABEL)))


def environment() -> dict:
    """``versions`` (rfbnet_tf, Python, TensorFlow, Keras, numpy) and ``git_commit`` (of the checkout rfbnet_tf
    is imported from, None when it is not a git checkout): recorded in ``run_info.json`` at the start of training."""
    import platform
    import subprocess

    import keras
    import numpy
    import tensorflow

    commit = None
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=os.path.dirname(os.path.abspath(__file__)),
                                capture_output=True, text=True, timeout=10, check=False)
        if result.returncode == 0:
            commit = result.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        pass
    return {"versions": {"rfbnet_tf": __version__, "python": platform.python_version(),
                         "tensorflow": tensorflow.__version__, "keras": keras.__version__,
                         "numpy": numpy.__version__},
            "git_commit": commit}


def write_run_info(model_dir, info: dict) -> str:
    """Write ``model_dir/run_info.json`` atomically (logging a warning when it replaces different facts)."""
    path = run_info_path(model_dir)
    if os.path.isfile(path):
        previous = load_run_info(model_dir)
        changed = [key for key in COMPARED_KEYS if previous.get(key) != info.get(key)]
        if changed:
            logging.warning("%s: the records now give other %s than when the run started; the run continues "
                            "with (and run_info.json records) the new values", path, changed)
    os.makedirs(os.fspath(model_dir), exist_ok=True)
    files.write_json_atomically(path, info)
    return path


def load_run_info(model_dir) -> dict:
    """The dataset facts of a run (``model_dir/run_info.json``).

    Raises:
      FileNotFoundError: no run_info.json (one line naming the file and the backfill command).
      ValueError: the file lacks one of :data:`REQUIRED_KEYS`.
    """
    path = run_info_path(model_dir)
    if not os.path.isfile(path):
        raise layout.missing_run_info_error(model_dir)
    info = layout.read_run_file(model_dir, layout.RUN_INFO_FILENAME)
    missing = [key for key in REQUIRED_KEYS if key not in info]
    if missing or not isinstance(info.get("normalization"), dict):
        raise ValueError(f"{path!r} lacks the key(s) {missing or ['normalization']}")
    return info


def backfill(model_dir, record_dir=None, overwrite=False) -> str:
    """Write ``run_info.json`` of an older run from ``record_dir`` (default: ``record_dir`` of its flags.json)."""
    config = config_file.load_run_config(model_dir, require_facts=False)
    record_dir = os.fspath(record_dir) if record_dir is not None else config.data.record_dir
    if not record_dir:
        raise ValueError(f"{os.fspath(model_dir)!r}/flags.json names no record_dir: pass --record_dir")
    if os.path.isfile(run_info_path(model_dir)) and not overwrite:
        raise FileExistsError(f"{run_info_path(model_dir)!r} exists; pass --overwrite to replace it")
    info = from_dataset_info(records.load_dataset_info(record_dir), record_dir)
    if config.num_classes is not None and info["num_classes"] != config.num_classes:
        raise ValueError(
            f"--record_dir={record_dir!r} has {info['num_classes']} classes, the run {config.num_classes}"
        )
    files.write_json_atomically(run_info_path(model_dir), info)
    return run_info_path(model_dir)
