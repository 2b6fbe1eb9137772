"""``export_model(ExportConfig(model_dir, ...))`` / ``save_module``: write a trained run as an atomic, verified SavedModel
(the library of ``python -m rfbnet_tf.export``, whose docstring describes the SavedModel)."""

from __future__ import annotations

import contextlib
import dataclasses
import logging as python_logging
import os
import shutil

import tensorflow as tf
from absl import logging

from rfbnet_tf import rundir
from rfbnet_tf.inference import format_export, input_spec, keras_task, serving
from rfbnet_tf.utils import files, flag_configs, processes

EXPORT_INFO_PATH = os.path.join("assets.extra", "rfbnet_export.json")
_VERIFY_TOLERANCE = format_export.VERIFY_TOLERANCE


def default_export_dir(model_dir, export_format="saved_model") -> str:
    """``model_dir/export`` (SavedModel), ``model_dir/export.onnx`` (ONNX), ``model_dir/export.tflite`` (LiteRT)."""
    return os.path.join(os.fspath(model_dir), rundir.layout.EXPORT_SUBDIR) + format_export.FILE_SUFFIXES.get(
        export_format, "")


def _verify(export_dir: str, module: serving.ServingModule):
    """Reload ``export_dir`` and check it reproduces the in-memory module on a small random input."""
    spec = module.spec
    size = (spec.size_divisor + 3, 2 * spec.size_divisor + 5)  # deliberately not a valid model size
    images = format_export.verification_images(spec, size)
    expected = module.run(images)
    loaded = tf.saved_model.load(export_dir)
    got = loaded.signatures[input_spec.SIGNATURE_DEFAULT](**{k: tf.constant(v) for k, v in images.items()})
    format_export.check_probabilities(expected["probabilities"], got["probabilities"].numpy(),
                                      f"the reloaded export {export_dir!r}", _VERIFY_TOLERANCE)


def check_export_dir(export_dir) -> str:
    """The absolute ``export_dir`` if it can be created or replaced (it is written beside itself, then renamed):
    ``NotADirectoryError`` naming ``--export_dir`` when a component of its path is an existing file
    (``/etc/passwd/x``), ``PermissionError`` when its directory is read-only (``utils.files``)."""
    export_dir = os.path.abspath(os.fspath(export_dir))
    files.check_writable_directory(os.path.dirname(export_dir), "--export_dir", export_dir)
    return export_dir


def _write_info(export_dir, module, config, step):
    path = os.path.join(export_dir, EXPORT_INFO_PATH)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(input_spec.spec_json(module.spec, config, step) + "\n")


class RenamedInputsSummary(python_logging.Filter):
    """TensorFlow's "Function `f` contains input name(s) 19719, 19721, ... which will be renamed to unknown_0, ...,
    unknown_669 in the SavedModel" (one name per captured variable: 13,000 characters for ``serve_raw``) as one
    short line: ``Function `f`: 670 captured input names renamed in the SavedModel (unknown_0 … unknown_669)``."""

    PREFIX = "Function `%s` contains input name(s)"

    def filter(self, record):
        if isinstance(record.msg, str) and record.msg.startswith(self.PREFIX) and len(record.args or ()) == 3:
            function, _, renamed = record.args
            names = str(renamed).split(", ")
            shown = f"{names[0]} … {names[-1]}" if len(names) > 2 else ", ".join(names)
            record.msg = "Function `%s`: %d captured input name(s) renamed in the SavedModel (%s)"
            record.args = (function, len(names), shown)
        return True


@contextlib.contextmanager
def _renamed_inputs_summarised():
    logger = logging.get_absl_logger()  # TensorFlow's signature_serialization logs through absl
    summary = RenamedInputsSummary()
    logger.addFilter(summary)
    try:
        yield
    finally:
        logger.removeFilter(summary)


def save_module(module: serving.ServingModule, export_dir, *, config=None, step=None, overwrite=False,
                verify=True) -> str:
    """Atomically write ``module`` as a SavedModel at ``export_dir`` (see the module docstring).

    Raises:
      FileExistsError: ``export_dir`` exists and ``overwrite`` is False.
      RuntimeError: ``verify`` found the reloaded export differing from the module.
    """
    export_dir = check_export_dir(export_dir)
    if os.path.exists(export_dir) and not overwrite:
        raise FileExistsError(f"export directory {export_dir!r} exists; pass overwrite=True (--overwrite) to replace it")
    parent, name = os.path.split(export_dir)
    os.makedirs(parent, exist_ok=True)
    # Temporaries carry the PID: those of killed exports (kill -9 leaves them) are removed here, a live
    # export's never.
    processes.remove_dead_temporaries(parent, ".tmp-", suffix=f"-{name}")
    temporary = os.path.join(parent, f".tmp-{os.getpid()}-{name}")
    previous = os.path.join(parent, f".tmp-{os.getpid()}-old-{name}")
    shutil.rmtree(temporary, ignore_errors=True)  # left by an earlier process with our PID
    moved_old = False
    try:
        with files.naming_failed_writes(export_dir, kept="the previous export, if any, is kept"):
            with _renamed_inputs_summarised():
                tf.saved_model.save(module, temporary, signatures=module.signatures())
            _write_info(temporary, module, config, step)
        if verify:
            _verify(temporary, module)
        if os.path.exists(export_dir):
            os.replace(export_dir, previous)
            moved_old = True
        os.replace(temporary, export_dir)
        moved_old = False
    except BaseException:
        if moved_old and not os.path.exists(export_dir):
            os.replace(previous, export_dir)  # put the old export back
        raise
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
        shutil.rmtree(previous, ignore_errors=True)
    return export_dir


def run_summary(model_dir) -> str:
    """Closing lines of the main job: the evaluated mIoU (if evaluate ran) and where the TensorBoard logs are."""
    lines = []
    for name in sorted(os.listdir(os.path.join(model_dir, "eval"))) if os.path.isdir(os.path.join(model_dir, "eval")) else []:
        if name.endswith(".json"):
            result = files.read_json(os.path.join(model_dir, "eval", name),
                                     f"evaluate the run again: python -m rfbnet_tf.evaluate --model_dir={model_dir}")
            if result.get("miou") is not None:
                lines.append(f"mIoU ({name[:-5]}): {100 * result['miou']:.2f}%")
    logs = os.path.join(model_dir, "logs")
    lines.append(f"TensorBoard logs: {logs}  (pip install tensorboard; tensorboard --logdir {logs})")
    return "\n".join(lines)


@dataclasses.dataclass(frozen=True)
class ExportConfig:
    """What :func:`export_model` writes: the flags of ``python -m rfbnet_tf.export`` as typed fields (the binary:
    ``utils.flag_configs.from_flags``; ``export_format`` is ``--format``), checked here, once.

    Fields:
      model_dir: a directory written by ``rfbnet_tf.train`` (``flags.json`` + checkpoints / final weights). The
        network and its preprocessing come from ``final.keras`` when it holds the requested weights
        (``keras_task.holds_requested_weights``), else from ``flags.json``, ``run_info.json`` and the checkpoint.
      export_dir: where to write (default ``model_dir/export``).
      checkpoint: which weights (``rundir.checkpoints.restore_model``): None = latest checkpoint (else final
        weights), ``"final"``, or a checkpoint prefix / ``.weights.h5`` path.
      size_policy: ``"resize"``, ``"pad"`` or None (``input_spec.input_spec`` chooses).
      overwrite: replace an existing export (atomically).
      verify: reload the written SavedModel and compare it with the in-memory model before
        moving it into place (ONNX / LiteRT: run the converted model and compare, to 1e-4).
      export_format: ``"saved_model"``, ``"onnx"`` (``inference.onnx_export``: any size) or ``"litert"``
        (``inference.litert_export``: fixed input size = the run's ``image_size``); the two files carry
        ``serving_default`` only, with the JSON description beside them (``<file>.json``).
      fold_batch_norm: export the model with BN folded into the preceding convolutions
        (``models.batch_norm_folding``: the benchmark's optimised path, 1.06–1.2× faster on the ERFNet family,
        logits equal to ≤ 5e-6); the export is verified against the folded model.
    """

    model_dir: str
    export_dir: str | None = None
    checkpoint: str | None = None
    size_policy: str | None = None
    overwrite: bool = False
    verify: bool = True
    export_format: str = dataclasses.field(default="saved_model", metadata={flag_configs.FLAG: "format"})
    fold_batch_norm: bool = False

    def __post_init__(self):
        flag_configs.normalise_paths(self, "model_dir", "export_dir")
        if self.export_format not in format_export.FORMATS:
            raise ValueError(f"export_format must be one of {format_export.FORMATS}, received {self.export_format!r}")


def export_model(config: ExportConfig) -> str:
    """Export the trained run ``config.model_dir`` as a SavedModel (or ONNX / LiteRT file); returns its path.

    Raises:
      FileNotFoundError: no such model_dir / flags.json / run_info.json / weights (naming the path).
      FileExistsError: the export exists and ``overwrite`` is False.
      NotADirectoryError: a component of ``export_dir``'s path is a file.
      ValueError: bad ``size_policy`` or a run config that cannot be served.
    """
    model_dir, checkpoint, size_policy, export_format = (config.model_dir, config.checkpoint, config.size_policy,
                                                         config.export_format)
    if not os.path.isdir(model_dir):
        raise FileNotFoundError(f"model_dir {model_dir!r} does not exist")
    export_dir = check_export_dir(default_export_dir(model_dir, export_format) if config.export_dir is None
                                  else config.export_dir)
    if os.path.exists(export_dir) and not config.overwrite:  # fail before the slow restore
        raise FileExistsError(f"export directory {export_dir!r} exists; pass overwrite=True (--overwrite) to replace it")
    info = rundir.facts.load_run_info(model_dir)  # the run's own statistics, before the slow restore
    if keras_task.holds_requested_weights(model_dir, checkpoint):  # model_dir/final.keras
        model, spec, run_config, step = keras_task.serving_parts(model_dir, size_policy, info)
    else:  # runs without final.keras, or an earlier checkpoint
        model, run_config, step = rundir.checkpoints.restore_model(model_dir, checkpoint)
        spec = input_spec.input_spec(run_config, info, size_policy)
    if config.fold_batch_norm:
        from rfbnet_tf.models.batch_norm_folding import fold_batch_norm as fold

        model = fold(rundir.checkpoints.inference_model(model))
    module = serving.ServingModule(model, spec)
    logging.info("exporting %s (step %s, size policy %r) to %s", run_config.model.name, step, module.spec.size_policy,
                 export_dir)
    if export_format != "saved_model":
        return _export_file(module, export_dir, export_format, run_config, step, config.verify)
    return save_module(module, export_dir, config=run_config, step=step, overwrite=config.overwrite,
                       verify=config.verify)


def _export_file(module, path, export_format, config, step, verify) -> str:
    """The single-file export (:data:`format_export.FILE_FORMATS`) of ``module`` at ``path`` and its JSON
    description at ``path + ".json"``."""
    path = format_export.FILE_FORMATS[export_format].export(module, path, config, verify)
    format_export.write_file_atomically(path + ".json", (input_spec.spec_json(module.spec, config, step) + "\n").encode())
    return path
