"""Speed against the strongest CPU peer (``python -m rfbnet_tf.benchmark --peer``): our ``erfnet_enc`` and an
independent PyTorch ERFNet encoder (:func:`build_peer`, our weights copied in, so both compute the same
logits), timed interleaved round-robin in one process:

* ``ours/tensorflow`` — our fastest TensorFlow path (BN folded, ``tf.function``; ``model_latency``);
* ``ours/onnxruntime`` — the same folded model exported by tf2onnx (as ``export --format=onnx`` does) and run by
  ONNX Runtime;
* ``peer/onnxruntime`` — the PyTorch model exported by ``torch.onnx.export`` and run by ONNX Runtime (the peer);
* ``peer/torch`` — the PyTorch model itself (``torch.no_grad``).

Both ONNX Runtime sessions use the same options (all graph optimisations, ``threads`` intra-op threads). The
result holds every path's latency, the ratio ``peer/onnxruntime ÷ best of ours`` (≥ 1: ours is at least as fast)
and the largest logit difference between ours and the peer. Needs the extras ``[onnx]`` and ``[peer]``.

**The peer** (:func:`build_peer`): an independent PyTorch definition of the ERFNet encoder with the paper's decoder
(1×1 conv to the classes → bilinear ×8), written from the official ``erfnet_pytorch`` ``Encoder`` (Romera et al.
2018), NCHW, inference only. Optional extra ``[peer]`` (``torch``). Two deliberate departures from the official
code, so that the peer computes exactly our ``erfnet_enc`` function and the comparison is of speed only: the
downsampler's 3×3 stride-2 convolution pads bottom/right by one (TensorFlow's ``"same"``; the official code pads 1
on every side, the same FLOPs), and BN ε is 1e-3 (ours; the official 1e-3 too). :func:`copy_keras_weights` loads
our model's weights, so both produce the same logits (tested to 1e-4).
"""

from __future__ import annotations

import io
import warnings

import keras
import numpy as np

from rfbnet_tf.models import build_model
from rfbnet_tf.profiling import measurement
from rfbnet_tf.profiling.model_latency import optimized_inference, optimized_model
from rfbnet_tf.profiling.benchmark_report import size_text
from rfbnet_tf.profiling.measurement import time_interleaved
from rfbnet_tf.utils import processes

ONNX_OPSET = 17
STAGE1_UNITS, STAGE1_DILATIONS = 5, (1,) * 5
FUSED_DILATIONS = (2, 4, 8, 16, 2, 4, 8, 16)
STAGE1_DROPOUT, FUSED_DROPOUT = 0.03, 0.3  # the official Encoder's dropprob (ours: models.erfnet_backbone)
BN_EPSILON = 1e-3
TRAIN_SIZE, TRAIN_BATCH = (256, 512), 4  # (H, W), as every size here


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


def peer_comparison(size=(512, 1024), num_classes=19, runs=5, warmup=1, threads=None, seed=0, log=print,
                    spinning=True):
    """Time our ``erfnet_enc`` paths and the PyTorch peer side by side at ``size`` (H, W); see the module
    docstring. ``threads``: intra-op threads of ONNX Runtime and PyTorch (default: the CPUs this process may use);
    ``spinning``: ONNX Runtime's thread spin-waiting (both sessions).
    """
    torch = _torch()
    height, width = size
    threads = threads or processes.usable_cores()
    torch.set_num_threads(threads)
    log(f"[benchmark] peer comparison erfnet_enc {size_text(size)}, {threads} threads "
        f"(load average {measurement.load_average()})")
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
        "size": [height, width],
        "threads": threads,
        "onnxruntime_spinning": bool(spinning),
        "load_average": measurement.load_average(),
        "paths": stats,
        "max_abs_logit_difference_to_ours": differences,
        "max_abs_logit": float(np.max(np.abs(reference))),
        "fastest_ours": best,
        "peer_over_ours": stats["peer/onnxruntime"]["median_s"] / stats[best]["median_s"],
        "met": stats[best]["median_s"] <= stats["peer/onnxruntime"]["median_s"],
        "versions": _versions(),
    }


def train_step_comparison(size=TRAIN_SIZE, batch=TRAIN_BATCH, num_classes=19, runs=5, warmup=1, threads=None,
                          seed=0, log=print, bf16=None):
    """One ERFNetEnc training step, ours against the eager PyTorch peer, timed interleaved at ``batch`` and ``size``
    (H, W) on the same random batch (10 % of the labels ignored).

    * ``ours/tensorflow`` — the train binary's step (:func:`rfbnet_tf.profiling.train_step.make_trainer`:
      ``training.steps.make_train_step``, float32, fused batch norm, cross-entropy + L2 weight decay, Adam with the
      poly schedule, the batch's confusion matrix);
    * ``peer/torch`` — the peer in training mode (spatial dropout, batch statistics), eager: ``zero_grad``, forward,
      ``cross_entropy(ignore_index=255)`` + the same L2 term over the convolution kernels, ``backward``,
      ``torch.optim.Adam.step``;
    * with ``bf16`` (default: where the CPU has native bf16) also ``ours/tensorflow_bf16`` (the model under
      ``mixed_bfloat16``, as ``train --mixed_precision --mixed_precision_dtype=bfloat16``) and ``peer/torch_bf16``
      (the same eager step under ``torch.autocast("cpu", torch.bfloat16)``).

    ``ours_over_peer`` = ours ÷ peer per precision; the goal (``met``) is float32 ≤ :data:`TRAIN_STEP_GOAL`.
    """
    from rfbnet_tf.profiling.model_latency import bf16_model, bf16_supported
    from rfbnet_tf.profiling.train_step import TRAIN_LEARNING_RATE, make_trainer, random_labels

    torch = _torch()
    height, width = size
    threads = threads or processes.usable_cores()
    torch.set_num_threads(threads)
    bf16 = bf16_supported() if bf16 is None else bool(bf16)
    log(f"[benchmark] peer training step erfnet_enc batch {batch} {size_text(size)}, {threads} threads "
        f"(load average {measurement.load_average()})")
    keras.utils.set_random_seed(seed)
    model = build_model("erfnet_enc", num_classes)
    weight_decay = 5e-4
    nhwc = np.random.default_rng(seed).standard_normal((batch, height, width, 3), dtype=np.float32)
    labels = random_labels(batch, height, width, num_classes, seed=seed)
    nchw = np.ascontiguousarray(nhwc.transpose(0, 3, 1, 2))
    callables = {"ours/tensorflow": make_trainer(model, "erfnet_enc", num_classes, weight_decay)(({"rgb": nhwc}, labels))}
    if bf16:
        ours_bf16 = bf16_model(model, "erfnet_enc", num_classes)
        callables["ours/tensorflow_bf16"] = make_trainer(ours_bf16, "erfnet_enc", num_classes, weight_decay)(
            ({"rgb": nhwc}, labels))
    peers = [("peer/torch", False)] + ([("peer/torch_bf16", True)] if bf16 else [])
    for name, autocast in peers:
        peer = copy_keras_weights(build_peer(num_classes), model).train()
        callables[name] = _torch_train_step(torch, peer, nchw, labels, TRAIN_LEARNING_RATE, weight_decay, autocast)
    stats = time_interleaved(callables, warmup=warmup, runs=runs)
    ratios = {"float32": stats["ours/tensorflow"]["median_s"] / stats["peer/torch"]["median_s"]}
    if bf16:
        ratios["bfloat16"] = stats["ours/tensorflow_bf16"]["median_s"] / stats["peer/torch_bf16"]["median_s"]
        ratios["ours_bfloat16_over_peer_float32"] = (stats["ours/tensorflow_bf16"]["median_s"]
                                                     / stats["peer/torch"]["median_s"])
    return {
        "model": "erfnet_enc",
        "batch": batch,
        "size": [height, width],
        "threads": threads,
        "load_average": measurement.load_average(),
        "paths": stats,
        "ours_over_peer": ratios,
        "goal": TRAIN_STEP_GOAL,
        "met": ratios["float32"] <= TRAIN_STEP_GOAL,
        "versions": {"torch": torch.__version__},
    }


TRAIN_STEP_GOAL = 0.8
"""Our float32 training step at most this fraction of the eager PyTorch one (issue 26)."""


def _torch_train_step(torch, peer, nchw, labels, learning_rate, weight_decay, autocast=False):
    """``step()``: one eager training step of ``peer`` on the fixed batch; returns the loss (a float)."""
    inputs, targets = torch.from_numpy(nchw), torch.from_numpy(labels.astype(np.int64))
    optimizer = torch.optim.Adam(peer.parameters(), lr=learning_rate)
    kernels = [m.weight for m in peer.modules() if isinstance(m, torch.nn.Conv2d)]

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            logits = peer(inputs)
        loss = torch.nn.functional.cross_entropy(logits.float(), targets, ignore_index=255)
        loss = loss + weight_decay / 2 * sum(torch.sum(k * k) for k in kernels)
        loss.backward()
        optimizer.step()
        return float(loss)

    return step


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


def _torch():
    try:
        import torch
    except ImportError as error:
        from rfbnet_tf.inference.format_export import MissingConverterError

        raise MissingConverterError(f"the PyTorch peer needs torch ({error}); pip install 'rfbnet_tf[peer]'") from None
    return torch


def build_peer(num_classes: int):
    """The PyTorch ERFNet encoder + decoder (``torch.nn.Module``, eval mode, NCHW float32 in, logits NCHW out)."""
    torch = _torch()
    nn, functional = torch.nn, torch.nn.functional

    class Downsampler(nn.Module):
        def __init__(self, cin, cout):
            super().__init__()
            self.conv = nn.Conv2d(cin, cout - cin, 3, stride=2, padding=0, bias=True)
            self.bn = nn.BatchNorm2d(cout, eps=BN_EPSILON)

        def forward(self, x):
            pad_h, pad_w = x.shape[2] % 2 == 0, x.shape[3] % 2 == 0  # TensorFlow "same": bottom/right only
            conv = self.conv(functional.pad(x, (int(not pad_w), 1, int(not pad_h), 1)))
            return functional.relu(self.bn(torch.cat([conv, functional.max_pool2d(x, 2, 2)], 1)))

    class NonBottleneck1D(nn.Module):
        def __init__(self, channels, dilation, dropout):
            super().__init__()
            self.drop = nn.Dropout2d(dropout)
            self.conv3x1_1 = nn.Conv2d(channels, channels, (3, 1), padding=(1, 0), bias=True)
            self.conv1x3_1 = nn.Conv2d(channels, channels, (1, 3), padding=(0, 1), bias=True)
            self.bn1 = nn.BatchNorm2d(channels, eps=BN_EPSILON)
            self.conv3x1_2 = nn.Conv2d(channels, channels, (3, 1), padding=(dilation, 0), dilation=(dilation, 1),
                                       bias=True)
            self.conv1x3_2 = nn.Conv2d(channels, channels, (1, 3), padding=(0, dilation), dilation=(1, dilation),
                                       bias=True)
            self.bn2 = nn.BatchNorm2d(channels, eps=BN_EPSILON)

        def forward(self, x):
            y = functional.relu(self.conv3x1_1(x))
            y = functional.relu(self.bn1(self.conv1x3_1(y)))
            y = functional.relu(self.conv3x1_2(y))
            y = self.drop(self.bn2(self.conv1x3_2(y)))  # spatial dropout (identity at inference)
            return functional.relu(x + y)

    class ERFNetEncoder(nn.Module):
        def __init__(self):
            super().__init__()
            units = [Downsampler(3, 16), Downsampler(16, 64)]
            units += [NonBottleneck1D(64, d, STAGE1_DROPOUT) for d in STAGE1_DILATIONS]
            units += [Downsampler(64, 128)]
            units += [NonBottleneck1D(128, d, FUSED_DROPOUT) for d in FUSED_DILATIONS]
            self.units = nn.Sequential(*units)
            self.head = nn.Conv2d(128, num_classes, 1, bias=True)

        def forward(self, x):
            logits = self.head(self.units(x))
            return functional.interpolate(logits, scale_factor=8, mode="bilinear", align_corners=False)

    return ERFNetEncoder().eval()


def copy_keras_weights(peer, keras_model):
    """Load the weights of our ``erfnet_enc`` Keras model into ``peer`` (same unit order; HWIO → OIHW kernels)."""
    torch = _torch()
    convs, norms = [], []
    for layer in _leaf_layers(keras_model):
        kind = type(layer).__name__
        if kind == "Conv2D":
            convs.append(layer)
        elif kind == "BatchNormalization":
            norms.append(layer)
    peer_convs = [m for m in peer.modules() if isinstance(m, torch.nn.Conv2d)]
    peer_norms = [m for m in peer.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    if len(convs) != len(peer_convs) or len(norms) != len(peer_norms):
        raise ValueError(f"the Keras model has {len(convs)} convs / {len(norms)} BNs, the peer "
                         f"{len(peer_convs)} / {len(peer_norms)}: not an erfnet_enc model")
    with torch.no_grad():
        for source, target in zip(convs, peer_convs):
            kernel = np.asarray(source.kernel.numpy())
            target.weight.copy_(torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))))
            target.bias.copy_(torch.from_numpy(np.asarray(source.bias.numpy())))
        for source, target in zip(norms, peer_norms):
            for name, value in (("weight", source.gamma), ("bias", source.beta), ("running_mean", source.moving_mean),
                                ("running_var", source.moving_variance)):
                getattr(target, name).copy_(torch.from_numpy(np.asarray(value.numpy())))
    return peer


def _leaf_layers(layer):
    """Layers in call-definition order: a composite layer's sub-layers in the order its ``__init__``/``build``
    created them (the order of ``_layers``), depth first."""
    children = [child for child in getattr(layer, "_layers", []) if child is not layer]
    if not children:
        return [layer]
    out = []
    for child in children:
        out.extend(_leaf_layers(child))
    return out
