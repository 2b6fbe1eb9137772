"""The model directory of a training run, and rebuilding a trained model from it.

``model_dir/`` (written by ``python -m rfbnet_tf.train``, read by evaluate / export / predict):

=========================  ==========================================================================
``flags.json``             the run's configuration: ``ExperimentConfig.as_dict()`` (format 2: sections
                           ``model``, ``data``, ``optimizer``, ``train``; :mod:`rfbnet_tf.configs`).
                           Runs written before it (format 1) hold the flat flags plus ``model_options``,
                           ``num_classes``, ``class_names``; :func:`load_run_config` reads both
``run_info.json``          the dataset facts copied from the records at the start of training:
                           normalisation statistics (rgb, hha, depth), class names, palette,
                           ignore label, ``max_depth``, depth units, stored image size, dataset
                           name (:mod:`rfbnet_tf.run_facts`).  Evaluate, export and predict read
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
same ``flags.json`` (:func:`build_from_run_config`), not into a differently configured one.
"""

from __future__ import annotations

import glob
import os
import shutil

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from rfbnet_tf.utils import files, processes
from rfbnet_tf.utils.files import write_json_atomically  # noqa: F401 (re-exported: run_directory.write_json_atomically)

FLAGS_FILENAME = "flags.json"
FLAGS_FORMAT = 2
"""``flags.json`` of format 2 holds the experiment's sections (``rfbnet_tf.configs``); format 1 (no ``format``
key) the flat flags and the dataset facts."""
RUN_INFO_FILENAME = "run_info.json"
RUN_FACT_KEYS = ("num_classes", "class_names", "ignore_label", "dataset", "class_weight_values")
"""Facts of ``run_info.json`` that :func:`load_run_config` merges into a format-2 run's flat config."""
CHECKPOINT_SUBDIR = "checkpoints"
FINAL_WEIGHTS_FILENAME = "final.weights.h5"
SUMMARY_FILENAME = "train_summary.json"
VAL_HISTORY_FILENAME = "val_history.json"
LOGS_SUBDIR = "logs"
TRAIN_LOGS_SUBDIR = os.path.join(LOGS_SUBDIR, "train")
VAL_LOGS_SUBDIR = os.path.join(LOGS_SUBDIR, "val")
EVAL_SUBDIR = "eval"
EXPORT_SUBDIR = "export"
STEP_KEY = "step/.ATTRIBUTES/VARIABLE_VALUE"
"""Checkpoint key of the training step counter (``tf.train.Checkpoint(step=...)``)."""
FINAL = "final"
"""``restore_model(..., checkpoint=FINAL)`` loads ``final.weights.h5``."""

_RERUN_TRAIN = "rerun the run's train command (same flags): it resumes from the newest checkpoint and writes it again"
DAMAGED_FILE_REMEDIES = {
    FLAGS_FILENAME: f"remove it and {_RERUN_TRAIN}",
    RUN_INFO_FILENAME: "write it again from the run's records: python -m rfbnet_tf.run_info --model_dir={model_dir} "
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


def save_weights_atomically(model, path):
    """``model.save_weights(path)`` through a temporary ``.weights.h5`` file and ``os.replace``, so a crash
    never leaves a truncated file at ``path``; a full or read-only disk raises ``utils.files.WriteError`` naming
    ``path`` (the previous file is kept, the temporary removed)."""
    path = os.fspath(path)
    if not path.endswith(".weights.h5"):
        raise ValueError(f"a Keras weights file must end in '.weights.h5', received {path!r}")
    directory, name = os.path.split(path)
    temporary = os.path.join(directory, f".tmp-{os.getpid()}-{name}")
    try:
        with files.naming_failed_writes(path):
            model.save_weights(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def read_val_history(model_dir) -> list:
    """The validations recorded in ``model_dir/val_history.json`` (``[]`` if there is none yet)."""
    path = os.path.join(os.fspath(model_dir), VAL_HISTORY_FILENAME)
    if not os.path.isfile(path):
        return []
    return read_run_file(model_dir, VAL_HISTORY_FILENAME)["validations"]


def write_val_history(model_dir, validations: list):
    """Write ``model_dir/val_history.json`` atomically."""
    write_json_atomically(os.path.join(os.fspath(model_dir), VAL_HISTORY_FILENAME), {"validations": validations})


def missing_run_info_error(model_dir) -> FileNotFoundError:
    """The one-line error for a run without ``run_info.json``: the path and the backfill command."""
    path = os.path.join(os.fspath(model_dir), RUN_INFO_FILENAME)
    return FileNotFoundError(
        f"{path!r} not found (runs trained before rfbnet_tf wrote it): write it from the run's training records "
        f"with python -m rfbnet_tf.run_info --model_dir={os.fspath(model_dir)} [--record_dir=RECORDS]"
    )


def load_run_config(model_dir, require_facts=True) -> dict:
    """The train flags of a run with its resolved values, flat: every train flag, ``model_options``,
    ``weight_decay`` and the dataset facts ``num_classes``, ``class_names``, ``ignore_label``, ``dataset``,
    ``class_weight_values``.

    Reads ``flags.json`` (format 2: the :class:`rfbnet_tf.configs.ExperimentConfig` sections, with the facts in
    ``run_info.json``; format 1, older runs: all of it flat in ``flags.json``).

    ``require_facts=False``: a format-2 run whose ``run_info.json`` is missing loads without the facts.

    Raises:
      FileNotFoundError: naming the missing ``flags.json`` (or, for a format-2 run, ``run_info.json``) path.
      ValueError: the file lacks ``model``, ``num_classes`` or ``model_options``.
    """
    path = os.path.join(os.fspath(model_dir), FLAGS_FILENAME)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path!r} not found: {os.fspath(model_dir)!r} is not a model_dir written by rfbnet_tf.train")
    content = read_run_file(model_dir, FLAGS_FILENAME)
    if isinstance(content, dict) and content.get("format") == FLAGS_FORMAT:
        from rfbnet_tf.configs import ExperimentConfig

        try:
            experiment = ExperimentConfig.from_dict(content)
        except (TypeError, ValueError, KeyError) as error:
            raise ValueError(f"{path!r} is not a valid run configuration: {error}") from None
        config = {**experiment.flags(), "model_options": experiment.model.build_options()}
        info_path = os.path.join(os.fspath(model_dir), RUN_INFO_FILENAME)
        if os.path.isfile(info_path):
            info = read_run_file(model_dir, RUN_INFO_FILENAME)
            config.update({key: info.get(key) for key in RUN_FACT_KEYS if key in info})
        elif require_facts:
            raise missing_run_info_error(model_dir)
        else:
            return config
    elif isinstance(content, dict):
        from rfbnet_tf.configs.experiment import flag_defaults

        config = {**flag_defaults(), **content}
    else:
        raise ValueError(f"{path!r} is not a run configuration (a JSON object)")
    missing = [key for key in ("model", "num_classes", "model_options") if key not in config]
    if missing:
        raise ValueError(f"{path!r} lacks the key(s) {missing}")
    return config


def build_from_run_config(config: dict) -> keras.Model:
    """``build_model(config["model"], config["num_classes"], **config["model_options"])`` (fresh weights); options
    a saved run predates take the value it was built with (``registry.SAVED_BEFORE``)."""
    from rfbnet_tf.models import build_model
    from rfbnet_tf.models.registry import saved_model_options

    if not isinstance(config, dict) or any(k not in config for k in ("model", "num_classes", "model_options")):
        raise ValueError(f"config must be a dict with 'model', 'num_classes' and 'model_options', received {config!r}")
    options = saved_model_options(config["model"], config["model_options"])  # runs saved before an option existed
    return build_model(config["model"], int(config["num_classes"]), **options)


def _readable(path) -> str | None:
    """None if every tensor of the checkpoint at ``path`` reads, else the reason (a truncated or damaged file)."""
    try:
        reader = tf.train.load_checkpoint(path)
        for key, dtype in reader.get_variable_to_dtype_map().items():
            if dtype != tf.variant:  # the data iterator's state has no numpy form
                reader.get_tensor(key)
    except (tf.errors.OpError, ValueError, IndexError, OSError, RuntimeError) as error:
        return " ".join(str(error).split())[:300]
    return None


def latest_checkpoint(model_dir) -> str | None:
    """Path prefix of the newest *intact* training checkpoint in ``model_dir/checkpoints`` (None if there is
    none): a newest checkpoint that does not read to its end (a killed save, a truncated copy) is named in a
    warning and the previous one is used — resume, evaluate, export and predict all fall back the same way."""
    directory = checkpoint_dir(model_dir)
    state = tf.train.get_checkpoint_state(directory)
    candidates = list(state.all_model_checkpoint_paths) if state else []
    newest = tf.train.latest_checkpoint(directory)
    if newest and newest not in candidates:
        candidates.append(newest)
    for path in reversed(candidates):
        if not tf.io.gfile.exists(f"{path}.index"):
            continue
        reason = _readable(path)
        if reason is None:
            return path
        logging.warning("checkpoint %s is corrupt (%s): falling back to the previous checkpoint", path, reason)
    return None


def has_checkpoint(model_dir) -> bool:
    """True if ``model_dir/checkpoints`` holds any checkpoint (intact or not): a cheap look at the file names,
    without :func:`latest_checkpoint`'s integrity scan (which reads every tensor: done once per start)."""
    return bool(glob.glob(os.path.join(checkpoint_dir(model_dir), "*.index")))


def remove_stale_temporaries(model_dir) -> list:
    """Remove what killed processes left in a run directory; returns the removed paths.

    * ``checkpoints/ckpt-N_temp/``: TensorFlow's staging directory of a checkpoint being saved (its name
      carries no PID; a save killed before its rename leaves it).  Only call this while holding the run
      directory's lock (:mod:`rfbnet_tf.training.run_lock`): then no other trainer is saving there, and every
      such directory is stale.
    * ``.tmp-<pid>-*`` / ``*.tmp-<pid>`` entries of ``model_dir`` (atomic writes of ``flags.json``,
      ``final.weights.h5``, an export's staging directory) whose PID no longer runs on this host.
    """
    removed = []
    for path in sorted(glob.glob(os.path.join(checkpoint_dir(model_dir), "*_temp"))):
        shutil.rmtree(path, ignore_errors=True) if os.path.isdir(path) else os.remove(path)
        removed.append(path)
    if removed:
        logging.warning("removed %d unfinished checkpoint save(s) of a killed trainer: %s", len(removed),
                        [os.path.basename(p) for p in removed])
    return removed + processes.remove_dead_temporaries(model_dir)


def checkpoint_step(checkpoint_path) -> int:
    """The training step stored in a checkpoint (its ``step`` variable)."""
    return int(tf.train.load_variable(os.fspath(checkpoint_path), STEP_KEY))


def final_step(model_dir):
    """The step of the run's finished training (its summary file), or None while none is recorded."""
    path = os.path.join(os.fspath(model_dir), SUMMARY_FILENAME)
    if os.path.isfile(path):
        return read_run_file(model_dir, SUMMARY_FILENAME).get("step")
    return None


def restore_model(model_dir, checkpoint=None):
    """Rebuild the model of a run and load trained weights: ``(model, config, step)``.

    Args:
      model_dir: a directory written by ``rfbnet_tf.train``.
      checkpoint: ``None`` = the latest training checkpoint, else ``final.weights.h5`` if there is no
        checkpoint; ``"final"`` = ``final.weights.h5``; or a path: a checkpoint prefix (``.../ckpt-1200``)
        or a ``.weights.h5`` file.

    Returns:
      ``model`` (built from ``flags.json``; with ``aux_losses`` it still returns ``[logits, aux...]``, see
      :func:`inference_model`), ``config`` (``flags.json``), ``step`` (the step of the weights; for
      ``final.weights.h5`` read from ``train_summary.json``, None if unknown).

    Raises:
      FileNotFoundError: no flags.json, or no checkpoint / weights file (naming the directory or path).
      ValueError: the weights do not fit the model built from flags.json.
      NonFiniteWeightsError (a ValueError): the weights hold NaN / inf values.
    """
    model_dir = os.fspath(model_dir)
    config = load_run_config(model_dir)
    if checkpoint is None:
        checkpoint = latest_checkpoint(model_dir)
        if checkpoint is None:
            if not os.path.isfile(final_weights_path(model_dir)):
                raise FileNotFoundError(
                    f"no training checkpoint in {checkpoint_dir(model_dir)!r} and no "
                    f"{FINAL_WEIGHTS_FILENAME!r} in {model_dir!r}"
                )
            checkpoint = FINAL
    elif not isinstance(checkpoint, (str, os.PathLike)):
        raise ValueError(f"checkpoint must be None, 'final' or a path, received {checkpoint!r}")
    checkpoint = os.fspath(checkpoint)
    model = build_from_run_config(config)
    if checkpoint == FINAL or checkpoint.endswith(".weights.h5"):
        path = final_weights_path(model_dir) if checkpoint == FINAL else checkpoint
        if not os.path.isfile(path):
            raise FileNotFoundError(f"weights file {path!r} not found")
        try:
            model.load_weights(path)
        except Exception as error:  # Keras raises several types for a mismatched file
            raise ValueError(f"cannot load {path!r} into the model of {model_dir!r}: {error}") from error
        check_finite(model.weights, f"weights file {path!r}")
        is_final = os.path.abspath(path) == os.path.abspath(final_weights_path(model_dir))
        return model, config, (final_step(model_dir) if is_final else None)
    if not tf.io.gfile.exists(f"{checkpoint}.index"):
        raise FileNotFoundError(f"checkpoint {checkpoint!r} not found (no {checkpoint + '.index'!r})")
    try:
        status = tf.train.Checkpoint(model=model).restore(checkpoint)
        status.expect_partial()
        status.assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as error:
        raise ValueError(f"checkpoint {checkpoint!r} does not fit the model of {model_dir!r}: {error}") from error
    check_finite(model.weights, f"checkpoint {checkpoint!r}")
    return model, config, checkpoint_step(checkpoint)


def inference_model(model) -> keras.Model:
    """``model`` itself if it has one output, else a model (sharing its weights) returning only the main
    logits (the first output; AdapNet++ with ``aux_losses`` returns ``[logits, aux1, aux2]``)."""
    if len(model.outputs) == 1:
        return model
    return keras.Model(model.inputs, model.outputs[0], name=f"{model.name}_inference")


class NonFiniteWeightsError(ValueError):
    """Weights hold NaN or infinite values: such a state is never saved, resumed or scored."""


def non_finite_variables(variables) -> list:
    """``[(name, count), ...]`` of the variables holding NaN / inf values (empty when all are finite)."""
    found = []
    for variable in variables:
        values = keras.ops.convert_to_numpy(variable)
        if values.dtype.kind == "f":
            count = int(values.size - np.isfinite(values).sum())
            if count:
                found.append((variable.path if hasattr(variable, "path") else variable.name, count))
    return found


def check_finite(variables, what: str):
    """Raise :class:`NonFiniteWeightsError` (one line naming ``what`` and the first bad variables) unless every
    floating-point value of ``variables`` is finite."""
    bad = non_finite_variables(variables)
    if bad:
        total = sum(count for _, count in bad)
        names = ", ".join(f"{name} ({count})" for name, count in bad[:3])
        raise NonFiniteWeightsError(f"{what} holds {total:,} non-finite values in {len(bad)} variables, e.g. {names}")
