"""Floating-point operations counted from a traced TensorFlow graph (not estimated by hand).

The model is traced in a ``tf.function`` with fully static input shapes (batch 1 by default) and every op of the
concrete function's graph is counted from its static input/output shapes:

* multiply-add ops — a multiply-add counts as **2 FLOPs**:
  ``Conv2D`` / ``_FusedConv2D``: ``2 · |output| · k_h · k_w · C_in``;
  ``DepthwiseConv2dNative``: ``2 · |output| · k_h · k_w``;
  ``Conv2DBackpropInput`` (transposed convolution): ``2 · |input of the transposed conv| · k_h · k_w · C_in · C_out``
  (every input element is scattered to ``k_h·k_w·C_out`` outputs);
  ``MatMul`` / ``BatchMatMul*``: ``2 · M · N · K`` per matrix.
  A dilated convolution that Keras runs as ``SpaceToBatchND → Conv2D → BatchToSpaceND`` is counted on the
  ``BatchToSpaceND`` output, i.e. without the padding rows SpaceToBatchND adds (the FLOPs the model defines, not
  the padding the kernel also computes).
* element-wise ops (``BiasAdd``, ``AddV2``, ``Mul``, ``Relu``, ``Sigmoid``, ...): 1 FLOP per output element
  (transcendentals such as ``Sigmoid`` also count 1);
* pooling: ``k_h · k_w`` per output element; reductions (``Mean``, ``Sum``, ``Max``): 1 per input element.

Data movement (``Reshape``, ``ConcatV2``, ``Transpose``, ``SpaceToBatchND``, slicing, ...) counts 0. The same
per-op rules as TensorFlow's own profiler (``tf.compat.v1.profiler`` ``float_ops``) for the convolution and matrix
ops; ``tests/test_benchmark.py`` checks a single Conv2D against the hand count ``2·H·W·K·K·C_in·C_out`` and against
the TF profiler. Per-channel work on weights (e.g. a BN's ``rsqrt(var + ε)·γ``) is included; it is negligible.

TensorFlow only: under other Keras backends there is no TF graph, and the benchmark reports FLOPs as null (or
reuses the number from a previous TensorFlow JSON).
"""

import dataclasses

import numpy as np
import tensorflow as tf

from rfbnet_tf.utils import checks

MULTIPLY_ADD_OPS = (
    "Conv2D",
    "_FusedConv2D",
    "DepthwiseConv2dNative",
    "Conv2DBackpropInput",
    "MatMul",
    "_FusedMatMul",
    "BatchMatMul",
    "BatchMatMulV2",
    "BatchMatMulV3",
)
ELEMENTWISE_OPS = (
    "Abs",
    "Add",
    "AddN",
    "AddV2",
    "BiasAdd",
    "Elu",
    "Exp",
    "Erf",
    "FloorDiv",
    "Log",
    "LeakyRelu",
    "Maximum",
    "Minimum",
    "Mul",
    "Neg",
    "RealDiv",
    "Reciprocal",
    "Relu",
    "Relu6",
    "Rsqrt",
    "Selu",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "Sqrt",
    "Square",
    "SquaredDifference",
    "Sub",
    "Tanh",
)
POOL_OPS = ("MaxPool", "AvgPool")
REDUCTION_OPS = ("Mean", "Sum", "Max", "Min", "Prod")


@dataclasses.dataclass
class FlopCount:
    """FLOPs of one traced graph.

    Attributes:
      total: every counted FLOP (``multiply_add + other``).
      multiply_add: FLOPs of the convolution and matrix ops (a multiply-add = 2 FLOPs).
      other: element-wise, pooling and reduction FLOPs.
      by_op_type: ``{op type: FLOPs}``.
      uncounted: op types with a FLOP rule whose shapes were not static (their FLOPs are missing from the total).
    """

    total: int
    multiply_add: int
    other: int
    by_op_type: dict
    uncounted: list

    def as_dict(self):
        return dataclasses.asdict(self)


def _num_elements(tensor):
    shape = tensor.shape
    if shape.rank is None or not shape.is_fully_defined():
        return None
    return int(np.prod(shape.as_list(), dtype=np.int64))


def _static(tensor):
    shape = tensor.shape
    if shape.rank is None or not shape.is_fully_defined():
        return None
    return shape.as_list()


def _useful_conv_output(op):
    """Output elements of a convolution, without SpaceToBatchND padding when it implements a dilation."""
    consumers = op.outputs[0].consumers()
    source = op.inputs[0].op
    if source.type == "SpaceToBatchND" and len(consumers) == 1 and consumers[0].type == "BatchToSpaceND":
        return _num_elements(consumers[0].outputs[0])
    return _num_elements(op.outputs[0])


def _multiply_add_flops(op):
    t = op.type
    if t in ("Conv2D", "_FusedConv2D"):
        kernel, out = _static(op.inputs[1]), _useful_conv_output(op)
        if kernel is None or out is None:
            return None
        return 2 * out * kernel[0] * kernel[1] * kernel[2]
    if t == "DepthwiseConv2dNative":
        kernel, out = _static(op.inputs[1]), _useful_conv_output(op)
        if kernel is None or out is None:
            return None
        return 2 * out * kernel[0] * kernel[1]
    if t == "Conv2DBackpropInput":
        kernel, grad = _static(op.inputs[1]), _num_elements(op.inputs[2])
        if kernel is None or grad is None:
            return None
        # kernel (k_h, k_w, C_out_of_transposed, C_in_of_transposed); grad = the transposed conv's input.
        return 2 * grad * kernel[0] * kernel[1] * kernel[2]
    a, b = _static(op.inputs[0]), _static(op.inputs[1])
    if a is None or b is None:
        return None
    if t in ("MatMul", "_FusedMatMul"):
        m, k = (a[1], a[0]) if op.get_attr("transpose_a") else (a[0], a[1])
        n = b[0] if op.get_attr("transpose_b") else b[1]
        return 2 * m * n * k
    adj_x = op.get_attr("adj_x")
    m, k = (a[-1], a[-2]) if adj_x else (a[-2], a[-1])
    out = _static(op.outputs[0])
    if out is None:
        return None
    batch = int(np.prod(out[:-2], dtype=np.int64)) if len(out) > 2 else 1
    n = out[-1]
    return 2 * batch * m * n * k


def _op_flops(op):
    """FLOPs of one op: ``(flops, counted_kind)``; flops None when a counted op has unknown shapes."""
    t = op.type
    if t in MULTIPLY_ADD_OPS:
        return _multiply_add_flops(op), "multiply_add"
    if t in ELEMENTWISE_OPS:
        return (None if not op.outputs else _num_elements(op.outputs[0])), "other"
    if t in POOL_OPS:
        out = _num_elements(op.outputs[0])
        ksize = op.get_attr("ksize")
        return (None if out is None else out * int(ksize[1]) * int(ksize[2])), "other"
    if t in REDUCTION_OPS:
        return _num_elements(op.inputs[0]), "other"
    return 0, None


def graph_flops(graph):
    """Count the FLOPs of every op of ``graph`` (a ``tf.Graph`` / ``FuncGraph``); returns a ``FlopCount``."""
    if not isinstance(graph, tf.Graph):
        raise ValueError(f"graph_flops needs a tf.Graph (e.g. concrete_function.graph), received {type(graph)!r}")
    by_type, uncounted = {}, set()
    multiply_add = other = 0
    for op in graph.get_operations():
        flops, kind = _op_flops(op)
        if kind is None:
            continue
        if flops is None:
            uncounted.add(op.type)
            continue
        by_type[op.type] = by_type.get(op.type, 0) + int(flops)
        if kind == "multiply_add":
            multiply_add += int(flops)
        else:
            other += int(flops)
    return FlopCount(multiply_add + other, multiply_add, other, dict(sorted(by_type.items())), sorted(uncounted))


def _spec(value):
    if isinstance(value, tf.TensorSpec):
        return value
    shape = tuple(value)
    if not shape or not all(checks.is_int(d) and d > 0 for d in shape):
        raise ValueError(f"input shape must be a tuple of positive ints (static), received {value!r}")
    return tf.TensorSpec(shape, tf.float32)


def input_signature(input_shapes):
    """``tf.TensorSpec`` (or a dict of them) from a shape tuple or ``{name: shape}``."""
    if isinstance(input_shapes, dict):
        return {key: _spec(shape) for key, shape in input_shapes.items()}
    return _spec(input_shapes)


def traced_graph(model, input_shapes):
    """Graph of ``model(x, training=False)`` traced in a ``tf.function`` at the static ``input_shapes``."""
    signature = input_signature(input_shapes)
    return tf.function(lambda x: model(x, training=False), autograph=False).get_concrete_function(signature).graph


def model_flops(model, input_shapes):
    """FLOPs of one inference of ``model`` at ``input_shapes`` (a shape tuple, or ``{input name: shape}`` for
    multimodal models), counted from the traced graph (see the module docstring)."""
    return graph_flops(traced_graph(model, input_shapes))


def profiler_float_ops(graph):
    """TensorFlow's own count (``tf.compat.v1.profiler`` ``float_operation``) of ``graph`` — an independent check."""
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return int(tf.compat.v1.profiler.profile(graph=graph, options=options).total_float_ops)
