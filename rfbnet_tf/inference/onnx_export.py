"""``export_onnx``: the ``serving_default`` function of a :class:`~rfbnet_tf.inference.serving.ServingModule` as an
ONNX model (tf2onnx), run and checked by ONNX Runtime (both the optional extra ``[onnx]``).

The ONNX model has the SavedModel's inputs and outputs by name (``rgb`` uint8 ``(B,H,W,3)``, ``depth``;
``class_ids`` int32, ``probabilities`` float32) and any ``H×W`` (the size policy is inside the graph). It is
checked against the in-memory module to ``format_export.VERIFY_TOLERANCE`` at the training size under the
``"resize"`` policy (where the resize is the identity) and at a size that needs padding under ``"pad"``. At other
sizes the ``"resize"`` policy rounds the resized uint8 image, and ONNX Runtime's bilinear ``Resize`` lands on the
other side of many exact .5 values (upsampling makes quarter fractions): one grey level on some input pixels,
probabilities that differ by up to ~3e-4 (measured on random weights; the test allows 1e-2 there). Other signatures are not carried (logged).
"""

from __future__ import annotations

import numpy as np

from rfbnet_tf.inference import format_export, serving

ONNX_OPSET = 17


def onnx_session(path_or_bytes, threads=None):
    """An ONNX Runtime CPU session of a model file (or its bytes); ``threads`` sets the intra-op threads."""
    try:
        import onnxruntime
    except ImportError as error:
        raise format_export.missing_converter("onnxruntime", error) from None
    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = int(threads)
    return onnxruntime.InferenceSession(path_or_bytes, options, providers=["CPUExecutionProvider"])


def run_onnx(session, images: dict) -> dict:
    """``{output name: numpy}`` of an ONNX Runtime session on ``{input name: numpy}``."""
    names = [output.name for output in session.get_outputs()]
    feed = {item.name: np.asarray(images[item.name]) for item in session.get_inputs()}
    return dict(zip(names, session.run(names, feed)))


def convert(module: serving.ServingModule, opset=ONNX_OPSET) -> bytes:
    """The serialized ONNX model of ``module.serve``."""
    try:
        import tf2onnx
    except ImportError as error:
        raise format_export.missing_converter("tf2onnx", error) from None
    function = module.serve
    proto, _ = tf2onnx.convert.from_function(function, input_signature=function.input_signature, opset=opset)
    return proto.SerializeToString()


def export_onnx(module: serving.ServingModule, path, opset=ONNX_OPSET, verify=True) -> str:
    """Write ``module``'s ``serving_default`` as an ONNX file at ``path`` (atomically); returns the path.

    Raises:
      ImportError: tf2onnx / onnxruntime missing (naming the extra to install).
      RuntimeError: ``verify`` found ONNX Runtime's probabilities differing from the module's.
    """
    data = convert(module, opset)
    if verify:
        spec = module.spec
        size = spec.model_size or (spec.size_divisor + 3, 2 * spec.size_divisor + 5)
        images = format_export.verification_images(spec, size)
        got = run_onnx(onnx_session(data), images)["probabilities"]
        format_export.check_probabilities(module.run(images)["probabilities"], got, "the ONNX export")
    format_export.log_not_carried(module, "ONNX")
    return format_export.write_file_atomically(path, data)
