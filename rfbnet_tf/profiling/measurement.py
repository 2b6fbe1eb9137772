"""What every measurement of the benchmark shares: how callables are timed, and the machine they ran on.

**Timing.** Latency statistics of callables, and the reference they are compared with.

Every timed call ends with ``block_until_ready`` on its result, so asynchronous backends (JAX, GPUs) are timed to
completion. ``time_interleaved`` runs several callables round-robin (A, B, C, A, B, C, ...) instead of one after
the other: on a shared machine whose load changes during the measurement, callables compared with each other (a
model and the reference matrix product, or the plain and the optimised inference path) then see the same load,
and their ratios are far more stable than their absolute times.

The reference of what the machine can do: a plain fp32 matrix product ``(n×n) @ (n×n)`` (:func:`matmul_function`),
compiled with the active backend's own compiler (``tf.function`` / ``jax.jit`` / torch eager), ``2·n³`` FLOPs (a
multiply-add = 2).  A model's achieved FLOP/s divided by this product's FLOP/s — measured in the same process,
interleaved with the model so that both see the same load — tells how well its kernels use the machine.

**The machine**, recorded with every benchmark result:

* ``describe_machine()`` — CPU model, logical and usable cores, RAM, OS, Python, the Keras backend and the versions
  of the numerical packages, visible accelerators, and environment switches that change kernel choice
  (``TF_ENABLE_ONEDNN_OPTS``, ``XLA_FLAGS``, thread counts).
* ``load_average()`` — the 1/5/15-minute load averages (other processes compete for the cores: record them at the
  start and the end of a run).
* ``peak_rss_bytes()`` — the process's resident-set high-water mark from ``resource.getrusage`` (``ru_maxrss``):
  monotonic over the process's life, so for a model measured after others it is the maximum over all of them.
  ``reset_peak_rss()`` + ``window_peak_rss_bytes()`` give a per-model peak on Linux (writing 5 to
  ``/proc/self/clear_refs`` resets ``VmHWM`` in ``/proc/self/status``; None where unsupported).
* ``device_memory_peak_bytes()`` / ``reset_device_memory_peak()`` — the accelerator's peak allocation
  (TensorFlow ``tf.config.experimental.get_memory_info``; JAX ``device.memory_stats()``); None without a GPU.
"""

import os
import platform
import resource
import sys
import time

import keras
import numpy as np

from rfbnet_tf.utils import processes
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


# ---------------------------------------------------------------------------------------------- the machine

ENV_SWITCHES = ("TF_ENABLE_ONEDNN_OPTS", "XLA_FLAGS", "OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "KERAS_BACKEND")


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _proc_bytes(path, key):
    """The ``key: <n> kB`` entry of a ``/proc`` file in bytes, or None (no such file or entry)."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _ram_bytes():
    total = _proc_bytes("/proc/meminfo", "MemTotal:")
    if total is not None:
        return total
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _versions(backend):
    versions = {"python": platform.python_version(), "keras": keras.__version__}
    modules = ["numpy", "tensorflow"] + {"jax": ["jax", "jaxlib"], "torch": ["torch"]}.get(backend, [])
    for name in modules:
        module = sys.modules.get(name)
        if module is None:
            try:
                module = __import__(name)
            except ImportError:
                continue
        versions[name] = getattr(module, "__version__", "unknown")
    return versions


def accelerators(backend=None):
    """Names of the visible GPUs/TPUs of the active backend (empty on a CPU-only machine)."""
    backend = backend or keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return [d.name for d in tf.config.list_physical_devices() if d.device_type in ("GPU", "TPU")]
    if backend == "jax":
        import jax

        return [str(d) for d in jax.devices() if d.platform != "cpu"]
    if backend == "torch":
        import torch

        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return []


def describe_machine():
    """A JSON-ready dict describing the machine, the software and the environment switches."""
    backend = keras.backend.backend()
    return {
        "cpu_model": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": processes.usable_cores(),
        "ram_bytes": _ram_bytes(),
        "platform": platform.platform(),
        "hostname": platform.node(),
        "backend": backend,
        "versions": _versions(backend),
        "accelerators": accelerators(backend),
        "environment": {name: os.environ.get(name) for name in ENV_SWITCHES},
    }


def load_average():
    """``[1 min, 5 min, 15 min]`` load averages, or None where the OS has none."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def peak_rss_bytes():
    """Resident-set high-water mark of this process (``resource.getrusage``; Linux reports KiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


def reset_peak_rss():
    """Reset the kernel's ``VmHWM`` of this process (Linux ≥ 4.0); returns True on success."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def window_peak_rss_bytes():
    """``VmHWM`` of ``/proc/self/status`` (the peak since the last ``reset_peak_rss``), or None."""
    return _proc_bytes("/proc/self/status", "VmHWM:")


def reset_device_memory_peak():
    """Reset the accelerator's peak-allocation counter where the backend supports it (TensorFlow GPUs)."""
    if keras.backend.backend() != "tensorflow":
        return
    import tensorflow as tf

    for device in tf.config.list_logical_devices("GPU"):
        tf.config.experimental.reset_memory_stats(device.name)


def device_memory_peak_bytes():
    """Peak accelerator memory in bytes (max over devices) or None on a CPU-only machine."""
    backend = keras.backend.backend()
    peaks = []
    if backend == "tensorflow":
        import tensorflow as tf

        for device in tf.config.list_logical_devices("GPU"):
            peaks.append(tf.config.experimental.get_memory_info(device.name)["peak"])
    elif backend == "jax":
        import jax

        for device in jax.devices():
            stats = device.memory_stats() if device.platform != "cpu" else None
            if stats and "peak_bytes_in_use" in stats:
                peaks.append(stats["peak_bytes_in_use"])
    elif backend == "torch":
        import torch

        peaks = [torch.cuda.max_memory_allocated(i) for i in range(torch.cuda.device_count())]
    return int(max(peaks)) if peaks else None
