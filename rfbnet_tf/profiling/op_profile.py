"""Where inference time goes: per-op-type time of a model's TensorFlow graph (TensorFlow backend only).

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

import numpy as np
import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, received {value!r}")
    return value


def frozen_inference_graph(model, input_shapes):
    """``(graph_def, {input key: tensor name}, output tensor names)`` of ``model(x, training=False)`` with its
    variables frozen. ``input_shapes``: a shape tuple or ``{name: shape}`` (static shapes)."""
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
    _positive_int("runs", runs)
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
    ops = [
        {"op": op, "ms": ms / runs, "count": counts[op] // runs, "share": ms / overall}
        for op, ms in sorted(totals.items(), key=lambda kv: -kv[1])
    ]
    return {"wall_s": float(np.median(walls)), "ops": ops}


def format_op_table(profile, top=12):
    """The ``top`` op types of ``op_time_by_type``'s result as text lines."""
    lines = [f"{'op type':28s} {'ms':>10s} {'count':>6s} {'share':>7s}"]
    for row in profile["ops"][:top]:
        lines.append(f"{row['op']:28s} {row['ms']:10.1f} {row['count']:6d} {row['share']:7.1%}")
    return "\n".join(lines)
