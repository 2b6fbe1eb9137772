"""The whole run of ``python -m rfbnet_tf.benchmark`` (its docstring describes the measurements):
:func:`run_benchmark` checks the arguments (``benchmark_arguments``), measures each model
(``model_measurements.benchmark_model``), compares models (``speed_comparisons``) and adds the machine
description and, optionally, the input pipeline's rate.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import sys
import tempfile

from rfbnet_tf.models import MODEL_NAMES
from rfbnet_tf.profiling import machine
from rfbnet_tf.profiling.benchmark_arguments import check_models, positive_int, sizes_for
from rfbnet_tf.profiling.inference_paths import bf16_supported
from rfbnet_tf.profiling.matmul_reference import matmul_flops, matmul_function
from rfbnet_tf.profiling.model_measurements import FLOPS_METHOD, benchmark_model, flops_lookup
from rfbnet_tf.profiling.speed_comparisons import head_to_head, targets
from rfbnet_tf.profiling.timing import time_callable

SCHEMA_VERSION = 1


def _command_line():
    """How this process was started, as a user would type it (``python -m rfbnet_tf.benchmark ...``)."""
    argv = list(sys.argv)
    if argv and os.path.basename(argv[0]) == "benchmark.py":
        argv[0] = "python -m rfbnet_tf.benchmark"
    return " ".join(argv)


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
    bf16=True,
    peer=False,
    peer_size=(1024, 512),
    peer_threads=None,
    peer_spinning=True,
):
    """Run the benchmark (see the module docstring); returns the JSON-ready result dict.

    ``sizes``: list of (W, H) applied to every model (default: each family's sizes). ``head_to_head_pairs``:
    pairs of models also measured side by side (``head_to_head``) at their common sizes when both are requested.
    ``throughput_batch=0`` / ``train_batch=0`` skip those measurements. ``jit_compile``: XLA in the optimised path
    (default: off). ``flops_reference``: path of a previous TensorFlow JSON whose FLOPs are reused
    under other backends. ``pipeline_size``: (h, w) of the synthetic records made when ``record_dir`` is None.
    ``bf16``: also time bf16 inference where the CPU has native bf16 (``inference_paths.bf16_supported``).
    ``peer``: also time ``erfnet_enc`` against the PyTorch→ONNX Runtime peer at ``peer_size`` (W, H) with
    ``peer_threads`` threads, ONNX Runtime spin-waiting if ``peer_spinning`` (``onnx_peer.peer_comparison``; extras
    ``[onnx]`` and ``[peer]``).
    """
    models = check_models(models if models is not None else MODEL_NAMES)
    sizes = [tuple(s) for s in sizes] if sizes else None
    per_model_sizes = {m: sizes_for(m, sizes) for m in models}
    settings = {
        "runs": positive_int("runs", runs),
        "warmup": positive_int("warmup", warmup, 0),
        "throughput_batch": positive_int("throughput_batch", throughput_batch, 0),
        "throughput_runs": positive_int("throughput_runs", throughput_runs),
        "train_batch": positive_int("train_batch", train_batch, 0),
        "train_runs": positive_int("train_runs", train_runs),
        "train_all_sizes": bool(train_all_sizes),
        "num_classes": positive_int("num_classes", num_classes, 2),
        "matmul_size": positive_int("matmul_size", matmul_size),
        "optimized": bool(optimized),
        "jit_compile": bool(jit_compile),
        "profile": bool(profile),
        "bf16": bool(bf16),
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
                name, per_model_sizes[name], settings, matmul, flops_lookup(reference), flops_reference, log
            )
        )
    result["head_to_head"] = []
    for pair in head_to_head_pairs or ():
        if all(name in models for name in pair):
            common = [size for size in per_model_sizes[pair[0]] if size in per_model_sizes[pair[1]]]
            result["head_to_head"].extend(head_to_head(pair, common, settings, matmul, log))
    result["targets"] = targets(result["results"], result["head_to_head"])
    result["bf16_native"] = bf16_supported()
    if peer:
        from rfbnet_tf.profiling.onnx_peer import peer_comparison

        result["peer"] = peer_comparison(tuple(peer_size), settings["num_classes"], settings["runs"],
                                         settings["warmup"], peer_threads, seed, log, peer_spinning)
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
