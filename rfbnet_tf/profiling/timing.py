"""Latency statistics of callables, and the reference they are compared with.

Every timed call ends with ``block_until_ready`` on its result, so asynchronous backends (JAX, GPUs) are timed to
completion. ``time_interleaved`` runs several callables round-robin (A, B, C, A, B, C, ...) instead of one after
the other: on a shared machine whose load changes during the measurement, callables compared with each other (a
model and the reference matrix product, or the plain and the optimised inference path) then see the same load,
and their ratios are far more stable than their absolute times.

The reference of what the machine can do: a plain fp32 matrix product ``(n×n) @ (n×n)`` (:func:`matmul_function`),
compiled with the active backend's own compiler (``tf.function`` / ``jax.jit`` / torch eager), ``2·n³`` FLOPs (a
multiply-add = 2).  A model's achieved FLOP/s divided by this product's FLOP/s — measured in the same process,
interleaved with the model so that both see the same load — tells how well its kernels use the machine.
"""

import time

import keras
import numpy as np

from rfbnet_tf.utils.checks import int_at_least

DEFAULT_MATMUL_SIZE = 2048


def block_until_ready(value):
    """Wait until every array in ``value`` (a tensor, or a list/tuple/dict of them) is computed; returns it."""
    if isinstance(value, dict):
        for v in value.values():
            block_until_ready(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            block_until_ready(v)
    elif hasattr(value, "block_until_ready"):  # JAX
        value.block_until_ready()
    elif hasattr(value, "numpy") and hasattr(value, "shape"):  # TF eager tensor / torch tensor
        _sync_one_element(value)
    return value


def _sync_one_element(tensor):
    """Copy one element to the host (forces completion without copying the whole tensor)."""
    if tensor.shape is not None and len(tensor.shape) > 0 and all(int(d) > 0 for d in tensor.shape):
        index = (0,) * len(tensor.shape)
        element = tensor[index]
    else:
        element = tensor
    if type(element).__module__.startswith("torch"):
        element = element.cpu()
    np.asarray(element)


def summarize(seconds):
    """Statistics of a list of durations (seconds): median, p10, p90, min, mean, runs."""
    values = np.asarray(seconds, dtype=np.float64)
    if values.size == 0:
        raise ValueError(f"no durations to summarize, received {seconds!r}")
    return {
        "median_s": float(np.median(values)),
        "p10_s": float(np.percentile(values, 10)),
        "p90_s": float(np.percentile(values, 90)),
        "min_s": float(values.min()),
        "mean_s": float(values.mean()),
        "runs": int(values.size),
    }


def time_interleaved(callables, warmup=1, runs=5, clock=time.perf_counter):
    """Time zero-argument ``callables`` (``{name: fn}``) round-robin; returns ``{name: summarize(...)}``.

    Each callable is first called ``warmup`` times (tracing, compilation, caches), then ``runs`` rounds call every
    callable once each, in order, timing each call to completion.
    """
    if not isinstance(callables, dict) or not callables or not all(callable(f) for f in callables.values()):
        raise ValueError(f"callables must be a non-empty dict of name -> callable, received {callables!r}")
    int_at_least("warmup", warmup, 0)
    int_at_least("runs", runs, 1)
    for fn in callables.values():
        for _ in range(warmup):
            block_until_ready(fn())
    durations = {name: [] for name in callables}
    for _ in range(runs):
        for name, fn in callables.items():
            start = clock()
            block_until_ready(fn())
            durations[name].append(clock() - start)
    return {name: summarize(values) for name, values in durations.items()}


def time_callable(fn, warmup=1, runs=5, clock=time.perf_counter):
    """Latency statistics of one zero-argument callable (see ``time_interleaved``)."""
    return time_interleaved({"fn": fn}, warmup=warmup, runs=runs, clock=clock)["fn"]


def matmul_flops(n):
    """FLOPs of one ``(n×n) @ (n×n)`` product: ``2·n³``."""
    n = int_at_least("matmul size", n, 1)
    return 2 * n**3


def matmul_function(n=DEFAULT_MATMUL_SIZE, seed=0):
    """A zero-argument callable computing ``a @ b`` for fixed random fp32 ``n×n`` matrices."""
    n = int_at_least("matmul size", n, 1)
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        a, b = tf.constant(a), tf.constant(b)
        product = tf.function(lambda: tf.matmul(a, b), autograph=False)
        return product
    if backend == "jax":
        import jax

        a, b = jax.device_put(a), jax.device_put(b)
        product = jax.jit(lambda x, y: x @ y)
        return lambda: product(a, b)
    if backend == "torch":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
        a, b = torch.from_numpy(a).to(device), torch.from_numpy(b).to(device)

        def product():
            with torch.no_grad():
                return a @ b

        return product
    raise ValueError(f"unsupported Keras backend {backend!r}")
