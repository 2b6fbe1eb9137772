"""Models compared with each other: two models timed side by side (:func:`head_to_head`) and the paper's speed
targets evaluated on a run's results (:func:`targets`)."""

from __future__ import annotations

import gc

import keras

from rfbnet_tf.models import build_model
from rfbnet_tf.profiling import machine
from rfbnet_tf.profiling.backend_functions import random_inputs
from rfbnet_tf.profiling.benchmark_arguments import check_models
from rfbnet_tf.profiling.inference_paths import optimized_inference, optimized_model, plain_inference
from rfbnet_tf.profiling.timing import time_interleaved

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
