"""``export_onnx``: the ``serving_default`` function of a :class:`~rfbnet_tf.inference.serving.ServingModule` as an
ONNX model (tf2onnx), run and checked by ONNX Runtime (both the optional extra ``[onnx]``).

The ONNX model has the SavedModel's inputs and outputs by name (``rgb`` uint8 ``(B,H,W,3)``, ``depth``;
``class_ids`` int32, ``probabilities`` float32) and any ``H×W`` (the size policy is inside the graph); the dynamic
dimensions are named ``batch``, ``height``, ``width`` (tf2onnx leaves ``unk__N``), the same names on every input and
output, since the outputs have the inputs' size.  It carries ``serving_default`` only — the network with its
normalisation and size policy —: the depth goes in as HHA (or completed depth), the raw-depth completion and HHA of
``serving_raw`` are the SavedModel's (TensorFlow) alone. It is
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
DIM_NAMES = ("batch", "height", "width")
"""Names of the dynamic dimensions 0, 1, 2 of every input and output (``B, H, W``; channels are fixed)."""


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
    name_dynamic_dims(proto.graph)
    return proto.SerializeToString()


def name_dynamic_dims(graph):
    """Name the dynamic dimensions 0, 1, 2 of ``graph``'s inputs and outputs :data:`DIM_NAMES` (in place), and
    rename tf2onnx's names for them (``unk__N``) the same way in the intermediate shapes, where unambiguous."""
    renamed = {}
    for value in list(graph.input) + list(graph.output):
        for dim, name in zip(value.type.tensor_type.shape.dim, DIM_NAMES):
            if not dim.HasField("dim_value"):
                if dim.dim_param:
                    renamed.setdefault(dim.dim_param, set()).add(name)
                dim.dim_param = name
    unique = {old: names.pop() for old, names in renamed.items() if len(names) == 1}
    for value in graph.value_info:
        for dim in value.type.tensor_type.shape.dim:
            if dim.HasField("dim_param") and dim.dim_param in unique:
                dim.dim_param = unique[dim.dim_param]


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


def export_file(module: serving.ServingModule, path, config, verify=True) -> str:
    """The ``export --format=onnx`` entry of :data:`rfbnet_tf.inference.format_export.FILE_FORMATS`."""
    return export_onnx(module, path, verify=verify)
