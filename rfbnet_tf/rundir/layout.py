"""The model directory of a training run: its layout (file names and paths), the small JSON files
(``val_history.json``), and what to do about a damaged file.  Checkpoints and weights: :mod:`.checkpoints`;
``flags.json``: :mod:`.config_file`; ``run_info.json``: :mod:`.facts`; ``.lock``: :mod:`.lock`.

``model_dir/`` (written by ``python -m rfbnet_tf.train``, read by evaluate / export / predict):

=========================  ==========================================================================
``flags.json``             the run's configuration: ``ExperimentConfig.as_dict()`` (format 2: sections
                           ``model``, ``data``, ``optimizer``, ``train``; :mod:`rfbnet_tf.configs`).
                           Runs written before it (format 1) hold the flat flags plus ``model_options``,
                           ``num_classes``, ``class_names``; :func:`.config_file.load_run_config` reads both
``run_info.json``          the dataset facts copied from the records at the start of training:
                           normalisation statistics (rgb, hha, depth), class names, palette,
                           ignore label, ``max_depth``, depth units, stored image size, dataset
                           name (:mod:`rfbnet_tf.rundir.facts`).  Evaluate, export and predict read
                           these from here only, so a run keeps working after its records move;
                           a run without it fails with the command that writes it
``checkpoints/``           resumable training state (``tf.train.Checkpoint`` + ``CheckpointManager``):
                           ``model``, ``optimizer``, ``step`` and the training data ``iterator``
``final.weights.h5``       Keras weights after the last step (written atomically)
``final.keras``            the trained ``RGBDSegmenter`` task (preprocessing + network), for
                           ``keras.saving.load_model`` after ``import rfbnet_tf``; export builds from it
``train_summary.json``     the dict ``train()`` returned (``step``, losses, mIoU ...), written at the end
``val_history.json``       every validation of the run: ``[{step, miou, loss, pixel_accuracy}, ...]``
``logs/train``, ``logs/val``  TensorBoard event files
``eval/``, ``export/``     outputs of the evaluate and export binaries
=========================  ==========================================================================

Training checkpoints store the model under the key ``model``; the model's variables are tracked by the
Keras 3 object graph (``model/_operations/<i>/...``), so a checkpoint restores into a model built from the
same ``flags.json`` (:func:`.config_file.build_from_run_config`), not into a differently configured one.
"""

from __future__ import annotations

import os

from rfbnet_tf.utils import files

FLAGS_FILENAME = "flags.json"
FLAGS_FORMAT = 2
"""``flags.json`` of format 2 holds the experiment's sections (``rfbnet_tf.configs``); format 1 (no ``format``
key) the flat flags and the dataset facts."""
RUN_INFO_FILENAME = "run_info.json"
CHECKPOINT_SUBDIR = "checkpoints"
FINAL_WEIGHTS_FILENAME = "final.weights.h5"
SUMMARY_FILENAME = "train_summary.json"
VAL_HISTORY_FILENAME = "val_history.json"
LOGS_SUBDIR = "logs"
TRAIN_LOGS_SUBDIR = os.path.join(LOGS_SUBDIR, "train")
VAL_LOGS_SUBDIR = os.path.join(LOGS_SUBDIR, "val")
EVAL_SUBDIR = "eval"
EXPORT_SUBDIR = "export"
_RERUN_TRAIN = "rerun the run's train command (same flags): it resumes from the newest checkpoint and writes it again"
DAMAGED_FILE_REMEDIES = {
    FLAGS_FILENAME: f"remove it and {_RERUN_TRAIN}",
    RUN_INFO_FILENAME: "write it again from the run's records: python -m rfbnet_tf.backfill_run_info --model_dir={model_dir} "
                       "--overwrite",
    SUMMARY_FILENAME: f"remove it and {_RERUN_TRAIN}",
    VAL_HISTORY_FILENAME: "remove it (the earlier validations stay in the TensorBoard logs, logs/val) and rerun the "
                          "run's train command: it records the validations from there on",
}
"""What to do about each run file that is empty or damaged (``{model_dir}`` is filled in)."""


def read_run_file(model_dir, name):
    """The JSON content of ``model_dir/name`` (a :data:`DAMAGED_FILE_REMEDIES` file); a damaged file raises
    ``ValueError`` naming it and what to do (``utils.files.read_json``)."""
    model_dir = os.fspath(model_dir)
    return files.read_json(os.path.join(model_dir, name), DAMAGED_FILE_REMEDIES[name].format(model_dir=model_dir))


def checkpoint_dir(model_dir) -> str:
    """``model_dir/checkpoints``."""
    return os.path.join(os.fspath(model_dir), CHECKPOINT_SUBDIR)


def final_weights_path(model_dir) -> str:
    """``model_dir/final.weights.h5``."""
    return os.path.join(os.fspath(model_dir), FINAL_WEIGHTS_FILENAME)


def read_val_history(model_dir) -> list:
    """The validations recorded in ``model_dir/val_history.json`` (``[]`` if there is none yet)."""
    path = os.path.join(os.fspath(model_dir), VAL_HISTORY_FILENAME)
    if not os.path.isfile(path):
        return []
    return read_run_file(model_dir, VAL_HISTORY_FILENAME)["validations"]


def write_val_history(model_dir, validations: list):
    """Write ``model_dir/val_history.json`` atomically."""
    files.write_json_atomically(os.path.join(os.fspath(model_dir), VAL_HISTORY_FILENAME), {"validations": validations})


def missing_run_info_error(model_dir) -> FileNotFoundError:
    """The one-line error for a run without ``run_info.json``: the path and the backfill command."""
    path = os.path.join(os.fspath(model_dir), RUN_INFO_FILENAME)
    return FileNotFoundError(
        f"{path!r} not found (runs trained before rfbnet_tf wrote it): write it from the run's training records "
        f"with python -m rfbnet_tf.backfill_run_info --model_dir={os.fspath(model_dir)} [--record_dir=RECORDS]"
    )
