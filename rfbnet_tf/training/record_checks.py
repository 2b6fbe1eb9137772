"""Checks of ``--record_dir`` before training: prepared records exist (else one line naming the exact
``prepare_data`` command), and ``--create_synthetic`` writes only into a directory meant for synthetic data.

A train run names no dataset, so the ``prepare_data`` command is completed from the record directory's name
(``data/cityscapes`` → ``--dataset=cityscapes``); a name naming no dataset gets the generic command.
"""

from __future__ import annotations

import os

from rfbnet_tf.datasets import records, sources

REAL_DATASETS = tuple(name for name in sources.REGISTERED if name not in ("synthetic", "folder"))
"""Datasets named by a record directory's name (``data/cityscapes``); their ``--input_dir`` layout is the
registry's ``input_help``."""


def dataset_named_by(record_dir) -> str | None:
    """The dataset a record directory's name names (``data/cityscapes`` → ``"cityscapes"``), or None."""
    name = os.path.basename(os.path.normpath(os.fspath(record_dir))).lower()
    for dataset in REAL_DATASETS + ("synthetic",):
        if dataset in name:
            return dataset
    return None


def prepare_command(record_dir) -> str:
    """The ``prepare_data`` command that writes ``record_dir`` (its dataset guessed from its name)."""
    dataset = dataset_named_by(record_dir)
    if dataset in REAL_DATASETS:
        return (f"python -m rfbnet_tf.prepare_data --dataset={dataset} --input_dir=/path/to/{dataset} "
                f"--output_dir={record_dir} (--input_dir holds {sources.dataset(dataset).input_help})")
    if dataset == "synthetic":
        return f"python -m rfbnet_tf.prepare_data --dataset=synthetic --output_dir={record_dir} (or pass --create_synthetic)"
    return (f"python -m rfbnet_tf.prepare_data --dataset={{{','.join(REAL_DATASETS + ('synthetic', 'folder'))}}} "
            f"--input_dir=/path/to/download --output_dir={record_dir}")


def _is_folder_dataset(path) -> bool:
    """``path`` is the input of ``--dataset=folder`` (its ``dataset.json``), not a record directory."""
    from rfbnet_tf.datasets import folder

    return os.path.isfile(os.path.join(os.fspath(path), folder.DESCRIPTION_FILENAME))


def check_records_exist(record_dir):
    """``FileNotFoundError`` (one line naming the exact ``prepare_data`` command) when ``record_dir`` holds no
    prepared records (no ``dataset_info.json``)."""
    if not os.path.isfile(os.path.join(os.fspath(record_dir), records.DATASET_INFO_FILENAME)):
        if _is_folder_dataset(record_dir):
            target = os.path.normpath(os.fspath(record_dir)) + "_records"
            raise FileNotFoundError(
                f"--record_dir={record_dir} is a folder dataset (it holds dataset.json), not prepared records: "
                f"convert it with python -m rfbnet_tf.prepare_data --dataset=folder --input_dir={record_dir} "
                f"--output_dir={target}, then train with --record_dir={target}")
        state = "does not exist" if not os.path.isdir(record_dir) else "holds no prepared records (no dataset_info.json)"
        raise FileNotFoundError(f"--record_dir={record_dir} {state}: prepare it with {prepare_command(record_dir)}")


def check_synthetic_target(record_dir):
    """``ValueError`` unless ``--create_synthetic`` may render into ``record_dir``: a directory that holds records
    already (they are reused), or one meant for synthetic data (absent or empty, its name naming no real dataset)."""
    if os.path.isfile(os.path.join(os.fspath(record_dir), records.DATASET_INFO_FILENAME)):
        return
    dataset = dataset_named_by(record_dir)
    if dataset in REAL_DATASETS:
        raise ValueError(f"--create_synthetic renders synthetic frames, not {dataset}: --record_dir={record_dir} is "
                         f"meant for {dataset}; prepare it with {prepare_command(record_dir)} and drop --create_synthetic")
    if os.path.isdir(record_dir) and os.listdir(record_dir):
        raise ValueError(f"--create_synthetic would replace --record_dir={record_dir}, which holds other files and no "
                         "dataset_info.json: give an empty or new directory")
