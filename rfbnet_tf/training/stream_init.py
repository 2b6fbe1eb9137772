"""How a run's weights start: ``--rgb_init`` / ``--depth_init`` (encoder streams from unimodal runs or from
ImageNet) and ``--init_model`` (the whole model from a finished run) — the stages of paper Sec. IV-B and of the
AdapNet++ protocol of SSMA [12], and fine-tuning a trained run to another class count.

* ``--{stream}_init=imagenet:PATH``: the AdapNet++ encoder of that stream from the Keras ResNet50V2 ImageNet
  weights at ``PATH`` (``~`` expanded; :func:`rfbnet_tf.models.transfer_imagenet_weights`, every mapped tensor
  is logged). Stage 1 of [12].
* ``--init_model=RUN_DIR``: every layer from the run in ``RUN_DIR`` (its latest checkpoint, else
  ``final.weights.h5``), which must hold the same model (same ``model``, ``depth_input`` and model options,
  ``aux_losses`` aside: heads the source lacks keep their initialisation, heads the target lacks are skipped).
  ``num_classes`` may differ: the layers whose weights depend on it (the classifier, AdapNet++'s auxiliary
  heads; found by comparing the two built models, :func:`rfbnet_tf.models.weight_transfer.transfer_model_weights`)
  keep their fresh initialisation, every other layer is loaded. Only the weights are taken — batch size,
  learning rate, steps and the optimizer start anew in the new ``model_dir``. Stage 3 of [12] (fine-tuning the
  whole fusion model), or fine-tuning to another dataset's classes.

"We first train the unimodal models, then use the trained weights to initialize the encoders of the multimodal
models."  A source is a model_dir of a unimodal run (its latest checkpoint, else ``final.weights.h5``; any class
count) or a ``.weights.h5`` file (with the ``flags.json`` of its directory when there is one; otherwise the file
must hold the unimodal model of the target's backbone for that stream, with the target's number of classes).
The encoder layers are copied by :func:`rfbnet_tf.models.transfer_encoder_weights`; decoder layers are skipped.

:func:`check_init_sources` checks every source from its ``flags.json`` before anything is built or written;
what needs the weights (shapes) is checked when they are loaded, still before the trainer writes to
``model_dir``. The log gives counts and the names of the layers not loaded.
"""

from __future__ import annotations

import os

from absl import logging

from rfbnet_tf import rundir
from rfbnet_tf.models import build_model, transfer_encoder_weights, transfer_imagenet_weights
from rfbnet_tf.models.weight_transfer import num_classes_of, transfer_model_weights
from rfbnet_tf.rundir.config_file import RunConfig

IMAGENET_PREFIX = "imagenet:"
INIT_MODEL_OPTIONAL = ("aux_losses",)
"""Model options that may differ between ``--init_model``'s run and the new one."""


def imagenet_path(value):
    """The weights file of an ``imagenet:PATH`` init value (``~`` expanded), None for other values."""
    if isinstance(value, str) and value.startswith(IMAGENET_PREFIX):
        return os.path.expanduser(value[len(IMAGENET_PREFIX):])
    return None


def check_init_sources(run: RunConfig):
    """Disk checks of ``--rgb_init`` / ``--depth_init`` / ``--init_model`` of a run (after the dataset facts are
    known), from the sources' ``flags.json``; raises ``FileNotFoundError`` / ``ValueError`` naming the flag."""
    for stream in ("rgb", "depth"):
        value = getattr(run.train, f"{stream}_init")
        if not value:
            continue
        path = imagenet_path(value) or value
        if not os.path.exists(path):
            raise FileNotFoundError(f"--{stream}_init={value!r}: {path!r} does not exist")
        _check_stream(stream, value, run)
        if imagenet_path(value):
            if run.model.spec.backbone != "adapnet_pp":
                raise ValueError(f"--{stream}_init={value!r}: ImageNet initialisation is for AdapNet++ models, "
                                 f"not {run.model.name!r}")
        else:
            _stream_source(value, stream, run)
    run_dir = run.train.init_model
    if not run_dir:
        return
    flag = f"--init_model={run_dir!r}"
    if not os.path.isfile(os.path.join(run_dir, rundir.layout.FLAGS_FILENAME)):
        raise FileNotFoundError(f"{flag}: no {rundir.layout.FLAGS_FILENAME} there (not a training run directory)")
    if os.path.abspath(run_dir) == os.path.abspath(run.train.model_dir):
        raise ValueError(f"{flag} is --model_dir itself: re-running a model_dir resumes it; initialise a new one")
    there, here = _model_facts(rundir.config_file.load_run_config(run_dir)), _model_facts(run)
    if there["model"] != here["model"]:  # then the options differ as a matter of course
        there, here = ({k: facts[k] for k in ("model", "depth_input")} for facts in (there, here))
    differences = [key for key in {**there, **here} if there.get(key) != here.get(key)]
    if differences:
        detail = ", ".join(f"{key}: {there.get(key)!r} there, {here.get(key)!r} here" for key in differences)
        raise ValueError(f"{flag} holds another model ({detail}); it must be the same model (only the class "
                         "count may differ)")
    if not (rundir.checkpoints.has_checkpoint(run_dir) or os.path.isfile(rundir.layout.final_weights_path(run_dir))):
        raise FileNotFoundError(f"{flag}: no training checkpoint and no {rundir.layout.FINAL_WEIGHTS_FILENAME} "
                                "there (a run that never saved)")


def _model_facts(run: RunConfig) -> dict:
    """What ``--init_model``'s run and the new one must share: model, depth input, the model options but
    :data:`INIT_MODEL_OPTIONAL` (the class count may differ)."""
    return {"model": run.model.name, "depth_input": run.model.depth_input,
            **{f"model_options.{k}": v for k, v in run.model_options.items() if k not in INIT_MODEL_OPTIONAL}}


def _check_stream(stream, value, target: RunConfig):
    """``ValueError`` unless the target model has a ``stream`` input."""
    streams = target.model.spec.input_keys(target.model_options)
    if stream not in streams:
        raise ValueError(f"--{stream}_init={value!r}: model {target.model.name!r} has no {stream!r} stream "
                         f"(streams: {list(streams)})")


def _stream_source(path, stream, target_run: RunConfig):
    """``(model_dir, weights file or None, the source run's config or None)`` of a ``--{stream}_init`` path,
    checked against the target run from the source's ``flags.json`` (when it has one): a unimodal model of the
    same backbone, trained on ``stream``; its class count may differ."""
    flag = f"--{stream}_init"
    path = os.fspath(path)
    target = target_run.model.spec
    if os.path.isdir(path):
        model_dir, weights = path, None
    elif os.path.isfile(path) and path.endswith(".weights.h5"):
        model_dir, weights = os.path.dirname(path), path
    else:
        raise FileNotFoundError(f"{flag}={path!r} is neither a model_dir nor a .weights.h5 file")
    if not os.path.isfile(os.path.join(model_dir, rundir.layout.FLAGS_FILENAME)):
        return model_dir, weights, None
    config = rundir.config_file.load_run_config(model_dir)
    source = config.model.spec
    if source.multimodal:
        raise ValueError(
            f"{flag}={path!r} holds the multimodal model {config.model.name!r}; it must be a unimodal model "
            f"({target.unimodal_model!r} trained on {stream!r})"
        )
    if source.backbone != target.backbone:
        raise ValueError(
            f"{flag}={path!r} holds a {source.backbone!r} model, the target "
            f"{target_run.model.name!r} has backbone {target.backbone!r}"
        )
    modality = config.model_options.get("modality", "rgb")
    if modality != stream:
        raise ValueError(f"{flag}={path!r} holds a {modality!r} model, not a {stream!r} one")
    return model_dir, weights, config


def load_source(path, stream, target_run: RunConfig):
    """The trained unimodal ``stream`` model at ``path`` (model_dir or .weights.h5), checked against the
    target run: unimodal family, same backbone, same modality.  Raises ``ValueError`` / ``FileNotFoundError``
    naming the flag (``--{stream}_init``) and the path."""
    flag = f"--{stream}_init"
    path = os.fspath(path)
    model_dir, weights, config = _stream_source(path, stream, target_run)
    if config is not None:
        model, _, step = rundir.checkpoints.restore_model(model_dir, weights, config)
        return model, f"{path} (step {step})"
    target = target_run.model.spec
    options = {"modality": stream}
    if stream == "depth":
        options["depth_channels"] = target_run.model_options.get("depth_channels", 3)
    model = build_model(target.unimodal_model, target_run.num_classes, **options)
    try:
        model.load_weights(weights)
    except Exception as error:  # Keras raises several types for a mismatched file
        raise ValueError(
            f"{flag}={path!r} does not fit a {stream!r} {target.unimodal_model!r} model with "
            f"{target_run.num_classes} classes ({_one_line(error)}); pass its model_dir instead"
        ) from error
    return model, path


def _one_line(error) -> str:
    return " ".join(str(error).split())[:300]


def initialize_streams(model, target_run: RunConfig, sources: dict) -> dict:
    """Load ``sources`` (``{"rgb": path, "depth": path}``, None entries skipped) into ``model``'s encoders.

    Returns ``{stream: {"source": str, "loaded": [layer names], "skipped": [layer names]}}`` and logs it.
    """
    report = {}
    for stream, path in sources.items():
        if path in (None, ""):
            continue
        _check_stream(stream, path, target_run)
        weights = imagenet_path(path)
        if weights is not None:
            try:
                result = transfer_imagenet_weights(model, weights, streams=(stream,))
            except (ValueError, FileNotFoundError) as error:
                raise ValueError(f"--{stream}_init={path!r}: {error}") from error
            for line in result["loaded"]:
                logging.info("%s encoder from ImageNet: %s", stream, line)
            for line in result["skipped"] + result["notes"]:
                logging.info("%s encoder from ImageNet, not mapped / differs: %s", stream, line)
            report[stream] = {"source": path, **result}
            continue
        source, description = load_source(path, stream, target_run)
        try:
            loaded, skipped = transfer_encoder_weights(source, model, stream)
        except ValueError as error:
            raise ValueError(f"--{stream}_init={path!r}: {error}") from error
        logging.info("%s encoder initialised from %s: %d layers loaded; %d source layers not transferred (its "
                     "decoder, %d classes there): %s", stream, description, len(loaded), len(skipped),
                     num_classes_of(source), skipped)
        report[stream] = {"source": description, "loaded": loaded, "skipped": skipped}
    return report


def initialize_model(model, run: RunConfig) -> dict:
    """``--init_model``: copy every layer of the finished run's model into ``model`` by layer name; the layers
    whose weights depend on the class count keep their initialisation when the class counts differ.

    Returns ``{"model": {"source", "loaded", "reinitialized", "skipped"}}`` (layer names; ``skipped``: layers
    of one model without a counterpart in the other, e.g. auxiliary heads) and logs counts and the names of
    every layer not loaded."""
    run_dir = run.train.init_model
    flag = f"--init_model={run_dir!r}"
    source, _, step = rundir.checkpoints.restore_model(run_dir)
    try:
        plan = transfer_model_weights(source, model)
    except ValueError as error:
        raise ValueError(f"{flag}: {error}") from None
    skipped = ([f"{name}: not in {run_dir} (keeps its initialisation)" for name in plan["not_in_source"]]
               + [f"{name}: not in this model" for name in plan["not_in_target"]])
    description = f"{run_dir} (step {step})"
    parts = [f"{len(plan['loaded'])} layers loaded"]
    if plan["reinitialized"]:
        parts.append(f"{len(plan['reinitialized'])} re-initialised (their weights depend on the class count: "
                     f"{num_classes_of(source)} there, {num_classes_of(model)} here): {plan['reinitialized']}")
    if skipped:
        parts.append(f"skipped {skipped}")
    logging.info("whole model initialised from %s: %s", description, "; ".join(parts))
    return {"model": {"source": description, "loaded": plan["loaded"], "reinitialized": plan["reinitialized"],
                      "skipped": skipped}}


def initialize(model, run: RunConfig) -> dict:
    """A new run's initialisation: ``--init_model`` or the ``--{stream}_init`` sources (``{}`` when none)."""
    if run.train.init_model:
        return initialize_model(model, run)
    return initialize_streams(model, run, {"rgb": run.train.rgb_init, "depth": run.train.depth_init})
