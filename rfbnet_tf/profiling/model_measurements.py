"""Every measurement of one model at its sizes (:func:`benchmark_model`): parameters, FLOPs, latency of the plain
and optimised paths interleaved with the matrix product, throughput, a training step, the op profile, memory."""

from __future__ import annotations

import gc
import time

import keras
import numpy as np

from rfbnet_tf.models import build_model, is_multimodal
from rfbnet_tf.profiling import machine
from rfbnet_tf.profiling.backend_functions import random_inputs, random_labels, train_step_function
from rfbnet_tf.profiling.inference_paths import (
    bf16_model,
    bf16_supported,
    optimized_inference,
    optimized_model,
    output_difference,
    plain_inference,
)
from rfbnet_tf.profiling.matmul_reference import matmul_flops
from rfbnet_tf.profiling.timing import time_callable, time_interleaved

FLOPS_METHOD = (
    "counted from the TensorFlow graph of tf.function(model(x, training=False)) at batch 1: Conv2D 2*|out|*kh*kw*Cin, "
    "DepthwiseConv 2*|out|*kh*kw, Conv2DBackpropInput 2*|in|*kh*kw*Cin*Cout, MatMul 2*M*N*K (a multiply-add = 2 "
    "FLOPs; dilated convs counted without SpaceToBatchND padding), element-wise ops 1 per output element, pooling "
    "kh*kw per output, reductions 1 per input (rfbnet_tf.profiling.flops)"
)


def flops_lookup(reference):
    """``{(model, (W, H)): flops dict}`` from a previous benchmark JSON (or None)."""
    if not reference:
        return {}
    table = {}
    for row in reference.get("results", []):
        if row.get("flops"):
            table[(row["model"], tuple(row["size"]))] = row["flops"]
    return table


def _count_flops(model, model_name, width, height, reference_table, reference_path):
    if keras.backend.backend() == "tensorflow":
        from rfbnet_tf.profiling.flops import model_flops

        shape = (1, height, width, 3)
        shapes = {"rgb": shape, "depth": shape} if is_multimodal(model_name) else shape
        return model_flops(model, shapes).as_dict(), "tensorflow_graph"
    found = reference_table.get((model_name, (width, height)))
    if found:
        return found, f"previous_json:{reference_path}"
    return None, None


def _rate(flops, seconds):
    return None if flops is None else flops / seconds


def _measure_inference(model, folded, inputs, flops_total, settings, matmul, bf16=None):
    callables = {"matmul": matmul, "plain": plain_inference(model, inputs)}
    if folded is not None:
        callables["optimized"] = optimized_inference(folded, inputs, settings["jit_compile"])
    if bf16 is not None:
        callables["bf16"] = plain_inference(bf16, inputs)
    stats = time_interleaved(callables, warmup=settings["warmup"], runs=settings["runs"])
    matmul_rate = matmul_flops(settings["matmul_size"]) / stats["matmul"]["median_s"]
    result = {"matmul": {**stats["matmul"], "flops_per_s": matmul_rate}}
    for path in ("plain", "optimized", "bf16"):
        if path not in stats:
            continue
        rate = _rate(flops_total, stats[path]["median_s"])
        result[path] = {
            **stats[path],
            "flops_per_s": rate,
            "fraction_of_matmul": None if rate is None else rate / matmul_rate,
        }
    if "optimized" in callables:
        diff, scale = output_difference(callables["plain"](), callables["optimized"]())
        result["optimized"]["max_abs_output_difference"] = diff
        result["optimized"]["max_abs_output"] = scale
        result["speedup"] = stats["plain"]["median_s"] / stats["optimized"]["median_s"]
    if "bf16" in callables:
        diff, scale = output_difference(callables["plain"](), callables["bf16"]())
        result["bf16"].update(max_abs_output_difference=diff, max_abs_output=scale,
                              speedup=stats["plain"]["median_s"] / stats["bf16"]["median_s"])
    return result


def _measure_throughput(model, folded, model_name, width, height, flops_total, settings):
    batch = settings["throughput_batch"]
    inputs = random_inputs(model_name, batch, height, width, seed=1)
    if folded is not None:
        fn, path = optimized_inference(folded, inputs, settings["jit_compile"]), "optimized"
    else:
        fn, path = plain_inference(model, inputs), "plain"
    stats = time_callable(fn, warmup=1, runs=settings["throughput_runs"])
    return {
        "batch": batch,
        "path": path,
        **stats,
        "examples_per_s": batch / stats["median_s"],
        "flops_per_s": _rate(None if flops_total is None else flops_total * batch, stats["median_s"]),
    }


def _measure_train_step(model, model_name, width, height, num_classes, settings):
    batch = settings["train_batch"]
    inputs = random_inputs(model_name, batch, height, width, seed=2)
    if not isinstance(inputs, dict):
        inputs = {"rgb": inputs}
    labels = random_labels(batch, height, width, num_classes, seed=2)
    step = train_step_function(model, model_name, num_classes, (inputs, labels))
    stats = time_callable(step, warmup=1, runs=settings["train_runs"])
    return {"batch": batch, **stats, "examples_per_s": batch / stats["median_s"]}


def _op_profile(model, model_name, width, height, top=12):
    from rfbnet_tf.profiling.op_profile import op_time_by_type

    shape = (1, height, width, 3)
    shapes = {"rgb": shape, "depth": shape} if is_multimodal(model_name) else shape
    profile = op_time_by_type(model, shapes, runs=1)
    return {"wall_s": profile["wall_s"], "ops": profile["ops"][:top]}


def benchmark_model(model_name, sizes, settings, matmul, reference_table=None, reference_path=None, log=print):
    """Every measurement of one model at each size; returns a list of result dicts (one per size).

    Each row's ``wall_seconds`` tells where the benchmark's own time went (building and folding the model are
    counted in its first size's row).
    """
    clock = time.perf_counter()

    def lap(phases, name):
        nonlocal clock
        now = time.perf_counter()
        phases[name] = round(now - clock, 2)
        clock = now

    setup = {}
    keras.utils.set_random_seed(settings["seed"])
    model = build_model(model_name, settings["num_classes"])
    trainable = int(sum(np.prod(v.shape) for v in model.trainable_variables))
    total = int(sum(np.prod(v.shape) for v in model.variables))
    lap(setup, "build")
    folded, fold_info = (optimized_model(model) if settings["optimized"] else (None, None))
    lap(setup, "fold_batch_norm")
    bf16 = None
    if settings.get("bf16") and keras.backend.backend() == "tensorflow" and bf16_supported():
        bf16 = bf16_model(model, model_name, settings["num_classes"])
        lap(setup, "bf16_model")
    rows = []
    machine.reset_peak_rss()
    machine.reset_device_memory_peak()
    for width, height in sizes:
        phases = dict(setup) if not rows else {}
        load = machine.load_average()
        log(f"[benchmark] {model_name} {width}x{height} (load average {load})")
        flops, flops_source = _count_flops(model, model_name, width, height, reference_table or {}, reference_path)
        flops_total = None if flops is None else flops["total"]
        lap(phases, "flops")
        inputs = random_inputs(model_name, 1, height, width)
        row = {
            "model": model_name,
            "size": [width, height],
            "input_shape": [1, height, width, 3],
            "num_classes": settings["num_classes"],
            "params_trainable": trainable,
            "params_total": total,
            "flops": flops,
            "flops_source": flops_source,
            "load_average_start": load,
            "batch_norm_folding": fold_info,
            "inference": _measure_inference(model, folded, inputs, flops_total, settings, matmul, bf16),
            "wall_seconds": phases,
        }
        lap(phases, "inference")
        if settings["throughput_batch"] > 0:
            row["throughput"] = _measure_throughput(model, folded, model_name, width, height, flops_total, settings)
            lap(phases, "throughput")
        if settings["profile"] and keras.backend.backend() == "tensorflow":
            row["op_profile"] = {"plain": _op_profile(model, model_name, width, height)}
            if folded is not None:
                row["op_profile"]["folded"] = _op_profile(folded, model_name, width, height)
            lap(phases, "op_profile")
        rows.append(row)
    if settings["train_batch"] > 0:
        # Last: a training step changes the weights and builds optimizer state. At the model's first size only
        # unless --train_all_sizes (tracing a training step costs far more than timing it).
        for row, (width, height) in list(zip(rows, sizes))[: None if settings["train_all_sizes"] else 1]:
            row["train_step"] = _measure_train_step(model, model_name, width, height, settings["num_classes"], settings)
            lap(row["wall_seconds"], "train_step")
    for row in rows:
        row["memory"] = {
            "process_peak_rss_bytes": machine.peak_rss_bytes(),  # whole run so far
            "model_peak_rss_bytes": machine.window_peak_rss_bytes(),  # this model: all sizes + training
            "device_peak_bytes": machine.device_memory_peak_bytes(),
        }
    del model, folded, bf16
    keras.backend.clear_session()
    gc.collect()
    return rows
