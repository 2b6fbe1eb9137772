"""Reporting a benchmark result (:func:`rfbnet_tf.profiling.benchmark_run.run_benchmark`): the console table,
the ratios against a previous JSON, the JSON file (written, and read back in (H, W) order).

Image sizes in the benchmark are (H, W) everywhere: flags (``--size=h,w``), arguments, measurements and the JSON
rows' ``"size": [H, W]``, which every JSON the benchmark writes declares with ``"size_order": "hw"``
(:data:`SIZE_ORDER`). :func:`in_hw_order` reads a JSON written before that key, whose sizes were [W, H]. Sizes are
shown height × width: ``size (H×W)`` columns, and ``h×w (H×W)`` in lines (:func:`size_text`).
"""

from __future__ import annotations

import copy
import json
import math
import os

import numpy as np

from rfbnet_tf.utils import files

SIZE_ORDER = "hw"
"""The value of a benchmark JSON's top-level ``"size_order"``: every ``size`` in it is [height, width]."""


def size_text(size) -> str:
    """``(h, w)`` → ``"h×w (H×W)"``: a size in a line of text, labelled so that a reader never guesses the order."""
    height, width = size
    return f"{height}×{width} (H×W)"


def _sizes_once_width_first(result):
    """The dicts of a benchmark or end-to-end JSON whose ``size`` was [W, H] before ``"size_order"``: the result
    rows, the head-to-head rows, the target entries, the peer comparison, and an end-to-end result itself (the
    peer training step's ``size`` and the pipeline's ``image_size`` were [H, W] already)."""
    yield from result.get("results", [])
    yield from result.get("head_to_head", [])
    for entries in result.get("targets", {}).values():
        yield from entries
    if "peer" in result:
        yield result["peer"]
    if "size" in result:
        yield result


def in_hw_order(result):
    """``result`` (a benchmark or end-to-end JSON, as loaded) with every ``size`` [H, W]: itself when it says
    ``"size_order": "hw"``; otherwise (written before that key, sizes [W, H]) a copy with those sizes swapped and
    the key added."""
    if result.get("size_order") == SIZE_ORDER:
        return result
    converted = copy.deepcopy(result)
    for record in _sizes_once_width_first(converted):
        record["size"] = list(record["size"])[::-1]
    converted["size_order"] = SIZE_ORDER
    return converted


SIZE_COLUMN = "size (H×W)"
"""The tables' size column: ``h×w`` cells (:func:`_cell`)."""


def _cell(size):
    return f"{size[0]}×{size[1]}"


def _ms(stats):
    return f"{stats['median_s'] * 1e3:.1f} ({stats['p10_s'] * 1e3:.0f}-{stats['p90_s'] * 1e3:.0f})"


def _pct(value):
    return "-" if value is None else f"{value:.0%}"


def format_table(result):
    """The console / Markdown table of a benchmark result."""
    header = ("model", SIZE_COLUMN, "params M", "GFLOPs", "plain ms (p10-p90)", "opt ms (p10-p90)", "speedup",
              "%matmul plain/opt", "thr ex/s (B)", "train step s (B)", "peak RSS MB")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in result["results"]:
        inf = row["inference"]
        flops = row["flops"]["total"] / 1e9 if row.get("flops") else None
        opt = inf.get("optimized")
        thr = row.get("throughput")
        train = row.get("train_step")
        memory = row.get("memory", {})
        memory = memory.get("model_peak_rss_bytes") or memory.get("process_peak_rss_bytes")
        cells = (
            row["model"],
            _cell(row["size"]),
            f"{row['params_trainable'] / 1e6:.2f}",
            "-" if flops is None else f"{flops:.1f}",
            _ms(inf["plain"]),
            "-" if opt is None else _ms(opt),
            "-" if opt is None else f"{inf['speedup']:.2f}",
            f"{_pct(inf['plain']['fraction_of_matmul'])} / {_pct(None if opt is None else opt['fraction_of_matmul'])}",
            "-" if thr is None else f"{thr['examples_per_s']:.2f} ({thr['batch']})",
            "-" if train is None else f"{train['median_s']:.2f} ({train['batch']})",
            "-" if memory is None else f"{memory / 2**20:.0f}",
        )
        lines.append("| " + " | ".join(cells) + " |")
    ref = result["matmul_reference"]
    lines.append("")
    lines.append(
        f"matrix product {ref['n']}×{ref['n']} fp32: {ref['flops_per_s'] / 1e9:.1f} GFLOP/s standalone; "
        f"load average start {result['load_average_start']} end {result.get('load_average_end')}"
    )
    for row in result.get("head_to_head", []):
        a, b = row["models"]
        cells = ", ".join(
            f"{path} {row[a][path]['median_s'] * 1e3:.0f} vs {row[b][path]['median_s'] * 1e3:.0f} ms ({ratio:.2f}×)"
            for path, ratio in row["ratio"].items()
        )
        lines.append(f"head to head at {size_text(row['size'])}, {a} vs {b} (interleaved): {cells}")
    for entry in result["targets"]["rfbnet_vs_ssma"]:
        ratios = ", ".join(
            f"{k[: -len('_ratio')]} {v:.2f}×" for k, v in entry.items() if k.endswith("_ratio")
        )
        lines.append(
            f"target rfbnet_erfnet_enc faster than ssma_erfnet_enc at {size_text(entry['size'])}: "
            f"latency ratio ssma/rfbnet {ratios}; GFLOPs {(entry['rfbnet_flops'] or 0) / 1e9:.1f} vs "
            f"{(entry['ssma_flops'] or 0) / 1e9:.1f} → {'met' if entry['met'] else 'NOT met'} "
            f"(decided by {entry['decided_by']})"
        )
    for entry in result["targets"]["erfnet_matmul_fraction"]:
        lines.append(
            f"target erfnet_enc ≥ 60% of matmul FLOP/s at {size_text(entry['size'])}: "
            f"plain {_pct(entry.get('plain'))}, optimised {_pct(entry.get('optimized'))} → {'met' if entry['met'] else 'NOT met'}"
        )
    if "pipeline" in result:
        p = result["pipeline"]
        lines.append(
            f"input pipeline at {size_text(p['image_size'])}, batch {p['batch_size']}, all augmentations: "
            f"alone {p['pipeline_alone']:.1f} ex/s{_cpu_per_example(p)}; {p['model']} training alone {p['model_alone']:.2f} ex/s, "
            f"fed by the pipeline {p['feeding_training']:.2f} ex/s → bottleneck: {p['bottleneck']}"
        )
    lines.extend(_bf16_lines(result))
    if "peer" in result:
        lines.append(format_peer(result["peer"]))
    if "peer_train_step" in result:
        lines.append(format_peer_train_step(result["peer_train_step"]))
    return "\n".join(lines)


def _bf16_lines(result):
    if not any("bf16" in row["inference"] for row in result["results"]):
        return [f"bf16 inference: not timed (native bf16 on this CPU: {result.get('bf16_native')})"]
    return [
        f"bf16 inference {row['model']} {size_text(row['size'])}: {_ms(row['inference']['bf16'])} ms, "
        f"{row['inference']['bf16']['speedup']:.2f}× the plain path, max |Δ logit| "
        f"{row['inference']['bf16']['max_abs_output_difference']:.3g} of {row['inference']['bf16']['max_abs_output']:.3g}"
        for row in result["results"] if "bf16" in row["inference"]
    ]


def _cpu_per_example(pipeline):
    cpu = pipeline.get("pipeline_cpu_ms_per_example")  # absent from JSON written before it was measured
    return "" if cpu is None else f" ({cpu:.1f} CPU ms per example)"


def format_peer_train_step(comparison):
    """One line: the training-step comparison (``peer.train_step_comparison``) and the verdict."""
    paths = ", ".join(f"{name} {stats['median_s']:.3f} s" for name, stats in comparison["paths"].items())
    ratios = ", ".join(f"{name} {value:.2f}" for name, value in comparison["ours_over_peer"].items())
    return (f"peer training step erfnet_enc batch {comparison['batch']} {size_text(comparison['size'])}, "
            f"{comparison['threads']} threads (interleaved): {paths}; ours ÷ peer: {ratios} → float32 goal ≤ "
            f"{comparison['goal']} {'met' if comparison['met'] else 'NOT met'}")


def format_peer(peer):
    """One line per path of the peer comparison (``peer.peer_comparison``) and the verdict."""
    size = size_text(peer["size"])
    paths = ", ".join(f"{name} {stats['median_s'] * 1e3:.1f} ms" for name, stats in peer["paths"].items())
    spinning = "" if peer.get("onnxruntime_spinning", True) else ", ONNX Runtime without spin-waiting"
    return (f"peer erfnet_enc {size}, {peer['threads']} threads{spinning} (interleaved): {paths}; peer/onnxruntime ÷ "
            f"{peer['fastest_ours']} = {peer['peer_over_ours']:.2f} → {'met' if peer['met'] else 'NOT met'} "
            f"(max |Δ logit| peer vs ours {peer['max_abs_logit_difference_to_ours']['peer/onnxruntime']:.2g})")


def _ratio(new, old):
    if new is None or old is None or old == 0:
        return None
    return new / old


def compare(result, previous):
    """Text lines of this run's ratios (new / old) against ``previous`` (a benchmark JSON in (H, W) order,
    :func:`read_json`) for the (model, size) pairs of both."""
    old_rows = {(r["model"], tuple(r["size"])): r for r in previous.get("results", [])}
    header = ("model", SIZE_COLUMN, "plain latency", "opt latency", "throughput", "train step", "matmul FLOP/s")
    lines = ["ratios new/old (latency < 1 = faster now; throughput, FLOP/s > 1 = faster now)",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    def get(row, *keys):
        for key in keys:
            if not isinstance(row, dict) or key not in row:
                return None
            row = row[key]
        return row
    matched = 0
    for row in result["results"]:
        old = old_rows.get((row["model"], tuple(row["size"])))
        if old is None:
            continue
        matched += 1
        values = (
            _ratio(get(row, "inference", "plain", "median_s"), get(old, "inference", "plain", "median_s")),
            _ratio(get(row, "inference", "optimized", "median_s"), get(old, "inference", "optimized", "median_s")),
            _ratio(get(row, "throughput", "examples_per_s"), get(old, "throughput", "examples_per_s")),
            _ratio(get(row, "train_step", "median_s"), get(old, "train_step", "median_s")),
            _ratio(get(row, "inference", "matmul", "flops_per_s"), get(old, "inference", "matmul", "flops_per_s")),
        )
        cells = [row["model"], _cell(row["size"])]
        cells += ["-" if v is None else f"{v:.2f}" for v in values]
        lines.append("| " + " | ".join(cells) + " |")
    if not matched:
        lines.append("(no (model, size) in common with the previous run)")
    return "\n".join(lines)


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serializable: {type(value)!r}")


def read_json(path):
    """The benchmark (or end-to-end) JSON at ``path`` with every size [H, W] (:func:`in_hw_order`: a file without
    ``"size_order"`` holds them [W, H])."""
    with open(path) as handle:
        return in_hw_order(json.load(handle))


def write_json(result, path):
    """Write ``result`` to ``path`` atomically (parent directories created)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    files.write_json_atomically(path, result, sort_keys=False, default=_json_default)
