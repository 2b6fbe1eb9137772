"""Description of the machine and of the process's memory, recorded with every benchmark result.

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

import keras

from rfbnet_tf.utils import processes

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


def _ram_bytes():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
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
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


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
