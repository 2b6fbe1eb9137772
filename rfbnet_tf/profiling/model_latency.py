"""Model latency: the inference callables the benchmark times, the paths it compares, and where their time goes.

**Inference callables** (:func:`inference_function`), batch fixed, ``training=False``, for the active backend:
TensorFlow ``tf.function(model(x, training=False))`` (optionally ``jit_compile=True``, XLA); JAX ``jax.jit`` of
``model.stateless_call`` (always XLA); PyTorch the eager model under ``torch.no_grad()``.  Inputs are random
(:func:`random_inputs`).

**Inference paths**:

* plain — the model as trained: ``tf.function(model(x, training=False))`` (TensorFlow), ``jax.jit`` (JAX),
  ``torch.no_grad`` (PyTorch);
* optimised — the same function computed faster: batch norm folded into the preceding convolutions
  (``rfbnet_tf.models.batch_norm_folding.fold_batch_norm``: fewer element-wise passes over the feature maps, and
  TensorFlow's grappler can then fuse ``Conv2D + BiasAdd (+ Relu)``), in the same ``tf.function`` as the plain
  path. XLA (``jit_compile=True``) is an option, off by default on the CPU: measured interleaved on the 2-core
  machine it gained ~3 % on ``erfnet_enc`` at 1024×512 but cost 5–10 % on ``rfbnet_erfnet_enc`` and nothing on
  ``ssma_erfnet_enc`` (XLA's CPU convolutions are no faster than TensorFlow's, and its fusions do not pay for the
  many small GFU convolutions). JAX always compiles with XLA; PyTorch runs the folded model eagerly.

Where the time went before (op profile, below, of ``erfnet_enc`` at 1024×512 on the 2-core CPU): convolutions
~77 %, ReLU ~4 %, the BN multiplies and adds ~5 %, the bilinear ×8 upsampling of the logits (slices, stack, weighted
sums) ~9 %, ``SpaceToBatchND``/``BatchToSpaceND`` of the dilated convolutions ~4 %. The convolutions themselves
already run at about the matrix product's FLOP/s (``erfnet_enc`` reaches 90–100 % of it), so the gain of any
rewrite that keeps the computation is bounded by the non-convolution share; folding BN removes the BN passes (2–10 %
measured).

bf16 — the model built under ``mixed_bfloat16`` (bf16 convolutions, float32 variables and logits) with the same
weights (``bf16_model``), timed only where the CPU has native bf16 arithmetic (``bf16_supported``: AVX512-BF16 or
AMX-BF16; elsewhere bf16 is emulated and slower than float32).

``output_difference`` checks that both paths compute the same function (the benchmark records it; the
tests require ≤ 1e-4).

**Op profile** (:func:`op_time_by_type`, TensorFlow backend only): where inference time goes, per op type.
The inference function is traced in a ``tf.function``, its variables are frozen into constants
(``convert_variables_to_constants_v2``) and the graph runs in a ``tf.compat.v1.Session`` with
``RunOptions(trace_level=FULL_TRACE)``; the ``step_stats`` of the run give each executed kernel's time. Grappler
optimises the frozen graph as it would the ``tf.function`` (e.g. ``Conv2D + BiasAdd + Relu`` fused into one
``_FusedConv2D``, reported under the op type the trace names). Times are summed per op type over ``runs`` runs
(after one warm-up run) and divided by ``runs``. On a machine with other load, absolute times are inflated but
the shares show the bottleneck. Caveat: with the weights frozen into constants grappler can also fold a BN's
multiplication into the convolution filter on its own, so the profile of an unfolded model understates the BN
cost of the ``tf.function`` path (whose weights are variables).
"""

import collections
import time

import keras
import numpy as np
from keras import ops

from rfbnet_tf.models import build_model, is_multimodal
from rfbnet_tf.models.batch_norm_folding import batch_norm_count, fold_batch_norm
from rfbnet_tf.utils.checks import int_at_least
from rfbnet_tf.utils.checks import boolean


def random_inputs(model_name, batch, height, width, depth_channels=3, seed=0):
    """Random float32 inputs of ``model_name``: one ``(B,H,W,3)`` array, or ``{"rgb", "depth"}``."""
    for label, value in (("batch", batch), ("height", height), ("width", width)):
        int_at_least(label, value, 1)
    rng = np.random.default_rng(seed)
    rgb = rng.standard_normal((batch, height, width, 3), dtype=np.float32)
    if not is_multimodal(model_name):
        return rgb
    depth = rng.standard_normal((batch, height, width, depth_channels), dtype=np.float32)
    return {"rgb": rgb, "depth": depth}


def _to_backend(value):
    if isinstance(value, dict):
        return {k: ops.convert_to_tensor(v) for k, v in value.items()}
    return ops.convert_to_tensor(value)


def inference_function(model, inputs, jit_compile=False):
    """A zero-argument callable running ``model(inputs, training=False)`` compiled for the active backend."""
    boolean("jit_compile", jit_compile)
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tensors = _to_backend(inputs)
        return tf.function(lambda: model(tensors, training=False), jit_compile=jit_compile, autograph=False)
    if backend == "jax":
        import jax

        tensors = _to_backend(inputs)
        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]

        @jax.jit
        def run(trainable, non_trainable, x):
            outputs, _ = model.stateless_call(trainable, non_trainable, x, training=False)
            return outputs

        return lambda: run(trainable, non_trainable, tensors)
    if backend == "torch":
        import torch

        tensors = _to_backend(inputs)

        def run():
            with torch.no_grad():
                return model(tensors, training=False)

        return run
    raise ValueError(f"unsupported Keras backend {backend!r}")


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


def frozen_inference_graph(model, input_shapes):
    """``(graph_def, {input key: tensor name}, output tensor names)`` of ``model(x, training=False)`` with its
    variables frozen. ``input_shapes``: a shape tuple or ``{name: shape}`` (static shapes)."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    from rfbnet_tf.profiling.flops import input_signature

    signature = input_signature(input_shapes)
    concrete = tf.function(lambda x: model(x, training=False), autograph=False).get_concrete_function(signature)
    frozen = convert_variables_to_constants_v2(concrete)
    keys = sorted(signature) if isinstance(signature, dict) else [None]
    inputs = dict(zip(keys, [t.name for t in frozen.inputs]))
    return frozen.graph.as_graph_def(), inputs, [t.name for t in frozen.outputs]


def _op_type(node_stats):
    label = node_stats.timeline_label
    if " = " in label:
        return label.split(" = ", 1)[1].split("(", 1)[0].strip()
    return node_stats.node_name.split(":")[0]


def op_time_by_type(model, input_shapes, runs=2, seed=0):
    """Per-op-type time of one inference of ``model`` at ``input_shapes``.

    Returns ``{"wall_s": median wall time of the traced runs, "ops": [{"op", "ms", "count", "share"}, ...]}``,
    sorted by time, ``share`` = the op type's fraction of all kernel time.
    """
    import tensorflow as tf

    int_at_least("runs", runs, 1)
    graph_def, inputs, outputs = frozen_inference_graph(model, input_shapes)
    graph = tf.Graph()
    with graph.as_default():
        tf.import_graph_def(graph_def, name="")
    rng = np.random.default_rng(seed)
    feed = {}
    for key, name in inputs.items():
        shape = graph.get_tensor_by_name(name).shape.as_list()
        feed[name] = rng.standard_normal(shape).astype(np.float32)
    options = tf.compat.v1.RunOptions(trace_level=tf.compat.v1.RunOptions.FULL_TRACE)
    totals, counts, walls = collections.defaultdict(float), collections.Counter(), []
    with tf.compat.v1.Session(graph=graph) as session:
        session.run(outputs, feed)
        for _ in range(runs):
            metadata = tf.compat.v1.RunMetadata()
            start = time.perf_counter()
            session.run(outputs, feed, options=options, run_metadata=metadata)
            walls.append(time.perf_counter() - start)
            for device in metadata.step_stats.dev_stats:
                for node in device.node_stats:
                    op = _op_type(node)
                    totals[op] += node.op_end_rel_micros / 1e3
                    counts[op] += 1
    overall = sum(totals.values()) or 1.0
    rows = [
        {"op": op, "ms": ms / runs, "count": counts[op] // runs, "share": ms / overall}
        for op, ms in sorted(totals.items(), key=lambda kv: -kv[1])
    ]
    return {"wall_s": float(np.median(walls)), "ops": rows}


def format_op_table(profile, top=12):
    """The ``top`` op types of ``op_time_by_type``'s result as text lines."""
    lines = [f"{'op type':28s} {'ms':>10s} {'count':>6s} {'share':>7s}"]
    for row in profile["ops"][:top]:
        lines.append(f"{row['op']:28s} {row['ms']:10.1f} {row['count']:6d} {row['share']:7.1%}")
    return "\n".join(lines)
