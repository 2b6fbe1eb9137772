"""What the ONNX and LiteRT exports share: the verification inputs, the 1e-4 check against the in-memory
module, the atomic single-file write and the log line naming what a format does not carry.

Both formats carry the ``serving_default`` function of :class:`rfbnet_tf.inference.serving.ServingModule`
(uint8 / uint16 images in; normalisation, the size policy, the model, softmax and argmax inside): the model
graph. Any other signature of the module (e.g. ``serving_depth_metres``, or preprocessing of raw depth) stays
SavedModel-only, and the export says so in its log.
"""

from __future__ import annotations

import dataclasses
import importlib
import os

import numpy as np
from absl import logging

from rfbnet_tf.inference import input_spec, serving
from rfbnet_tf.utils import files



@dataclasses.dataclass(frozen=True)
class FileFormat:
    """A single-file export format: ``export --format=NAME`` writes ``model_dir/export{suffix}`` with
    ``exporter`` (``"module:function"``, imported on use: ``function(module, path, config, verify) -> path``)."""

    name: str
    title: str
    """What the export binary prints: ``<title> written to <path>``."""
    suffix: str
    exporter: str
    help: str

    def export(self, module, path, config, verify) -> str:
        module_name, function = self.exporter.split(":")
        return getattr(importlib.import_module(module_name), function)(module, path, config, verify)


FILE_FORMATS = {fmt.name: fmt for fmt in (
    FileFormat("onnx", "ONNX model", ".onnx", "rfbnet_tf.inference.onnx_export:export_file", "file, any size"),
    FileFormat("litert", "LiteRT model", ".tflite", "rfbnet_tf.inference.litert_export:export_file",
               "file, the run's image_size"),
)}
"""Every single-file format (to add one: a :class:`FileFormat` here and its module's ``export_file``)."""
FORMATS = ("saved_model",) + tuple(FILE_FORMATS)
FILE_SUFFIXES = {name: fmt.suffix for name, fmt in FILE_FORMATS.items()}
TITLES = {"saved_model": "SavedModel", **{name: fmt.title for name, fmt in FILE_FORMATS.items()}}
VERIFY_TOLERANCE = 1e-4


class MissingConverterError(ImportError, ValueError):
    """An optional converter is not installed: an ImportError, and a user error for the binaries (one line)."""


def missing_converter(package: str, error: ImportError) -> MissingConverterError:
    """The error a user sees when an optional converter is not installed."""
    return MissingConverterError(f"{package} is not installed ({error}); install the converters with pip install "
                       f"'rfbnet_tf[onnx]' (ONNX: tf2onnx, onnxruntime; LiteRT: ai-edge-litert)")


def verification_images(spec: input_spec.InputSpec, size, seed=0) -> dict:
    """Random raw inputs ``{key: (1, h, w, C)}`` in the dtypes of ``serving_default`` (uint8; uint16 raw depth)."""
    rng = np.random.default_rng(seed)
    images = {}
    for key in spec.model_inputs:
        shape = (1, *size, spec.channels(key))
        if key == "depth" and spec.depth_input == "depth":
            images[key] = rng.integers(500, 5000, shape, dtype=np.uint16)
        else:
            images[key] = rng.integers(0, 256, shape, dtype=np.uint8)
    return images


def check_probabilities(expected, got, what: str, tolerance=VERIFY_TOLERANCE) -> float:
    """``max |expected − got|``; RuntimeError naming ``what`` if it exceeds ``tolerance`` (or shapes differ)."""
    expected, got = np.asarray(expected), np.asarray(got)
    if expected.shape != got.shape:
        raise RuntimeError(f"{what} returns probabilities of shape {got.shape}, the model {expected.shape}")
    error = float(np.max(np.abs(expected.astype(np.float64) - got)))
    if not error <= tolerance:
        raise RuntimeError(f"{what} differs from the model: max |Δprobability| = {error:.3g} > {tolerance:g}")
    return error


def log_not_carried(module: serving.ServingModule, format_name: str, extra: str = ""):
    """Log that ``format_name`` carries ``serving_default`` only, naming the module's other signatures."""
    others = sorted(name for name in module.signatures() if name != input_spec.SIGNATURE_DEFAULT)
    message = f"{format_name} export carries the model graph (signature {input_spec.SIGNATURE_DEFAULT!r})"
    if others:
        message += f"; not carried (use the SavedModel): {', '.join(others)}"
    logging.info("%s%s", message, extra)
    return message + extra


def write_file_atomically(path, data: bytes) -> str:
    """Write ``data`` to ``path`` atomically (``utils.files``), creating its directory; returns the absolute path."""
    path = os.path.abspath(os.fspath(path))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return files.write_bytes_atomically(path, data)
