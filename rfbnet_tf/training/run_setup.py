"""Checks that need the disk, done before any model is built, and the run's ``flags.json``.

:func:`prepare_run` takes the checked flags (``train_flags.resolve_config``) and:

1. with ``--create_synthetic``, writes the synthetic records into ``--record_dir`` if it has no
   ``dataset_info.json`` (``rfbnet_tf.datasets.preparation.prepare("synthetic", ...)``);
2. reads ``dataset_info.json``: ``num_classes``, ``class_names``, the stored image size, the class histogram;
3. checks that the train split (and the val split when validating or drawing image summaries) has shards,
   that the class weights fit the classes, that the training and evaluation sizes are multiples of what the
   model needs (``output_stride``, twice that with the depth shrunk), that ``--rgb_init`` / ``--depth_init``
   exist and that ``--init_model`` holds the same model (``stream_init.check_init_sources``; a new model_dir
   initialised from another run is not a resume);
4. when ``model_dir/flags.json`` exists (resuming), checks that the model-defining settings
   (:data:`MODEL_DEFINING_KEYS`) are unchanged and logs the other changes.

The returned run config is what ``flags.json`` holds (see :mod:`rfbnet_tf.checkpoints`);
:func:`write_run_config` writes it and ``run_info.json``, the records' dataset facts later steps read
(:mod:`rfbnet_tf.run_facts`).
"""

from __future__ import annotations

import os

from absl import logging

from rfbnet_tf import __version__, checkpoints, run_facts
from rfbnet_tf.datasets import records
from rfbnet_tf.models import model_spec
from rfbnet_tf.models.registry import MODELS, saved_model_options
from rfbnet_tf.training import stream_init
from rfbnet_tf.training.class_weights import parse_class_weights

MODEL_DEFINING_KEYS = ("model", "model_options", "num_classes", "depth_input")
"""Resolved keys that must not change when a run resumes from its checkpoint."""
STATE_DEFINING_KEYS = ("image_size", "crop_size", "batch_size", "shuffle_buffer", "augment", "train_split",
                       "checkpoint_data_iterator", "freeze_encoders")
"""Keys the saved training state depends on (the traced step's shapes, the checkpointed data iterator): a run
that has a checkpoint resumes only with the same values."""


def create_synthetic_if_missing(config) -> bool:
    """``--create_synthetic``: write the synthetic dataset into ``record_dir`` unless it already has
    ``dataset_info.json``. Returns True if it wrote records."""
    record_dir = config["record_dir"]
    if not config["create_synthetic"]:
        return False
    if os.path.isfile(os.path.join(record_dir, records.DATASET_INFO_FILENAME)):
        logging.info("--create_synthetic: %s already holds records, reusing them", record_dir)
        return False
    from rfbnet_tf.datasets.preparation import prepare

    logging.info("--create_synthetic: rendering %d train / %d val synthetic frames of %s into %s",
                 config["synthetic_train"], config["synthetic_val"], config["synthetic_size"], record_dir)
    prepare("synthetic", record_dir, synthetic_train=config["synthetic_train"], synthetic_val=config["synthetic_val"],
            synthetic_size=tuple(config["synthetic_size"]), seed=config["seed"],
            num_workers=config["synthetic_workers"], progress=config["progress"])
    return True


def _check_sizes(config, stored_size):
    multiple = model_spec(config["model"]).size_divisor(config["model_options"])
    image_size = config["image_size"] or stored_size
    named = [("crop_size", config["crop_size"]),
             ("image_size", image_size if config["image_size"] else None)]
    for flag, size in named:
        if size is not None and any(v % multiple for v in size):
            raise ValueError(f"--{flag}={size}: {config['model']} needs sizes that are multiples of {multiple}")
    if config["image_size"] is None and stored_size is not None and any(v % multiple for v in stored_size):
        raise ValueError(
            f"the records' stored size {stored_size} is not a multiple of {multiple} (needed by {config['model']}); "
            "pass --image_size"
        )
    if image_size is None and config["crop_size"] is None:
        raise ValueError(f"{config['record_dir']!r} holds frames of mixed sizes: pass --image_size (and/or --crop_size)")
    return image_size


def _check_split(config, flag):
    try:
        records.shard_files(config["record_dir"], config[flag])
    except (FileNotFoundError, ValueError) as error:
        hint = " (or --val_every=0 --image_summary_every=0)" if flag == "val_split" else ""
        raise ValueError(f"--{flag}={config[flag]!r}: {error}{hint}") from None


def _check_resume(config, model_dir):
    path = os.path.join(model_dir, checkpoints.FLAGS_FILENAME)
    if not os.path.isfile(path):
        return None
    previous = checkpoints.load_run_config(model_dir)
    # Runs saved before issue 14: no --freeze_encoders / --init_model, AdapNet++ with the paper's dilations.
    previous.setdefault("freeze_encoders", False)
    previous.setdefault("init_model", None)
    if previous.get("model") in MODELS:
        previous["model_options"] = saved_model_options(previous["model"], previous.get("model_options", {}))
    for key in MODEL_DEFINING_KEYS:
        if previous.get(key) != config.get(key):
            raise ValueError(
                f"--model_dir={model_dir!r} holds a run with {key}={previous.get(key)!r}, this run has "
                f"{key}={config.get(key)!r}: use another --model_dir (a checkpoint only fits the model it saved)"
            )
    changed = {k: (previous.get(k), v) for k, v in config.items() if k != "created_by" and previous.get(k) != v}
    state_changes = {k: changed[k] for k in STATE_DEFINING_KEYS if k in changed}
    if state_changes and checkpoints.latest_checkpoint(model_dir):
        settings = ", ".join(f"--{k}={old!r} (now {new!r})" for k, (old, new) in state_changes.items())
        raise ValueError(f"--model_dir={model_dir!r} resumes from a checkpoint saved with {settings}: resume with "
                         "the saved value(s), or train into another --model_dir (the saved data position and "
                         "step shapes depend on them)")
    if changed:
        logging.info("resuming %s with changed settings (old, new): %s", model_dir, changed)
    return previous


def prepare_run(config) -> dict:
    """The run config (flags + dataset facts) after every disk check; does not write anything except the
    synthetic records of ``--create_synthetic``. Raises ``ValueError`` / ``FileNotFoundError`` naming the flag."""
    config = dict(config)
    config["record_dir"] = os.path.abspath(config["record_dir"])
    config["model_dir"] = os.path.abspath(config["model_dir"])
    create_synthetic_if_missing(config)
    if not os.path.isdir(config["record_dir"]):
        raise FileNotFoundError(f"--record_dir={config['record_dir']!r} does not exist (or pass --create_synthetic)")
    info = records.load_dataset_info(config["record_dir"])
    _check_split(config, "train_split")
    if config["val_every"] or config["image_summary_every"]:
        _check_split(config, "val_split")
    num_classes = int(info["num_classes"])
    histogram = info.get("class_histogram", {}).get(config["train_split"])
    try:
        weights = parse_class_weights(config["class_weights"], num_classes, histogram)
    except ValueError as error:
        raise ValueError(f"--class_weights={config['class_weights']!r}: {error}") from None
    stored_size = info.get("image_size")
    image_size = _check_sizes(config, list(stored_size) if stored_size else None)
    config.update(
        num_classes=num_classes,
        class_names=list(info.get("class_names") or [str(i) for i in range(num_classes)]),
        ignore_label=int(info.get("ignore_label", records.IGNORE_LABEL)),
        dataset=info.get("dataset"),
        image_size=list(image_size) if image_size else None,
        class_weight_values=None if weights is None else [float(w) for w in weights],
        created_by=f"rfbnet_tf.train {__version__}",
    )
    stream_init.check_init_sources(config)
    config["previous_run"] = _check_resume(config, config["model_dir"]) is not None
    return config


def write_run_config(config):
    """Write ``model_dir/flags.json`` and ``model_dir/run_info.json`` (the dataset facts of ``record_dir``:
    normalisation, classes, depth range; :mod:`rfbnet_tf.run_facts`), each atomically."""
    os.makedirs(config["model_dir"], exist_ok=True)
    content = {k: v for k, v in config.items() if k != "previous_run"}
    checkpoints.write_json_atomically(os.path.join(config["model_dir"], checkpoints.FLAGS_FILENAME), content)
    info = run_facts.from_dataset_info(records.load_dataset_info(config["record_dir"]), config["record_dir"])
    run_facts.write_run_info(config["model_dir"], info)
