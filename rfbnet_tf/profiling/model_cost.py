"""Model latency and FLOPs, per model and between models: :func:`benchmark_model` (every measurement of one model
at its sizes: parameters, FLOPs, latency of the plain / optimised / bf16 paths interleaved with the matrix
product, throughput, a training step, the op profile, memory), :func:`head_to_head` (two models timed side by
side) and :func:`targets` (the paper's speed targets evaluated on a run's results).

Sizes are (H, W), the result rows' ``size`` ``[H, W]`` (``profiling.benchmark_report``).
"""

from __future__ import annotations

import gc
import time

import keras
import numpy as np

from rfbnet_tf.models import build_model, is_multimodal
from rfbnet_tf.profiling import measurement
from rfbnet_tf.profiling.model_latency import (
    bf16_model,
    bf16_supported,
    op_time_by_type,
    optimized_inference,
    optimized_model,
    output_difference,
    plain_inference,
    random_inputs,
)
from rfbnet_tf.profiling.benchmark_report import size_text
from rfbnet_tf.profiling.measurement import matmul_flops, time_callable, time_interleaved
from rfbnet_tf.profiling.train_step import measure_train_step


FLOPS_METHOD = (
    "counted from the TensorFlow graph of tf.function(model(x, training=False)) at batch 1: Conv2D 2*|out|*kh*kw*Cin, "
    "DepthwiseConv 2*|out|*kh*kw, Conv2DBackpropInput 2*|in|*kh*kw*Cin*Cout, MatMul 2*M*N*K (a multiply-add = 2 "
    "FLOPs; dilated convs counted without SpaceToBatchND padding), element-wise ops 1 per output element, pooling "
    "kh*kw per output, reductions 1 per input (rfbnet_tf.profiling.flops)"
)


MATMUL_FRACTION_SIZE = (512, 1024)
"""(H, W) at which ``targets`` checks erfnet_enc's fraction of the matrix product's FLOP/s (Cityscapes, the paper's
1024×512 written width first)."""


def flops_lookup(reference):
    """``{(model, (H, W)): flops dict}`` from a previous benchmark JSON in (H, W) order
    (``benchmark_report.read_json``), or ``{}`` for None."""
    if not reference:
        return {}
    rows = reference.get("results", [])
    return {(row["model"], tuple(row["size"])): row["flops"] for row in rows if row.get("flops")}


def _count_flops(model, model_name, size, reference_table, reference_path):
    if keras.backend.backend() == "tensorflow":
        from rfbnet_tf.profiling.flops import model_flops

        shape = (1, *size, 3)
        shapes = {"rgb": shape, "depth": shape} if is_multimodal(model_name) else shape
        return model_flops(model, shapes).as_dict(), "tensorflow_graph"
    found = reference_table.get((model_name, tuple(size)))
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


def _measure_throughput(model, folded, model_name, size, flops_total, settings):
    batch = settings["throughput_batch"]
    inputs = random_inputs(model_name, batch, *size, seed=1)
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


def _op_profile(model, model_name, size, top=12):
    shape = (1, *size, 3)
    shapes = {"rgb": shape, "depth": shape} if is_multimodal(model_name) else shape
    profile = op_time_by_type(model, shapes, runs=1)
    return {"wall_s": profile["wall_s"], "ops": profile["ops"][:top]}


def benchmark_model(model_name, sizes, settings, matmul, reference_table=None, reference_path=None, log=print):
    """Every measurement of one model at each size (H, W) of ``sizes``; returns a list of result dicts (one per
    size).

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
    measurement.reset_peak_rss()
    measurement.reset_device_memory_peak()
    for size in sizes:
        height, width = size
        phases = dict(setup) if not rows else {}
        load = measurement.load_average()
        log(f"[benchmark] {model_name} {size_text(size)} (load average {load})")
        flops, flops_source = _count_flops(model, model_name, size, reference_table or {}, reference_path)
        flops_total = None if flops is None else flops["total"]
        lap(phases, "flops")
        inputs = random_inputs(model_name, 1, *size)
        row = {
            "model": model_name,
            "size": [height, width],
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
            row["throughput"] = _measure_throughput(model, folded, model_name, size, flops_total, settings)
            lap(phases, "throughput")
        if settings["profile"] and keras.backend.backend() == "tensorflow":
            row["op_profile"] = {"plain": _op_profile(model, model_name, size)}
            if folded is not None:
                row["op_profile"]["folded"] = _op_profile(folded, model_name, size)
            lap(phases, "op_profile")
        rows.append(row)
    if settings["train_batch"] > 0:
        # Last: a training step changes the weights and builds optimizer state. At the model's first size only
        # unless --train_all_sizes (tracing a training step costs far more than timing it).
        for row, size in list(zip(rows, sizes))[: None if settings["train_all_sizes"] else 1]:
            row["train_step"] = measure_train_step(model, model_name, size, settings)
            lap(row["wall_seconds"], "train_step")
    window_peak = measurement.window_peak_rss_bytes()  # this model: all sizes + training
    # getrusage's maxrss and /proc's VmHWM are separate kernel counters that can differ by per-CPU counter slack
    # (~100 kB, seen on a 7 GB process): the whole run's peak is at least this model's
    process_peak = max(measurement.peak_rss_bytes(), window_peak or 0)
    for row in rows:
        row["memory"] = {"process_peak_rss_bytes": process_peak, "model_peak_rss_bytes": window_peak,
                         "device_peak_bytes": measurement.device_memory_peak_bytes()}
    del model, folded, bf16
    keras.backend.clear_session()
    gc.collect()
    return rows


def head_to_head(pair, sizes, settings, matmul, log=print):
    """Two models measured side by side: both built at once and timed interleaved round-robin with the matrix
    product (plain and optimised paths), so that load changes on a shared machine hit both alike. ``pair``: two
    checked model names; ``sizes``: (H, W) each.

    Returns one dict per size: ``{"models": [a, b], "size", "<model>": {"plain", "optimized"} stats,
    "ratio": {"plain", "optimized"}}`` with ratio = latency(a) / latency(b) (> 1: ``b`` is faster).
    """
    first, second = pair
    models, folded = {}, {}
    for name in (first, second):
        keras.utils.set_random_seed(settings["seed"])
        models[name] = build_model(name, settings["num_classes"])
        if settings["optimized"]:
            folded[name] = optimized_model(models[name])[0]
    rows = []
    for height, width in sizes:
        log(f"[benchmark] head to head {first} vs {second} {size_text((height, width))} (load average "
            f"{measurement.load_average()})")
        callables = {"matmul": matmul}
        for name in (first, second):
            inputs = random_inputs(name, 1, height, width)
            callables[f"{name}/plain"] = plain_inference(models[name], inputs)
            if name in folded:
                callables[f"{name}/optimized"] = optimized_inference(folded[name], inputs, settings["jit_compile"])
        stats = time_interleaved(callables, warmup=settings["warmup"], runs=settings["runs"])
        row = {"models": [first, second], "size": [height, width], "matmul": stats["matmul"], "ratio": {}}
        for name in (first, second):
            row[name] = {path: stats[f"{name}/{path}"] for path in ("plain", "optimized") if f"{name}/{path}" in stats}
        for path in row[second]:
            row["ratio"][path] = row[first][path]["median_s"] / row[second][path]["median_s"]
        rows.append(row)
    del models, folded
    keras.backend.clear_session()
    gc.collect()
    return rows


def targets(results, head_to_head_rows=()):
    """The speed targets of the brief, evaluated on ``results``.

    * ``rfbnet_vs_ssma``: per size, latency(ssma_erfnet_enc) / latency(rfbnet_erfnet_enc) (> 1: RFBNet faster),
      both paths, with both models' FLOPs: ``{path}_ratio`` from the per-model measurements (taken minutes apart,
      so load changes distort it), ``{path}_load_normalized_ratio`` = the same with each latency multiplied by the
      matrix product's FLOP/s measured interleaved with it, and ``{path}_head_to_head_ratio`` from
      ``head_to_head`` (both models interleaved; decides ``met`` when present);
    * ``erfnet_matmul_fraction``: erfnet_enc's achieved FLOP/s / the matrix product's at 512×1024 (H×W; ≥ 0.6
      wanted).

    ``results`` / ``head_to_head_rows``: rows with ``size`` [H, W]; each entry's ``size`` is [H, W] too.
    """
    by_key = {(r["model"], tuple(r["size"])): r for r in results}
    out = {"rfbnet_vs_ssma": [], "erfnet_matmul_fraction": []}
    for (name, size), row in sorted(by_key.items()):
        if name == "rfbnet_erfnet_enc" and ("ssma_erfnet_enc", size) in by_key:
            ssma = by_key[("ssma_erfnet_enc", size)]
            entry = {"size": list(size)}
            for path in ("plain", "optimized"):
                if path in row["inference"] and path in ssma["inference"]:
                    a, b = ssma["inference"], row["inference"]
                    entry[f"{path}_ratio"] = a[path]["median_s"] / b[path]["median_s"]
                    if "matmul" in a and "matmul" in b:
                        entry[f"{path}_load_normalized_ratio"] = (a[path]["median_s"] * a["matmul"]["flops_per_s"]) / (
                            b[path]["median_s"] * b["matmul"]["flops_per_s"]
                        )
            for h2h in head_to_head_rows:
                if h2h["models"] == ["ssma_erfnet_enc", "rfbnet_erfnet_enc"] and tuple(h2h["size"]) == size:
                    for path, ratio in h2h["ratio"].items():
                        entry[f"{path}_head_to_head_ratio"] = ratio
            entry["ssma_flops"] = (ssma["flops"] or {}).get("total")
            entry["rfbnet_flops"] = (row["flops"] or {}).get("total")
            decisive = [k for k in ("optimized_head_to_head_ratio", "plain_head_to_head_ratio",
                                    "optimized_load_normalized_ratio", "optimized_ratio", "plain_ratio") if k in entry]
            entry["decided_by"] = decisive[0] if decisive else None
            entry["met"] = bool(decisive) and entry[decisive[0]] > 1.0
            out["rfbnet_vs_ssma"].append(entry)
        if name == "erfnet_enc" and size == MATMUL_FRACTION_SIZE:
            entry = {"size": list(size)}
            for path in ("plain", "optimized"):
                if path in row["inference"]:
                    entry[path] = row["inference"][path]["fraction_of_matmul"]
            best = max((v for k, v in entry.items() if k in ("plain", "optimized") and v is not None), default=None)
            entry["met"] = None if best is None else best >= 0.6
            out["erfnet_matmul_fraction"].append(entry)
    return out
