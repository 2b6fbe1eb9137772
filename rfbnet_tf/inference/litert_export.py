"""``export_litert``: the ``serving_default`` function of a :class:`~rfbnet_tf.inference.serving.ServingModule` as
a LiteRT (TensorFlow Lite) flatbuffer, built-in operators only, so the ``ai-edge-litert`` interpreter runs it
without TensorFlow.

LiteRT's converter legalises the convolutions only with static spatial sizes, so the flatbuffer has one fixed
input shape ``(1, h, w, C)``: the run's training ``image_size`` (where the size policy is an identity). Inputs and
outputs keep their names in the signature ``serving_default`` (``interpreter.get_signature_runner()``). The export
is checked against the in-memory module to ``format_export.VERIFY_TOLERANCE``; other signatures are not carried
(logged).
"""

from __future__ import annotations

import tensorflow as tf

from rfbnet_tf.inference import format_export, input_spec, serving
from rfbnet_tf.utils import checks


def litert_runner(model_content: bytes):
    """The ``serving_default`` signature runner of a LiteRT flatbuffer (``ai_edge_litert``, else ``tf.lite``)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        Interpreter = tf.lite.Interpreter
    return Interpreter(model_content=model_content).get_signature_runner(input_spec.SIGNATURE_DEFAULT)


def convert(module: serving.ServingModule, size) -> bytes:
    """The LiteRT flatbuffer of ``module.serve`` at the fixed input size ``(h, w)``, batch 1."""
    signature = [tf.TensorSpec([1, *size, *spec.shape[3:]], spec.dtype, name=spec.name)
                 for spec in module.serve.input_signature]
    function = tf.function(module.serve.python_function, input_signature=signature, autograph=False)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function.get_concrete_function()], module)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return converter.convert()


def export_litert(module: serving.ServingModule, path, size, verify=True) -> str:
    """Write ``module``'s ``serving_default`` at the fixed input size ``size = (h, w)`` as a LiteRT file at
    ``path`` (atomically); returns the path.

    Raises:
      ValueError: ``size`` is not two positive ints.
      RuntimeError: ``verify`` found the interpreter's probabilities differing from the module's.
    """
    if not checks.is_size_hw(size):
        raise ValueError(f"the LiteRT export needs a fixed input size (height, width), received {size!r}")
    size = (int(size[0]), int(size[1]))
    data = convert(module, size)
    if verify:
        images = format_export.verification_images(module.spec, size)
        got = litert_runner(data)(**images)["probabilities"]
        format_export.check_probabilities(module.run(images)["probabilities"], got, "the LiteRT export")
    format_export.log_not_carried(module, "LiteRT", f"; fixed input shape 1x{size[0]}x{size[1]}")
    return format_export.write_file_atomically(path, data)


def export_file(module: serving.ServingModule, path, config, verify=True) -> str:
    """The ``export --format=litert`` entry of :data:`rfbnet_tf.inference.format_export.FILE_FORMATS`: the fixed
    input size is the run's ``image_size``."""
    if not config.data.image_size:
        raise ValueError("the LiteRT export has a fixed input size, the run's image_size, but flags.json has "
                         "image_size=None")
    return export_litert(module, path, tuple(int(v) for v in config.data.image_size), verify=verify)
