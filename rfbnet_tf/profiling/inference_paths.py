"""The two inference paths the benchmark compares, built for the active backend.

* plain — the model as trained: ``tf.function(model(x, training=False))`` (TensorFlow), ``jax.jit`` (JAX),
  ``torch.no_grad`` (PyTorch);
* optimised — the same function computed faster: batch norm folded into the preceding convolutions
  (``rfbnet_tf.models.batch_norm_folding.fold_batch_norm``: fewer element-wise passes over the feature maps, and
  TensorFlow's grappler can then fuse ``Conv2D + BiasAdd (+ Relu)``), in the same ``tf.function`` as the plain
  path. XLA (``jit_compile=True``) is an option, off by default on the CPU: measured interleaved on the 2-core
  machine it gained ~3 % on ``erfnet_enc`` at 1024×512 but cost 5–10 % on ``rfbnet_erfnet_enc`` and nothing on
  ``ssma_erfnet_enc`` (XLA's CPU convolutions are no faster than TensorFlow's, and its fusions do not pay for the
  many small GFU convolutions). JAX always compiles with XLA; PyTorch runs the folded model eagerly.

Where the time went before (op-level profile of ``erfnet_enc`` at 1024×512 on the 2-core CPU,
``rfbnet_tf.profiling.op_profile``): convolutions ~77 %, ReLU ~4 %, the BN multiplies and adds ~5 %, the
bilinear ×8 upsampling of the logits (slices, stack, weighted sums) ~9 %, ``SpaceToBatchND``/``BatchToSpaceND``
of the dilated convolutions ~4 %. The convolutions themselves already run at about the matrix product's FLOP/s
(``erfnet_enc`` reaches 90–100 % of it), so the gain of any rewrite that keeps the computation is bounded by the
non-convolution share; folding BN removes the BN passes (2–10 % measured).

bf16 — the model built under ``mixed_bfloat16`` (bf16 convolutions, float32 variables and logits) with the same
weights (``bf16_model``), timed only where the CPU has native bf16 arithmetic (``bf16_supported``: AVX512-BF16 or
AMX-BF16; elsewhere bf16 is emulated and slower than float32).

``output_difference`` checks that both paths compute the same function (the benchmark records it; the
tests require ≤ 1e-4).
"""

import keras
import numpy as np

from rfbnet_tf.models import build_model
from rfbnet_tf.models.batch_norm_folding import batch_norm_count, fold_batch_norm
from rfbnet_tf.profiling.backend_functions import inference_function


def optimized_model(model):
    """``(folded model, {"batch_norm_before", "batch_norm_after", "folded"})``."""
    folded = fold_batch_norm(model)
    before, after = batch_norm_count(model), batch_norm_count(folded)
    return folded, {"batch_norm_before": before, "batch_norm_after": after, "folded": before - after}


def bf16_supported(cpuinfo="/proc/cpuinfo"):
    """True where the CPU has native bf16 instructions (``avx512_bf16`` or ``amx_bf16`` among its flags)."""
    try:
        with open(cpuinfo, encoding="utf-8") as handle:
            flags = next((line.split(":", 1)[1].split() for line in handle if line.startswith("flags")), [])
    except OSError:
        return False
    return bool({"avx512_bf16", "amx_bf16"} & set(flags))


def bf16_model(model, model_name, num_classes):
    """``model_name`` built under ``mixed_bfloat16`` with ``model``'s weights (the global policy is restored)."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        copy = build_model(model_name, num_classes)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    copy.set_weights(model.get_weights())
    return copy


def plain_inference(model, inputs):
    """Zero-argument callable of the plain path."""
    return inference_function(model, inputs, jit_compile=False)


def optimized_inference(folded, inputs, jit_compile=False):
    """Zero-argument callable of the optimised path on an already folded model (``optimized_model``); XLA only
    with ``jit_compile=True`` (off by default, see the module docstring; JAX always compiles)."""
    if jit_compile and keras.backend.backend() != "tensorflow":
        jit_compile = False  # JAX jit is always XLA; torch has no jit_compile here
    return inference_function(folded, inputs, jit_compile=jit_compile)


def _flat(outputs):
    if isinstance(outputs, dict):
        return [outputs[k] for k in sorted(outputs)]
    if isinstance(outputs, (list, tuple)):
        return list(outputs)
    return [outputs]


def output_difference(a, b):
    """``(max |a − b|, max |a|)`` over all outputs of two inference results."""
    diff, scale = 0.0, 0.0
    for x, y in zip(_flat(a), _flat(b)):
        x = np.asarray(keras.ops.convert_to_numpy(x), np.float64)
        y = np.asarray(keras.ops.convert_to_numpy(y), np.float64)
        diff = max(diff, float(np.max(np.abs(x - y))))
        scale = max(scale, float(np.max(np.abs(x))))
    return diff, scale
