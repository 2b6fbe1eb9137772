"""The measurements of ``python -m rfbnet_tf.benchmark`` (its docstring describes them): per model and size
(:func:`benchmark_model`), side by side (:func:`head_to_head`), the paper's targets (:func:`targets`) and the
whole run with the machine description (:func:`run_benchmark`); the argument checks they share.
"""

from __future__ import annotations

import datetime
import gc
import json
import os
import shutil
import sys
import tempfile
import time

import keras
import numpy as np

from rfbnet_tf.models import MODEL_NAMES, build_model, is_multimodal, model_spec
from rfbnet_tf.profiling import machine
from rfbnet_tf.profiling.backend_functions import random_inputs, random_labels, train_step_function
from rfbnet_tf.profiling.inference_graph import (
    optimized_inference,
    optimized_model,
    output_difference,
    plain_inference,
)
from rfbnet_tf.profiling.matmul_reference import matmul_flops, matmul_function
from rfbnet_tf.profiling.timing import time_callable, time_interleaved

SCHEMA_VERSION = 1
DEFAULT_SIZES = {"erfnet_enc": ((1024, 512), (640, 480)), "adapnet_pp": ((768, 384),)}
"""Default (W, H) per backbone: the paper's Cityscapes 1024×512 and ScanNet 640×480 for ERFNetEnc (Sec. IV-B),
AdapNet++'s 768×384 (its training crop)."""
FLOPS_METHOD = (
    "counted from the TensorFlow graph of tf.function(model(x, training=False)) at batch 1: Conv2D 2*|out|*kh*kw*Cin, "
    "DepthwiseConv 2*|out|*kh*kw, Conv2DBackpropInput 2*|in|*kh*kw*Cin*Cout, MatMul 2*M*N*K (a multiply-add = 2 "
    "FLOPs; dilated convs counted without SpaceToBatchND padding), element-wise ops 1 per output element, pooling "
    "kh*kw per output, reductions 1 per input (rfbnet_tf.profiling.flops)"
)


# --------------------------------------------------------------------------------------------- arguments


def parse_size(text):
    """``"1024x512"`` → ``(1024, 512)`` (W, H); ValueError naming the text otherwise."""
    parts = str(text).lower().replace("×", "x").split("x")
    try:
        width, height = (int(p) for p in parts)
    except ValueError:
        raise ValueError(f"size must be WIDTHxHEIGHT (e.g. 1024x512), received {text!r}") from None
    if width < 1 or height < 1:
        raise ValueError(f"size must be two positive ints WIDTHxHEIGHT, received {text!r}")
    return width, height


def parse_pair(text):
    """``"a:b"`` → ``("a", "b")``, both model names."""
    parts = tuple(str(text).split(":"))
    if len(parts) != 2:
        raise ValueError(f"head-to-head pair must be MODEL_A:MODEL_B, received {text!r}")
    return tuple(check_models(parts))


def check_models(models):
    """The model names, each one of ``MODEL_NAMES``."""
    models = list(models)
    if not models:
        raise ValueError(f"models must name at least one of {MODEL_NAMES}, received {models!r}")
    unknown = [m for m in models if m not in MODEL_NAMES]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; available: {list(MODEL_NAMES)}")
    return models


def sizes_for(model_name, sizes=None):
    """``sizes`` (list of (W, H)) or the model family's defaults, each checked against the size divisor of the
    model at its default options (``model_spec(model_name).size_divisor()``, the models this binary builds)."""
    spec = model_spec(model_name)
    chosen = list(sizes) if sizes else list(DEFAULT_SIZES[spec.backbone])
    multiple = spec.size_divisor()
    for width, height in chosen:
        if width % multiple or height % multiple:
            raise ValueError(
                f"{model_name} needs input sizes that are multiples of {multiple}, received {width}x{height}"
            )
    return chosen


def _positive_int(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, received {value!r}")
    return value


# --------------------------------------------------------------------------------------------- measurement


def _command_line():
    """How this process was started, as a user would type it (``python -m rfbnet_tf.benchmark ...``)."""
    argv = list(sys.argv)
    if argv and os.path.basename(argv[0]) == "benchmark.py":
        argv[0] = "python -m rfbnet_tf.benchmark"
    return " ".join(argv)


def _flops_lookup(reference):
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


def _measure_inference(model, folded, inputs, flops_total, settings, matmul):
    callables = {"matmul": matmul, "plain": plain_inference(model, inputs)}
    if folded is not None:
        callables["optimized"] = optimized_inference(folded, inputs, settings["jit_compile"])
    stats = time_interleaved(callables, warmup=settings["warmup"], runs=settings["runs"])
    matmul_rate = matmul_flops(settings["matmul_size"]) / stats["matmul"]["median_s"]
    result = {"matmul": {**stats["matmul"], "flops_per_s": matmul_rate}}
    for path in ("plain", "optimized"):
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
            "inference": _measure_inference(model, folded, inputs, flops_total, settings, matmul),
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
    del model, folded
    keras.backend.clear_session()
    gc.collect()
    return rows


def head_to_head(pair, sizes, settings, matmul, log=print):
    """Two models measured side by side: both built at once and timed interleaved round-robin with the matrix
    product (plain and optimised paths), so that load changes on a shared machine hit both alike.

    Returns one dict per size: ``{"models": [a, b], "size", "<model>": {"plain", "optimized"} stats,
    "ratio": {"plain", "optimized"}}`` with ratio = latency(a) / latency(b) (> 1: ``b`` is faster).
    """
    first, second = check_models(pair)
    models, folded = {}, {}
    for name in (first, second):
        keras.utils.set_random_seed(settings["seed"])
        models[name] = build_model(name, settings["num_classes"])
        if settings["optimized"]:
            folded[name] = optimized_model(models[name])[0]
    rows = []
    for width, height in sizes:
        log(f"[benchmark] head to head {first} vs {second} {width}x{height} (load average {machine.load_average()})")
        callables = {"matmul": matmul}
        for name in (first, second):
            inputs = random_inputs(name, 1, height, width)
            callables[f"{name}/plain"] = plain_inference(models[name], inputs)
            if name in folded:
                callables[f"{name}/optimized"] = optimized_inference(folded[name], inputs, settings["jit_compile"])
        stats = time_interleaved(callables, warmup=settings["warmup"], runs=settings["runs"])
        row = {"models": [first, second], "size": [width, height], "matmul": stats["matmul"], "ratio": {}}
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
    * ``erfnet_matmul_fraction``: erfnet_enc's achieved FLOP/s / the matrix product's at 1024×512 (≥ 0.6 wanted).
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
        if name == "erfnet_enc" and size == (1024, 512):
            entry = {"size": list(size)}
            for path in ("plain", "optimized"):
                if path in row["inference"]:
                    entry[path] = row["inference"][path]["fraction_of_matmul"]
            best = max((v for k, v in entry.items() if k in ("plain", "optimized") and v is not None), default=None)
            entry["met"] = None if best is None else best >= 0.6
            out["erfnet_matmul_fraction"].append(entry)
    return out


def run_benchmark(
    models=None,
    sizes=None,
    runs=5,
    warmup=1,
    throughput_batch=4,
    throughput_runs=2,
    train_batch=1,
    train_runs=2,
    train_all_sizes=False,
    num_classes=19,
    matmul_size=2048,
    optimized=True,
    jit_compile=False,
    profile=False,
    head_to_head_pairs=(("ssma_erfnet_enc", "rfbnet_erfnet_enc"),),
    pipeline=False,
    record_dir=None,
    pipeline_model="rfbnet_erfnet_enc",
    pipeline_size=(480, 640),
    pipeline_examples=16,
    pipeline_batch=2,
    pipeline_batches=10,
    pipeline_steps=3,
    flops_reference=None,
    seed=0,
    log=print,
):
    """Run the benchmark (see the module docstring); returns the JSON-ready result dict.

    ``sizes``: list of (W, H) applied to every model (default: each family's sizes). ``head_to_head_pairs``:
    pairs of models also measured side by side (``head_to_head``) at their common sizes when both are requested.
    ``throughput_batch=0`` / ``train_batch=0`` skip those measurements. ``jit_compile``: XLA in the optimised path
    (default: off). ``flops_reference``: path of a previous TensorFlow JSON whose FLOPs are reused
    under other backends. ``pipeline_size``: (h, w) of the synthetic records made when ``record_dir`` is None.
    """
    models = check_models(models if models is not None else MODEL_NAMES)
    sizes = [tuple(s) for s in sizes] if sizes else None
    per_model_sizes = {m: sizes_for(m, sizes) for m in models}
    settings = {
        "runs": _positive_int("runs", runs),
        "warmup": _positive_int("warmup", warmup, 0),
        "throughput_batch": _positive_int("throughput_batch", throughput_batch, 0),
        "throughput_runs": _positive_int("throughput_runs", throughput_runs),
        "train_batch": _positive_int("train_batch", train_batch, 0),
        "train_runs": _positive_int("train_runs", train_runs),
        "train_all_sizes": bool(train_all_sizes),
        "num_classes": _positive_int("num_classes", num_classes, 2),
        "matmul_size": _positive_int("matmul_size", matmul_size),
        "optimized": bool(optimized),
        "jit_compile": bool(jit_compile),
        "profile": bool(profile),
        "seed": seed,
    }
    reference = None
    if flops_reference:
        with open(flops_reference) as f:
            reference = json.load(f)
    result = {
        "schema_version": SCHEMA_VERSION,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": _command_line(),
        "machine": machine.describe_machine(),
        "load_average_start": machine.load_average(),
        "settings": settings,
        "flops_method": FLOPS_METHOD,
        "optimized_path": "batch norm folded into the preceding convolutions (fold_batch_norm)"
        + (" + XLA (jit_compile=True)" if settings["jit_compile"] else ""),
        "notes": [
            "latencies at batch 1; each model's runs are interleaved round-robin with the reference matrix "
            "product, so fraction_of_matmul compares both under the same machine load",
            "process_peak_rss_bytes is the process high-water mark (cumulative over the run); "
            "model_peak_rss_bytes is the peak since this model was built (all its sizes and its training steps; "
            "Linux VmHWM reset)",
        ],
    }
    matmul = matmul_function(settings["matmul_size"])
    standalone = time_callable(matmul, warmup=1, runs=max(3, settings["runs"]))
    result["matmul_reference"] = {
        "n": settings["matmul_size"],
        "flops": matmul_flops(settings["matmul_size"]),
        **standalone,
        "flops_per_s": matmul_flops(settings["matmul_size"]) / standalone["median_s"],
    }
    result["results"] = []
    for name in models:
        result["results"].extend(
            benchmark_model(
                name, per_model_sizes[name], settings, matmul, _flops_lookup(reference), flops_reference, log
            )
        )
    result["head_to_head"] = []
    for pair in head_to_head_pairs or ():
        if all(name in models for name in pair):
            common = [size for size in per_model_sizes[pair[0]] if size in per_model_sizes[pair[1]]]
            result["head_to_head"].extend(head_to_head(pair, common, settings, matmul, log))
    result["targets"] = targets(result["results"], result["head_to_head"])
    if pipeline:
        result["pipeline"] = _pipeline(record_dir, pipeline_model, pipeline_size, pipeline_examples, pipeline_batch,
                                       pipeline_batches, pipeline_steps, seed, log)
    result["load_average_end"] = machine.load_average()
    return result


def _pipeline(record_dir, model_name, size, examples, batch, batches, steps, seed, log):
    from rfbnet_tf.profiling.pipeline_rate import pipeline_rates, synthetic_records

    check_models([model_name])
    temporary = None
    if record_dir is None:
        temporary = tempfile.mkdtemp(prefix="rfbnet_benchmark_records_")
        log(f"[benchmark] writing {examples} synthetic {size[1]}x{size[0]} records to {temporary}")
        record_dir = synthetic_records(temporary, size=size, count=examples, seed=seed)
    try:
        log(f"[benchmark] input pipeline and {model_name} training steps on {record_dir}")
        rates = pipeline_rates(record_dir, model_name, batch_size=batch, num_batches=batches, train_steps=steps,
                               seed=seed)
        rates["synthetic"] = temporary is not None
        return rates
    finally:
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)
