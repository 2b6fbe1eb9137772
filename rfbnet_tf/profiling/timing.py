"""Latency statistics of callables: warm-up, then median and spread over timed runs.

Every timed call ends with ``block_until_ready`` on its result, so asynchronous backends (JAX, GPUs) are timed to
completion. ``time_interleaved`` runs several callables round-robin (A, B, C, A, B, C, ...) instead of one after
the other: on a shared machine whose load changes during the measurement, callables compared with each other (a
model and the reference matrix product, or the plain and the optimised inference path) then see the same load,
and their ratios are far more stable than their absolute times.
"""

import time

import numpy as np


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


def _check_counts(warmup, runs):
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be an int >= 0, received {warmup!r}")
    if isinstance(runs, bool) or not isinstance(runs, int) or runs < 1:
        raise ValueError(f"runs must be an int >= 1, received {runs!r}")


def time_interleaved(callables, warmup=1, runs=5, clock=time.perf_counter):
    """Time zero-argument ``callables`` (``{name: fn}``) round-robin; returns ``{name: summarize(...)}``.

    Each callable is first called ``warmup`` times (tracing, compilation, caches), then ``runs`` rounds call every
    callable once each, in order, timing each call to completion.
    """
    if not isinstance(callables, dict) or not callables or not all(callable(f) for f in callables.values()):
        raise ValueError(f"callables must be a non-empty dict of name -> callable, received {callables!r}")
    _check_counts(warmup, runs)
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
