"""Speed against the strongest CPU peer (``python -m rfbnet_tf.benchmark --peer``): our ``erfnet_enc`` and an
independent PyTorch ERFNet encoder (:mod:`rfbnet_tf.profiling.torch_erfnet`, our weights copied in, so both
compute the same logits), timed interleaved round-robin in one process:

* ``ours/tensorflow`` — our fastest TensorFlow path (BN folded, ``tf.function``; ``inference_paths``);
* ``ours/onnxruntime`` — the same folded model exported by tf2onnx (as ``export --format=onnx`` does) and run by
  ONNX Runtime;
* ``peer/onnxruntime`` — the PyTorch model exported by ``torch.onnx.export`` and run by ONNX Runtime (the peer);
* ``peer/torch`` — the PyTorch model itself (``torch.no_grad``).

Both ONNX Runtime sessions use the same options (all graph optimisations, ``threads`` intra-op threads). The
result holds every path's latency, the ratio ``peer/onnxruntime ÷ best of ours`` (≥ 1: ours is at least as fast)
and the largest logit difference between ours and the peer. Needs the extras ``[onnx]`` and ``[peer]``.
"""

from __future__ import annotations

import io
import os
import warnings

import keras
import numpy as np

from rfbnet_tf.models import build_model
from rfbnet_tf.profiling import machine
from rfbnet_tf.profiling.inference_paths import optimized_inference, optimized_model
from rfbnet_tf.profiling.timing import time_interleaved
from rfbnet_tf.profiling.torch_erfnet import _torch, build_peer, copy_keras_weights

ONNX_OPSET = 17


def keras_to_onnx(model, shape) -> bytes:
    """Our Keras model as ONNX (tf2onnx, fixed NHWC input ``shape``, input ``x``, output ``logits``)."""
    import tensorflow as tf

    from rfbnet_tf.inference.onnx_export import ONNX_OPSET as opset
    try:
        import tf2onnx
    except ImportError as error:
        from rfbnet_tf.inference.format_export import missing_converter

        raise missing_converter("tf2onnx", error) from None
    function = tf.function(lambda x: {"logits": model(x, training=False)}, autograph=False)
    signature = [tf.TensorSpec(shape, tf.float32, name="x")]
    proto, _ = tf2onnx.convert.from_function(function, input_signature=signature, opset=opset)
    return proto.SerializeToString()


def torch_to_onnx(peer, shape) -> bytes:
    """The PyTorch peer as ONNX (``torch.onnx.export``, fixed NCHW input ``shape``)."""
    torch = _torch()
    buffer = io.BytesIO()
    example = torch.zeros(shape)
    with warnings.catch_warnings():  # the tracer's notes on the downsampler's size-dependent padding (fixed here)
        warnings.simplefilter("ignore")
        return _export(torch, peer, example, buffer)


def _export(torch, peer, example, buffer):
    try:  # the TorchScript exporter: one plain graph, no onnxscript needed
        torch.onnx.export(peer, (example,), buffer, input_names=["x"], output_names=["logits"],
                          opset_version=ONNX_OPSET, dynamo=False)
    except (TypeError, RuntimeError):  # torch versions without it: the dynamo exporter (needs onnxscript)
        buffer = io.BytesIO()
        program = torch.onnx.export(peer, (example,), input_names=["x"], output_names=["logits"], dynamo=True)
        program.optimize()
        program.save(buffer)
    return buffer.getvalue()


def ort_session(model_bytes, threads, spinning=True):
    """An ONNX Runtime CPU session with every graph optimisation and ``threads`` intra-op threads; ``spinning``:
    idle worker threads spin-wait (ONNX Runtime's default; fast on idle cores, costly on oversubscribed ones)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = int(threads)
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    return onnxruntime.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


def peer_comparison(size=(1024, 512), num_classes=19, runs=5, warmup=1, threads=None, seed=0, log=print,
                    spinning=True):
    """Time our ``erfnet_enc`` paths and the PyTorch peer side by side at ``size`` = (W, H); see the module
    docstring. ``threads``: intra-op threads of ONNX Runtime and PyTorch (default: the CPUs this process may use);
    ``spinning``: ONNX Runtime's thread spin-waiting (both sessions).
    """
    torch = _torch()
    width, height = size
    threads = threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    log(f"[benchmark] peer comparison erfnet_enc {width}x{height}, {threads} threads "
        f"(load average {machine.load_average()})")
    keras.utils.set_random_seed(seed)
    model = build_model("erfnet_enc", num_classes)
    _perturb_batch_norm(model, seed)
    folded = optimized_model(model)[0]
    peer = copy_keras_weights(build_peer(num_classes), model)
    nhwc = np.random.default_rng(seed).standard_normal((1, height, width, 3), dtype=np.float32)
    nchw = np.ascontiguousarray(nhwc.transpose(0, 3, 1, 2))
    ours_session = ort_session(keras_to_onnx(folded, nhwc.shape), threads, spinning)
    peer_session = ort_session(torch_to_onnx(peer, nchw.shape), threads, spinning)
    peer_input = torch.from_numpy(nchw)

    def run_peer_torch():
        with torch.no_grad():
            return peer(peer_input)

    callables = {
        "ours/tensorflow": optimized_inference(folded, nhwc),
        "ours/onnxruntime": lambda: ours_session.run(None, {"x": nhwc})[0],
        "peer/onnxruntime": lambda: peer_session.run(None, {"x": nchw})[0],
        "peer/torch": run_peer_torch,
    }
    outputs = {name: np.asarray(keras.ops.convert_to_numpy(fn())) for name, fn in callables.items()}
    reference = outputs["ours/tensorflow"]
    differences = {name: float(np.max(np.abs(_nhwc(name, out) - reference))) for name, out in outputs.items()}
    stats = time_interleaved(callables, warmup=warmup, runs=runs)
    best = min(("ours/tensorflow", "ours/onnxruntime"), key=lambda name: stats[name]["median_s"])
    return {
        "model": "erfnet_enc",
        "size": [width, height],
        "threads": threads,
        "onnxruntime_spinning": bool(spinning),
        "load_average": machine.load_average(),
        "paths": stats,
        "max_abs_logit_difference_to_ours": differences,
        "max_abs_logit": float(np.max(np.abs(reference))),
        "fastest_ours": best,
        "peer_over_ours": stats["peer/onnxruntime"]["median_s"] / stats[best]["median_s"],
        "met": stats[best]["median_s"] <= stats["peer/onnxruntime"]["median_s"],
        "versions": _versions(),
    }


def _nhwc(name, output):
    return output.transpose(0, 2, 3, 1) if name.startswith("peer/") else output


def _perturb_batch_norm(model, seed):
    """Non-trivial BN statistics (a fresh model's are 0 / 1), so that folding and copying them is exercised."""
    rng = np.random.default_rng(seed)
    for variable in model.non_trainable_variables:
        if "moving_mean" in variable.path:
            variable.assign(0.1 * rng.standard_normal(variable.shape).astype("float32"))
        elif "moving_variance" in variable.path:
            variable.assign(rng.uniform(0.5, 1.5, variable.shape).astype("float32"))


def _versions():
    import onnxruntime
    import tf2onnx

    return {"torch": _torch().__version__, "onnxruntime": onnxruntime.__version__, "tf2onnx": tf2onnx.__version__}
