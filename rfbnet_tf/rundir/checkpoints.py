"""A run's trained state: its training checkpoints (the newest intact one, the step of one, what killed
savers left), ``final.weights.h5`` (written atomically), rebuilding the trained model from either
(:func:`restore_model`), and the NaN / inf check of weights. The directory's files: :mod:`rfbnet_tf.rundir.layout`."""

from __future__ import annotations

import glob
import os
import shutil

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from rfbnet_tf.rundir.config_file import build_from_run_config, load_run_config
from rfbnet_tf.rundir.layout import FINAL_WEIGHTS_FILENAME, SUMMARY_FILENAME, checkpoint_dir, final_weights_path, read_run_file
from rfbnet_tf.utils import files, processes


STEP_KEY = "step/.ATTRIBUTES/VARIABLE_VALUE"
"""Checkpoint key of the training step counter (``tf.train.Checkpoint(step=...)``)."""
FINAL = "final"
"""``restore_model(..., checkpoint=FINAL)`` loads ``final.weights.h5``."""

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
      directory's lock (:mod:`rfbnet_tf.rundir.lock`): then no other trainer is saving there, and every
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


def restore_model(model_dir, checkpoint=None, config=None):
    """Rebuild the model of a run and load trained weights: ``(model, config, step)``.

    Args:
      model_dir: a directory written by ``rfbnet_tf.train``.
      checkpoint: ``None`` = the latest training checkpoint, else ``final.weights.h5`` if there is no
        checkpoint; ``"final"`` = ``final.weights.h5``; or a path: a checkpoint prefix (``.../ckpt-1200``)
        or a ``.weights.h5`` file.
      config: the run's config when the caller has read it already (``load_run_config(model_dir)``); None reads
        ``flags.json``.

    Returns:
      ``model`` (built from ``flags.json``; with ``aux_losses`` it still returns ``[logits, aux...]``, see
      :func:`inference_model`), ``config`` (the run's :class:`.config_file.RunConfig`), ``step`` (the step of the weights; for
      ``final.weights.h5`` read from ``train_summary.json``, None if unknown).

    Raises:
      FileNotFoundError: no flags.json, or no checkpoint / weights file (naming the directory or path).
      ValueError: the weights do not fit the model built from flags.json.
      NonFiniteWeightsError (a ValueError): the weights hold NaN / inf values.
    """
    model_dir = os.fspath(model_dir)
    config = load_run_config(model_dir) if config is None else config
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
