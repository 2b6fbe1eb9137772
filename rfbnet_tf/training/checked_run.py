"""Checks that need the disk, done before any model is built, and the run's ``flags.json`` / ``run_info.json``.

:func:`prepare_run` takes the checked :class:`rfbnet_tf.configs.ExperimentConfig` and:

1. with ``--create_synthetic``, writes the synthetic records into ``--record_dir`` if it has no
   ``dataset_info.json`` (``rfbnet_tf.datasets.preparation.prepare("synthetic", ...)``);
2. reads ``dataset_info.json``: ``num_classes``, ``class_names``, the stored image size, the class histogram;
3. checks that the train split (and the val split when validating or drawing image summaries) has shards,
   that the class weights fit the classes, that the training and evaluation sizes are multiples of what the
   model needs (``ModelSpec.size_divisor``), that ``--rgb_init`` / ``--depth_init`` exist and hold a unimodal
   model of the backbone and stream, and that ``--init_model`` holds the same model, the class count aside
   (``stream_init.check_init_sources``; a new model_dir initialised from another run is not a resume);
4. when ``model_dir/flags.json`` exists (resuming), checks that the model-defining settings
   (:data:`MODEL_DEFINING_KEYS`) and, when a checkpoint exists, the state-defining ones
   (:data:`STATE_DEFINING_KEYS`) are unchanged, and logs the other changes.

It returns a :class:`Run`: the experiment with absolute directories and the resolved image size, plus the dataset
facts. :func:`write_run_config` writes ``run_info.json`` (dataset facts, class weights, versions and git commit;
:mod:`rfbnet_tf.rundir.facts`) and then ``flags.json`` (the experiment, :meth:`ExperimentConfig.as_dict`); the trainer
calls it only once every check passed, those that need the model's weights included (restoring the checkpoint,
loading the init sources), so a refused start writes nothing to ``model_dir``.
"""

from __future__ import annotations

import dataclasses
import os

from absl import logging

from rfbnet_tf import rundir
from rfbnet_tf.configs import ExperimentConfig
from rfbnet_tf.datasets import records, shards
from rfbnet_tf.training import record_checks, stream_init
from rfbnet_tf.training.class_weights import parse_class_weights
from rfbnet_tf.utils import files

MODEL_DEFINING_KEYS = ("model", "model_options", "num_classes", "depth_input")
"""Settings (train flags, or resolved values) that must not change when a run resumes from its checkpoint."""
STATE_DEFINING_KEYS = ("image_size", "crop_size", "batch_size", "shuffle_buffer", "augment", "train_split",
                       "checkpoint_data_iterator", "freeze_encoders")
"""Keys the saved training state depends on (the traced step's shapes, the checkpointed data iterator): a run
that has a checkpoint resumes only with the same values."""


@dataclasses.dataclass(frozen=True)
class Run(rundir.config_file.RunConfig):
    """A checked run: its :class:`rfbnet_tf.rundir.config_file.RunConfig` (directories absolute,
    ``data.image_size`` resolved, the facts of its records) and whether ``model_dir`` held a run already."""

    previous_run: bool = False


def finished_summary(run: Run) -> dict | None:
    """The kept ``train_summary.json`` of a run in ``model_dir`` that already reached ``--steps`` (None otherwise):
    training it again would change nothing, so train reports it instead of writing a zero-step summary.

    Reads the summary and looks for its checkpoint's files only (no integrity scan: a start scans once, in the
    trainer); a summary whose checkpoint is gone is not a finished run."""
    model_dir, steps = run.train.model_dir, run.train.steps
    path = os.path.join(model_dir, rundir.layout.SUMMARY_FILENAME)
    if not os.path.isfile(path):
        return None
    summary = rundir.layout.read_run_file(model_dir, rundir.layout.SUMMARY_FILENAME)
    step = summary.get("step")
    if not isinstance(step, int) or step < steps or not os.path.isfile(
            os.path.join(rundir.layout.checkpoint_dir(model_dir), f"ckpt-{step}.index")):
        return None
    logging.info("%s is already trained to step %d (--steps=%d): nothing to do; %s kept (raise --steps to train "
                 "on)", model_dir, step, steps, rundir.layout.SUMMARY_FILENAME)
    return dict(summary, steps_run=0, already_trained=True)


def create_synthetic_if_missing(config: ExperimentConfig) -> bool:
    """``--create_synthetic``: write the synthetic dataset into ``record_dir`` unless it already has
    ``dataset_info.json``. Returns True if it wrote records."""
    data = config.data
    if not data.create_synthetic:
        return False
    if os.path.isfile(os.path.join(data.record_dir, records.DATASET_INFO_FILENAME)):
        logging.info("--create_synthetic: %s already holds records, reusing them", data.record_dir)
        return False
    from rfbnet_tf.datasets.preparation import prepare

    # prepare() builds the records beside record_dir and renames them into place.
    files.check_writable_directory(os.path.dirname(data.record_dir), "--record_dir", data.record_dir)
    logging.info("--create_synthetic: rendering %d train / %d val synthetic frames of %s into %s",
                 data.synthetic_train, data.synthetic_val, data.synthetic_size, data.record_dir)
    prepare("synthetic", data.record_dir, synthetic_train=data.synthetic_train, synthetic_val=data.synthetic_val,
            synthetic_size=tuple(data.synthetic_size), seed=config.train.seed, num_workers=data.synthetic_workers,
            progress=config.train.progress)
    return True


def _check_sizes(config: ExperimentConfig, stored_size):
    data, name = config.data, config.model.name
    multiple = config.model.spec.size_divisor(config.model.build_options())
    image_size = data.image_size or stored_size
    named = [("crop_size", data.crop_size), ("image_size", data.image_size)]
    for flag, size in named:
        if size is not None and any(v % multiple for v in size):
            raise ValueError(f"--{flag}={size}: {name} needs sizes that are multiples of {multiple}")
    if data.image_size is None and stored_size is not None and any(v % multiple for v in stored_size):
        raise ValueError(
            f"the records' stored size {stored_size} is not a multiple of {multiple} (needed by {name}); "
            "pass --image_size"
        )
    if image_size is None and data.crop_size is None:
        raise ValueError(f"{data.record_dir!r} holds frames of mixed sizes: pass --image_size (and/or --crop_size)")
    return image_size


def _check_split(record_dir, flag, split):
    try:
        shards.shard_files(record_dir, split)
    except (FileNotFoundError, ValueError) as error:
        hint = " (or --val_every=0 --image_summary_every=0)" if flag == "val_split" else ""
        raise ValueError(f"--{flag}={split!r}: {error}{hint}") from None


def _settings(run: rundir.config_file.RunConfig) -> dict:
    """``{train flag or resolved value: value}`` of a run: what a resume compares (and logs when it changed)."""
    facts = (field.name for field in dataclasses.fields(rundir.config_file.RunConfig) if field.name != "config")
    return {**run.config.flags(), "model_options": run.model_options, **{name: getattr(run, name) for name in facts}}


def _check_resume(run: Run) -> bool:
    model_dir = run.config.train.model_dir
    if not os.path.isfile(os.path.join(model_dir, rundir.layout.FLAGS_FILENAME)):
        return False
    previous, current = _settings(rundir.config_file.load_run_config(model_dir)), _settings(run)
    for key in MODEL_DEFINING_KEYS:
        if previous.get(key) != current.get(key):
            raise ValueError(
                f"--model_dir={model_dir!r} holds a run with {key}={previous.get(key)!r}, this run has "
                f"{key}={current.get(key)!r}: use another --model_dir (a checkpoint only fits the model it saved)"
            )
    changed = {k: (previous.get(k), v) for k, v in current.items() if k in previous and previous.get(k) != v}
    state_changes = {k: changed[k] for k in STATE_DEFINING_KEYS if k in changed}
    if state_changes and rundir.checkpoints.has_checkpoint(model_dir):
        settings = ", ".join(f"--{k}={old!r} (now {new!r})" for k, (old, new) in state_changes.items())
        raise ValueError(f"--model_dir={model_dir!r} resumes from a checkpoint saved with {settings}: resume with "
                         "the saved value(s), or train into another --model_dir (the saved data position and "
                         "step shapes depend on them)")
    if changed and rundir.checkpoints.has_checkpoint(model_dir):
        logging.info("resuming %s with changed settings (old, new): %s", model_dir, changed)
    elif changed:
        logging.info("%s holds no checkpoint yet: training starts at step 0 with the new settings (old, new): %s",
                     model_dir, changed)
    return True


def prepare_run(config: ExperimentConfig) -> Run:
    """The :class:`Run` after every disk check; writes nothing except the synthetic records of
    ``--create_synthetic``. Raises ``ValueError`` / ``FileNotFoundError`` naming the flag."""
    given = config.data.record_dir
    # Optional in a config (the run file of an old version may name neither), required to train.
    if not given:
        raise ValueError("--record_dir is required: the directory of the prepared records (python -m "
                         "rfbnet_tf.prepare_data)")
    if not config.train.model_dir:
        raise ValueError("--model_dir is required: the run's output directory")
    if config.data.create_synthetic:
        record_checks.check_synthetic_target(given)
    config = config.replace(data={"record_dir": os.path.abspath(config.data.record_dir)},
                            train={"model_dir": os.path.abspath(config.train.model_dir)})
    record_dir = config.data.record_dir
    create_synthetic_if_missing(config)
    record_checks.check_records_exist(given)
    info = records.load_dataset_info(record_dir)
    _check_split(record_dir, "train_split", config.data.train_split)
    if config.train.val_interval or config.train.image_summary_every:
        _check_split(record_dir, "val_split", config.data.val_split)
    num_classes = int(info["num_classes"])
    histogram = info.get("class_histogram", {}).get(config.data.train_split)
    try:
        weights = parse_class_weights(config.train.class_weights, num_classes, histogram)
    except ValueError as error:
        raise ValueError(f"--class_weights={config.train.class_weights!r}: {error}") from None
    stored_size = info.get("image_size")
    image_size = _check_sizes(config, list(stored_size) if stored_size else None)
    run = Run(
        config=config.replace(data={"image_size": list(image_size) if image_size else None}),
        num_classes=num_classes,
        class_names=tuple(info.get("class_names") or [str(i) for i in range(num_classes)]),
        ignore_label=int(info.get("ignore_label", records.IGNORE_LABEL)),
        dataset=info.get("dataset"),
        class_weight_values=None if weights is None else tuple(float(w) for w in weights),
    )
    stream_init.check_init_sources(run)
    return dataclasses.replace(run, previous_run=_check_resume(run))


def write_run_config(run: Run):
    """Write ``model_dir/run_info.json`` (the dataset facts of ``record_dir``: normalisation, classes, depth
    range; the class weights; versions and git commit) and then ``model_dir/flags.json`` (the experiment), each
    atomically."""
    model_dir, record_dir = run.config.train.model_dir, run.config.data.record_dir
    info = rundir.facts.from_dataset_info(records.load_dataset_info(record_dir), record_dir)
    info.update(class_weight_values=None if run.class_weight_values is None else list(run.class_weight_values),
                **rundir.facts.environment())
    rundir.facts.write_run_info(model_dir, info)
    # flags.json last: it is what marks model_dir as holding a run (a crash in between leaves no half run).
    files.write_json_atomically(os.path.join(model_dir, rundir.layout.FLAGS_FILENAME), run.config.as_dict())
