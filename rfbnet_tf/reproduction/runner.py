"""Train and evaluate every (row, seed) run of a study, resumably (paper Sec. IV-B protocol, small scale).

Order: every unimodal row for every seed first, then the multimodal rows, whose RGB and depth encoders start
from the unimodal runs *of the same seed* (two-stage training) unless ``two_stage`` is off.  Every run of a
seed sees the same records and the same ``--seed``: the design is paired.

A run lives in ``study_dir/<row>/seed<k>/`` (a normal ``model_dir``).  It is finished when its
``train_summary.json`` reached the row's steps and its ``eval/val.json`` scores that step; a finished run is
skipped, an unfinished one is resumed by ``rfbnet_tf.train`` from its own checkpoint.

With ``jobs`` > 1 the seeds run at once, one process per seed (its unimodal rows, then its multimodal rows,
in order), each on ``cores // jobs`` TensorFlow threads: these small models use two cores poorly
(benchmarks/README.md "Study throughput"), two one-thread processes train ≈ 1.4× as many steps per second.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import io
import json
import multiprocessing
import os
import pickle
import queue
import time

import keras
from absl import logging

from rfbnet_tf import rundir
from rfbnet_tf.evaluation import evaluator
from rfbnet_tf.reproduction import rows as rows_lib
from rfbnet_tf.training import trainer
from rfbnet_tf.utils import processes

EVAL_SPLIT = "val"


@dataclasses.dataclass(frozen=True)
class StudyConfig:
    """The settings every run of a study shares (flags of ``python -m rfbnet_tf.study``)."""

    study_dir: str
    record_dir: str
    rows: tuple
    seeds: tuple
    image_size: tuple = (128, 160)
    train_frames: int = 400
    val_frames: int = 100
    unimodal_steps: int = 1000
    multimodal_steps: int = 500
    batch_size: int = 4
    learning_rate: float = 1e-3
    end_learning_rate: float = 0.0
    adam_epsilon: float = 1e-7
    val_every: int = 100
    checkpoint_every: int = 100
    two_stage: bool = True
    augment: bool = True

    def steps_of(self, row) -> int:
        return self.multimodal_steps if row.multimodal else self.unimodal_steps


def run_dir(study_dir, row_name, seed) -> str:
    """``study_dir/<row>/seed<k>``."""
    return os.path.join(os.fspath(study_dir), row_name, f"seed{seed}")


def eval_path(model_dir) -> str:
    return os.path.join(model_dir, rundir.layout.EVAL_SUBDIR, f"{evaluator.result_name(EVAL_SPLIT, False)}.json")


def read_json(path):
    """The JSON document at ``path`` (the runs' own files: train_summary.json, eval/val.json)."""
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def is_finished(model_dir, steps) -> bool:
    """True when the run trained ``steps`` steps and its evaluation scores that step."""
    summary_path = os.path.join(model_dir, rundir.layout.SUMMARY_FILENAME)
    if not (os.path.isfile(summary_path) and os.path.isfile(eval_path(model_dir))):
        return False
    return read_json(summary_path).get("step") == steps and read_json(eval_path(model_dir)).get(
        "checkpoint_step") == steps


def train_flags_of(config: StudyConfig, row, seed) -> dict:
    """The train flags of ``row`` at ``seed``."""
    flags = dict(
        record_dir=config.record_dir, image_size=list(config.image_size), batch_size=config.batch_size,
        steps=config.steps_of(row), learning_rate=config.learning_rate,
        end_learning_rate=config.end_learning_rate, adam_epsilon=config.adam_epsilon, val_every=config.val_every,
        val_batch_size=8, checkpoint_every=config.checkpoint_every, summary_every=config.val_every,
        image_summary_every=0, augment=config.augment, seed=seed, progress=False,
        model_dir=run_dir(config.study_dir, row.name, seed),
    )
    flags.update(row.train_flags())
    if row.multimodal and config.two_stage:
        sources = rows_lib.source_rows(config.rows)
        for stream in ("rgb", "depth"):
            if stream not in sources:
                raise ValueError(f"two-stage init needs a unimodal {stream} row; add one or pass --notwo_stage")
            flags[f"{stream}_init"] = run_dir(config.study_dir, sources[stream].name, seed)
    return flags


def ordered_runs(config: StudyConfig) -> list:
    """``[(row, seed), ...]``: unimodal rows first (they initialise the others), each row over every seed."""
    ordered = sorted(config.rows, key=lambda row: row.multimodal)  # stable: flagfile order within each group
    return [(row, seed) for row in ordered for seed in config.seeds]


def run_one(config: StudyConfig, row, seed) -> dict:
    """Train (or resume) and evaluate one run; returns ``{"row", "seed", "model_dir", "skipped", "seconds"}``."""
    model_dir = run_dir(config.study_dir, row.name, seed)
    steps = config.steps_of(row)
    if is_finished(model_dir, steps):
        return {"row": row.name, "seed": seed, "model_dir": model_dir, "skipped": True, "seconds": 0.0}
    started = time.perf_counter()
    summary_path = os.path.join(model_dir, rundir.layout.SUMMARY_FILENAME)
    trained = os.path.isfile(summary_path) and read_json(summary_path).get("step") == steps
    if not trained:
        trainer.train(train_flags_of(config, row, seed))
    table = io.StringIO()
    with contextlib.redirect_stdout(table):  # the per-class table: kept in the run, not on the console
        evaluator.evaluate(evaluator.EvaluationConfig(model_dir, split=EVAL_SPLIT, progress=False))
    with open(os.path.join(model_dir, rundir.layout.EVAL_SUBDIR, "val_table.txt"), "w", encoding="utf-8") as handle:
        handle.write(table.getvalue())
    keras.backend.clear_session()  # a fresh graph per run: 27 runs in one process must not accumulate state
    gc.collect()
    return {"row": row.name, "seed": seed, "model_dir": model_dir, "skipped": False,
            "seconds": time.perf_counter() - started}


def run_all(config: StudyConfig, progress=print, jobs=1) -> list:
    """Every run of the study; ``progress`` receives one line per run.

    ``jobs`` = 1: in :func:`ordered_runs` order, in this process. ``jobs`` > 1: one process per seed, ``jobs`` at
    once (:func:`run_seed`), the lines in the order the runs finish."""
    total = len(ordered_runs(config))
    started = time.perf_counter()
    done = []

    def report(result):
        done.append(result)
        elapsed = time.perf_counter() - started
        state = "finished earlier, skipped" if result["skipped"] else f"{result['seconds']:.0f} s"
        progress(f"[{len(done)}/{total}] {result['row']} seed {result['seed']}: {state} "
                 f"(study {elapsed / 60:.1f} min)")
        logging.info("study run %s seed %d done in %s", result["row"], result["seed"], state)

    if jobs == 1 or len(config.seeds) == 1:
        for row, seed in ordered_runs(config):
            report(run_one(config, row, seed))
        return done
    _run_seeds_in_processes(config, jobs, report)
    return done


def run_seed(config: StudyConfig, seed, threads, eager, results) -> None:
    """The runs of one seed, in :func:`ordered_runs` order, in a worker process on ``threads`` TensorFlow threads
    (``eager``: as the parent runs its functions). Puts ``("run", result)`` per run on ``results``, then
    ``("done", seed)``, or ``("error", exception)`` and stops."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    tf.config.run_functions_eagerly(eager)
    try:
        for row, row_seed in ordered_runs(config):
            if row_seed == seed:
                results.put(("run", run_one(config, row, seed)))
    except Exception as error:  # pylint: disable=broad-except  (handed to the parent, which raises it)
        try:
            pickle.dumps(error)
        except Exception:  # pylint: disable=broad-except
            error = RuntimeError(f"seed {seed}: {type(error).__name__}: {error}")
        results.put(("error", error))
        return
    results.put(("done", seed))


def _run_seeds_in_processes(config, jobs, report):
    """:func:`run_seed` for every seed, ``jobs`` processes at once; the first worker error stops the others and
    is raised here (a user error keeps its one-line message)."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    threads = max(1, processes.usable_cores() // jobs)
    context = multiprocessing.get_context("spawn")  # a fresh TensorFlow runtime per worker (threads set first)
    results = context.Queue()
    waiting, running = list(config.seeds), {}
    try:
        while waiting or running:
            while waiting and len(running) < jobs:
                seed = waiting.pop(0)
                running[seed] = context.Process(
                    target=run_seed, args=(config, seed, threads, tf.config.functions_run_eagerly(), results),
                    name=f"study-seed{seed}", daemon=True)
                running[seed].start()
            try:
                kind, value = results.get(timeout=5.0)
            except queue.Empty:
                for seed, process in list(running.items()):
                    if not process.is_alive():  # died without a word (killed, out of memory)
                        raise RuntimeError(f"the study's worker for seed {seed} exited with code "
                                           f"{process.exitcode}; rerun the study to resume it")
                continue
            if kind == "error":
                raise value
            if kind == "run":
                report(value)
            else:
                running.pop(value).join()
    finally:
        for process in running.values():
            process.terminate()
            process.join()
