"""``train(flags_dict_or_namespace) -> dict``: one training run (the library of ``python -m rfbnet_tf.train``).

What a run does is described in :mod:`rfbnet_tf.train`; the flags are :mod:`rfbnet_tf.configs`.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from rfbnet_tf import configs, rundir
from rfbnet_tf.datasets import pipeline, records, shards
from rfbnet_tf.evaluation import split_scoring
from rfbnet_tf.inference import keras_task
from rfbnet_tf.metrics import mean_iou, pixel_accuracy
from rfbnet_tf.models import is_multimodal
from rfbnet_tf.training import (checked_run, distribution, freezing, interruption, optimization, steps, stream_init,
                                summaries)
from rfbnet_tf.utils import files
from rfbnet_tf.utils.progress import Progress


def _seed_states(model):
    """The Keras ``SeedGenerator`` states of the model (dropout); not in ``model.weights`` but part of the
    training state: checkpointing them makes a resumed run draw the same dropout masks."""
    weights = {id(v) for v in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def _train_dataset(run, seed, start):
    return pipeline.make_dataset(
        run.data.record_dir, run.data.train_split, batch_size=run.train.batch_size, training=True,
        image_size=run.data.image_size, crop_size=run.data.crop_size, depth_input=run.model.depth_input,
        augment=run.data.augment, shuffle_buffer=run.data.shuffle_buffer, seed=seed, start=start,
    )


def _val_dataset(run, batch_size):
    dataset = pipeline.make_dataset(
        run.data.record_dir, run.data.val_split, batch_size=batch_size, training=False,
        image_size=run.data.image_size, depth_input=run.model.depth_input,
    )
    return dataset if run.train.val_steps is None else dataset.take(run.train.val_steps)


class _Trainer:
    """The state of one training run (model, optimizer, data, writers) and its loop.

    Building it reads top to bottom: :meth:`_build_model` (model, freezing, schedule, optimizer, step counter),
    :meth:`_open_train_stream` (the data position of the newest checkpoint), :meth:`_restore_or_initialize`
    (checkpoint manager; resume, or the two-stage / ``--init_model`` initialisation), :meth:`_make_steps` (the
    compiled train and eval steps). Building writes nothing to ``model_dir``.
    """

    def __init__(self, run, strategy, signals, val_history):
        if run.train.batch_size % strategy.num_replicas_in_sync:
            raise ValueError(f"--batch_size={run.train.batch_size} does not split evenly over "
                             f"{strategy.num_replicas_in_sync} replicas")
        self.run_config = run
        self.strategy = strategy
        self.signals = signals
        self.chief = distribution.is_chief(strategy)
        self.modality = None if is_multimodal(run.model.name) else run.model_options.get("modality", "rgb")
        self._build_model(run, strategy)
        latest = rundir.checkpoints.latest_checkpoint(run.train.model_dir)
        self._open_train_stream(run, strategy, rundir.checkpoints.checkpoint_step(latest) if latest else 0)
        self._restore_or_initialize(run, latest)
        self.start_step = int(self.step.numpy())
        self.resumed_from = latest  # the newest intact checkpoint (the integrity scan runs once per start)
        self.saved_step = self.start_step if latest else None
        self._make_steps(run, strategy)
        self.writers = None  # opened by run(): building the trainer writes nothing to model_dir
        # Validations of earlier sessions of this run (up to the step it resumes from), then this session's.
        self.val_history = [entry for entry in val_history if entry["step"] <= self.start_step]
        self.summary_batch = None
        self.gates = self.palette = None

    def _build_model(self, run, strategy):
        """The model (frozen encoders with ``--freeze_encoders``), the poly schedule, the optimizer and the step
        counter, under the strategy's scope; synchronized batch norm with several replicas."""
        with strategy.scope():
            self.model = rundir.config_file.build_from_run_config(run)
            self.frozen = freezing.freeze_encoders(self.model, run.model.name) if run.train.freeze_encoders else []
            self.schedule = optimization.poly_schedule(run.optimizer.learning_rate, run.train.steps,
                                                       run.optimizer.poly_power, run.optimizer.end_learning_rate)
            self.optimizer = optimization.make_optimizer(
                run.optimizer.name, self.schedule,
                mixed_precision=run.train.precision_policy == "mixed_float16",
                epsilon=run.optimizer.adam_epsilon,
            )
            self.optimizer.build(self.model.trainable_variables)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step",
                                    aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        if strategy.num_replicas_in_sync > 1:
            distribution.synchronize_batch_norm(self.model)

    def _open_train_stream(self, run, strategy, start):
        """The training iterator, at the examples the first ``start`` steps consumed.

        The stream is a function of (seed, position): a resumed run starts at the examples its steps consumed,
        so a checkpoint holds no data. Without ``--checkpoint_data_iterator`` it restarts with a step-derived seed.
        """
        self.host_batches = run.train.distribution_strategy in configs.HOST_INPUT_STRATEGIES
        exact = run.train.checkpoint_data_iterator
        dataset = _train_dataset(run, run.train.seed if exact else run.train.seed + start,
                                 start * run.train.batch_size if exact else 0)
        self.iterator = iter(dataset if self.host_batches else distribution.distribute_dataset(strategy, dataset))

    def _restore_or_initialize(self, run, latest):
        """The checkpoint manager; restore ``latest`` (checked: this run's state, finite), or initialise the
        model (two-stage ``--rgb_init`` / ``--depth_init``, or ``--init_model``)."""
        # Every worker restores from model_dir; non-chief workers of a multi-worker strategy save to a private
        # directory (the tf.distribute convention: saving is collective, only the chief's copy is kept).
        directory = distribution.checkpoint_write_dir(rundir.layout.checkpoint_dir(run.train.model_dir), self.chief)
        trackables = {"model": self.model, "optimizer": self.optimizer, "step": self.step,
                      "rng": _seed_states(self.model)}
        self.checkpoint = tf.train.Checkpoint(**trackables)
        self.manager = tf.train.CheckpointManager(self.checkpoint, directory, max_to_keep=run.train.keep_checkpoints)
        self.init_report = {}
        if latest:
            status = self.checkpoint.restore(latest)
            try:
                status.assert_existing_objects_matched()
            except AssertionError as error:
                raise ValueError(f"checkpoint {latest!r} does not hold this run's state: {error}") from None
            rundir.checkpoints.check_finite(self.model.variables, f"checkpoint {latest!r}")  # older runs could write one
            logging.info("resumed from %s at step %d", latest, int(self.step.numpy()))
            if run.train.rgb_init or run.train.depth_init or run.train.init_model:
                logging.info("--rgb_init / --depth_init / --init_model ignored: the run resumes from its own "
                             "checkpoint")
        else:
            self.init_report = stream_init.initialize(self.model, run)
        if self.frozen:
            logging.info("--freeze_encoders: %d layers frozen %s", len(self.frozen), self.frozen)

    def _make_steps(self, run, strategy):
        """The compiled training step (:func:`steps.make_train_step`) and validation step."""
        kwargs = dict(num_classes=run.num_classes, class_weights=run.class_weight_values,
                      modality=self.modality, ignore_label=run.ignore_label)
        self.train_step = steps.make_train_step(self.model, self.optimizer, strategy, self.step,
                                                weight_decay=run.optimizer.weight_decay, host_batches=self.host_batches,
                                                **kwargs)
        self.eval_step = steps.make_eval_step(self.model, strategy, **kwargs)

    # ------------------------------------------------------------------------------------- validation

    def validate(self):
        """Val loss, mIoU, per-class IoU and pixel accuracy over the validation split."""
        run = self.run_config

        def step(element):
            total, count, confusion = self.eval_step(*element)
            return confusion.numpy(), total, count, None

        dataset = _val_dataset(run, run.train.val_batch_size or run.train.batch_size)
        score = split_scoring.score_split(self.strategy.experimental_distribute_dataset(dataset), step,
                                          num_classes=run.num_classes, record_dir=run.data.record_dir,
                                          split=run.data.val_split)
        miou, per_class = score.miou_and_per_class
        return {"loss": score.loss, "miou": miou, "per_class_iou": per_class, "pixel_accuracy": score.pixel_accuracy}

    def write_images(self, step):
        """Image summaries of the first ``--num_summary_images`` validation frames."""
        run = self.run_config
        if self.summary_batch is None:
            dataset = pipeline.make_dataset(run.data.record_dir, run.data.val_split,
                                            batch_size=run.train.num_summary_images, training=False,
                                            image_size=run.data.image_size, depth_input=run.model.depth_input)
            inputs, labels = next(iter(dataset))
            if self.modality is not None:
                inputs = {self.modality: inputs[self.modality]}
            self.summary_batch = ({k: v.numpy() for k, v in inputs.items()}, labels.numpy())
            self.palette = rundir.facts.label_palette(records.load_dataset_info(run.data.record_dir))
            self.gates = summaries.gate_maps(self.model)
        inputs, labels = self.summary_batch
        model_inputs = steps.select_inputs(inputs, self.modality)
        outputs = self.model(model_inputs, training=False)
        logits = outputs[0] if isinstance(outputs, (list, tuple)) else outputs
        gates = None if self.gates is None else self.gates(model_inputs)

        def denormalize(array, key):
            stats_key = run.model.depth_input if key == "depth" else key
            return pipeline.denormalize(array, stats_key, run.data.record_dir)

        panel = summaries.image_panel(inputs, labels, keras.ops.convert_to_numpy(logits), denormalize, self.palette,
                                      gates=gates, ignore_label=run.ignore_label)
        summaries.write_images(self.writers.val, step, panel, max_outputs=run.train.num_summary_images)

    # ------------------------------------------------------------------------------------- the loop

    def _save(self, step, last_good):
        """Checkpoint the training state at ``step``, unless a weight or optimizer slot went NaN / inf (a finite
        loss can come with an update that overflowed): then stop without writing, keeping ``last_good``."""
        try:
            rundir.checkpoints.check_finite(self.model.variables + self.optimizer.variables,
                                            f"the training state at step {step}")
        except rundir.checkpoints.NonFiniteWeightsError as error:
            self.writers.flush()
            raise FloatingPointError(f"{error}: training stopped without saving it; the last good checkpoint "
                                     f"{last_good!r} is kept (lower --learning_rate or check the data)") from None
        prefix = os.path.join(self.manager.directory, f"ckpt-{step}")
        try:
            with files.naming_failed_writes(prefix, kept=f"the last good checkpoint {last_good!r} is kept"):
                path = self.manager.save(checkpoint_number=step)
        except files.WriteError:
            for partial in glob.glob(glob.escape(prefix) + "_temp*"):  # TensorFlow's unfinished save
                shutil.rmtree(partial, ignore_errors=True)
            raise
        self.saved_step = step
        distribution.discard_worker_checkpoints(self.manager.directory, self.chief)
        # A non-chief worker's copy is gone: name the chief's, the one that is kept.
        return path if self.chief else os.path.join(rundir.layout.checkpoint_dir(self.run_config.train.model_dir),
                                                    os.path.basename(path))

    def run(self):
        """Train from ``start_step`` to ``--steps``; returns ``(losses, last validation, last checkpoint)``.

        Each step: stop if a signal came (on every worker at the same step), one optimizer update (a NaN / inf loss
        stops the run), then what is due at that step: the train metric window, validation, image summaries, a
        checkpoint. The last step does all of them; a stopped run saves the step it ended at.
        """
        run = self.run_config
        self.writers = summaries.SummaryWriters(run.train.model_dir, enabled=self.chief)
        total_steps = run.train.steps
        losses, val = [], None
        window = _MetricWindow(run.num_classes)
        progbar = Progress("train", total_steps, unit="steps", initial=self.start_step) if (
            run.train.progress and self.chief) else None
        step = self.start_step
        last_good = self.resumed_from
        stopped_by = 0  # the signal that stops training, if one does
        while step < total_steps:
            # Every worker asks at the same point: all stop after the same step (the chief's checkpoint is kept).
            stopped_by = distribution.largest_over_workers(self.strategy, self.signals.received or 0)
            if stopped_by:
                break
            learning_rate = float(self.schedule(step))
            step, loss, result = self._train_one_step(last_good)
            losses.append(loss)
            window.add(result)
            if progbar is not None:
                progbar.set(step, loss=loss, lr=learning_rate)
            last = step == total_steps
            if step % run.train.summary_every == 0 or last:
                window.write(self.writers.train, step, learning_rate, run.class_names)
            if run.train.val_interval and (step % run.train.val_interval == 0 or last):
                val = self._validate_and_record(step)
            if run.train.image_summary_every and (step % run.train.image_summary_every == 0 or last):
                self.write_images(step)
            if step % run.train.checkpoint_every == 0 or last:
                last_good = self._save(step, last_good)
                self.writers.flush()
        if progbar is not None:
            progbar.close()
        if self.saved_step != step:
            last_good = self._save(step, last_good)
        self.writers.close()
        if stopped_by:
            raise interruption.TrainingInterrupted(stopped_by, step)
        return losses, val, last_good

    def _train_one_step(self, last_good):
        """One optimizer update; returns ``(step, loss, step results)``. ``FloatingPointError`` on a NaN / inf loss
        (``last_good``: the checkpoint that is kept)."""
        run = self.run_config
        with shards.naming_corrupt_shards(run.data.record_dir, run.data.train_split):
            result = self.train_step(self.iterator)
        step = int(self.step.numpy())
        loss = float(result["loss"])
        if not np.isfinite(loss):
            self.writers.flush()
            raise FloatingPointError(
                f"loss is {loss} at step {step}: training stopped; the last good checkpoint "
                f"{last_good!r} is kept (lower --learning_rate or check the data)"
            )
        return step, loss, result

    def _validate_and_record(self, step):
        """Validate, log, append to the run's val history (``val_history.json``) and write the val scalars."""
        run = self.run_config
        val = self.validate()
        logging.info("step %d: val loss %.4f, mIoU %.4f", step, val["loss"], val["miou"])
        self.val_history.append({"step": step, "miou": float(val["miou"]), "loss": float(val["loss"]),
                                 "pixel_accuracy": float(val["pixel_accuracy"])})
        if self.chief:
            rundir.layout.write_val_history(run.train.model_dir, self.val_history)
        summaries.write_scalars(self.writers.val, step, summaries.val_scalars(
            val["loss"], val["miou"], val["per_class_iou"], val["pixel_accuracy"], run.class_names))
        return val


class _MetricWindow:
    """The training metrics between two ``--summary_every`` points: summed loss terms, the summed confusion
    matrix (train mIoU, per-class IoU, pixel accuracy) and the step rate."""

    def __init__(self, num_classes):
        self.confusion = np.zeros((num_classes,) * 2, np.int64)
        self._reset()

    def _reset(self):
        self.confusion[:] = 0
        self.terms, self.start, self.steps = {}, time.perf_counter(), 0

    def add(self, result):
        self.confusion += np.rint(result["confusion"].numpy()).astype(np.int64)
        for key, value in result.items():
            if key != "confusion":
                self.terms[key] = self.terms.get(key, 0.0) + float(value)
        self.steps += 1

    def write(self, writer, step, learning_rate, class_names):
        """Write the window's scalars at ``step`` and start a new window."""
        elapsed = time.perf_counter() - self.start
        miou, per_class = mean_iou(self.confusion)
        scalars = summaries.train_scalars(
            {k: v / self.steps for k, v in self.terms.items()}, learning_rate,
            self.steps / max(elapsed, 1e-9), miou, per_class, pixel_accuracy(self.confusion), class_names)
        summaries.write_scalars(writer, step, scalars)
        self._reset()


def _summary(run, trainer, losses, val, checkpoint, seconds):
    summary = {
        "model_dir": run.train.model_dir,
        "step": int(trainer.step.numpy()),
        "start_step": trainer.start_step,
        "steps_run": len(losses),
        "resumed": trainer.start_step > 0,
        "losses": losses,
        "final_loss": losses[-1] if losses else None,
        "checkpoint": checkpoint,
        "final_weights": rundir.layout.final_weights_path(run.train.model_dir),
        "init": trainer.init_report,
        "num_replicas": trainer.strategy.num_replicas_in_sync,
        "synchronized_batch_norm": trainer.strategy.num_replicas_in_sync > 1,
        "seconds": seconds,
        "val_history": trainer.val_history,
    }
    if val is not None:
        summary.update(val_loss=val["loss"], val_miou=val["miou"],
                       val_per_class_iou=[None if np.isnan(v) else float(v) for v in val["per_class_iou"]],
                       val_pixel_accuracy=val["pixel_accuracy"])
    return summary


def train(flag_source) -> dict:
    """Train as the binary does; ``flag_source`` is a dict, a namespace or absl FlagValues of train flags
    (missing flags take their defaults).

    Returns a summary dict: ``step`` (final), ``start_step`` (where this call began: > 0 when it resumed),
    ``steps_run``, ``losses`` (this call's per-step total losses), ``final_loss``, ``val_miou`` /
    ``val_per_class_iou`` / ``val_loss`` (last validation, if any), ``val_history`` (every validation of
    the run, resumed sessions included), ``checkpoint`` (latest), ``final_weights``,
    ``init`` (two-stage loading report), ``num_replicas``, ``seconds``.  ``train_summary.json`` holds the same
    without ``losses``.

    Raises:
      ValueError / FileNotFoundError: bad flags, records or model_dir (before any work).
      rundir.lock.RunDirectoryLocked: another live trainer holds ``model_dir/.lock``.
      FloatingPointError: the loss became NaN / inf (the last good checkpoint is kept).
      interruption.TrainingInterrupted: SIGINT / SIGTERM (:mod:`rfbnet_tf.training.interruption`): the step in
        flight was finished and checkpointed (none if training had not started); the run lock is released.
    """
    with interruption.SignalCatcher() as signals:
        return _train(flag_source, signals)


def _train(flag_source, signals) -> dict:
    started = time.perf_counter()
    config = configs.resolve(flag_source)
    files.check_writable_directory(config.train.model_dir, "--model_dir")  # before any slow work
    run = checked_run.prepare_run(config)
    # A rerun of a finished run keeps its train_summary.json; without flags.json (removed: damaged) nothing says the
    # summary is this run's, so the trainer resumes from the checkpoint and writes the run's files again.
    finished = checked_run.finished_summary(run) if run.previous_run else None
    if finished is not None:
        return finished
    val_history = rundir.layout.read_val_history(run.train.model_dir)  # read (checked) before anything is written
    keras.utils.set_random_seed(run.train.seed)
    if run.train.deterministic:
        tf.config.experimental.enable_op_determinism()
    strategy = distribution.make_strategy(run.train.distribution_strategy, run.train.tpu)
    signals.install()  # again: a multi-worker strategy installs its own SIGTERM handler
    previous_policy = keras.mixed_precision.global_policy()
    if run.train.mixed_precision:  # otherwise the caller's policy stays (e.g. keras.config.set_floatx("float64"))
        keras.mixed_precision.set_global_policy(run.train.precision_policy)
    chief = distribution.is_chief(strategy)
    try:
        # One trainer per model_dir: the chief holds model_dir/.lock before it writes anything there.
        with rundir.lock.RunLock(run.train.model_dir) if chief else contextlib.nullcontext():
            # The trainer restores the checkpoint or initialises the model (the checks that need weights) and
            # writes nothing: a refused start leaves model_dir as it was (the lock removes what it created).
            trainer = _Trainer(run, strategy, signals, val_history)
            if chief:
                rundir.checkpoints.remove_stale_temporaries(run.train.model_dir)  # safe: this process holds the lock
                checked_run.write_run_config(run)
            signals.defer()  # from here a signal stops after the step in flight, which is saved
            logging.info("training %s from step %d to %d on %d replica(s); model_dir %s", run.model.name,
                         trainer.start_step, run.train.steps, strategy.num_replicas_in_sync, run.train.model_dir)
            losses, val, checkpoint = trainer.run()
            summary = _summary(run, trainer, losses, val, checkpoint, time.perf_counter() - started)
            if trainer.chief:
                rundir.checkpoints.save_weights_atomically(trainer.model,
                                                    rundir.layout.final_weights_path(run.train.model_dir))
                keras_task.write_final_task(run.train.model_dir, trainer.model, run)  # final.keras
                files.write_json_atomically(
                    os.path.join(run.train.model_dir, rundir.layout.SUMMARY_FILENAME),
                    {k: v for k, v in summary.items() if k != "losses"})
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    logging.info("done: step %d, final loss %s, model_dir %s", summary["step"],
                 "none" if summary["final_loss"] is None else f"{summary['final_loss']:.4g}", run.train.model_dir)
    return summary
