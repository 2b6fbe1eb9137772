"""The whole run of ``python -m rfbnet_tf.benchmark`` (its docstring describes the measurements): the arguments,
checked once (:func:`parse_size`, :func:`sizes_from_flags`, :func:`parse_pair`, :func:`check_models`,
:func:`sizes_for`), and :func:`run_benchmark`, which measures each model (``model_cost.benchmark_model``), compares
models (``model_cost.head_to_head`` / ``targets``) and adds the machine description and, optionally, the peer
(``peer``) and the input pipeline's rate (``input_pipeline``).

Sizes are (H, W) throughout (``profiling.benchmark_report``): the flags' ``height,width`` (``--size=512,1024``), the
deprecated ``--sizes`` and legacy size flag values ``WIDTHxHEIGHT`` turned into (H, W) where they are read, every
field of :class:`BenchmarkConfig`, :data:`DEFAULT_SIZES`, and the JSON rows (``"size_order": "hw"``).
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import sys

from rfbnet_tf.configs import checks
from rfbnet_tf.models import MODEL_NAMES, model_spec
from rfbnet_tf.profiling import measurement
from rfbnet_tf.profiling.benchmark_report import read_json
from rfbnet_tf.profiling.model_cost import FLOPS_METHOD, benchmark_model, flops_lookup, head_to_head, targets
from rfbnet_tf.profiling.model_latency import bf16_supported
from rfbnet_tf.profiling.benchmark_report import SIZE_ORDER, size_text
from rfbnet_tf.profiling.measurement import matmul_flops, matmul_function, time_callable
from rfbnet_tf.utils.checks import int_at_least


DEFAULT_SIZES = {"erfnet_enc": ((512, 1024), (480, 640)), "adapnet_pp": ((384, 768),)}
"""Default (H, W) per backbone: the paper's Cityscapes 512×1024 and ScanNet 480×640 for ERFNetEnc (Sec. IV-B,
written 1024×512 and 640×480 there, width first), AdapNet++'s 384×768 (its training crop)."""


def parse_size(text, flag="size"):
    """``"512,1024"`` → ``(512, 1024)`` (H, W); a one-line ValueError naming ``--flag`` and the text otherwise."""
    try:
        height, width = checks.size(text)
    except (TypeError, ValueError):
        raise ValueError(f"--{flag} must be height,width of two positive ints (e.g. 512,1024), received {text!r}") \
            from None
    return height, width


def parse_width_x_height(text, flag):
    """The deprecated form ``"1024x512"`` (WIDTHxHEIGHT, as ``--sizes`` took it) → ``(512, 1024)`` (H, W); a
    one-line ValueError naming ``--flag`` and the text otherwise."""
    try:
        width, height = checks.size(str(text).lower().replace("×", "x").split("x"))
    except (TypeError, ValueError):
        raise ValueError(f"--{flag} must be WIDTHxHEIGHT of two positive ints (e.g. 1024x512), received {text!r}") \
            from None
    return height, width


def parse_size_or_legacy(text, flag):
    """A single-size flag's value: ``height,width``, or the legacy ``WIDTHxHEIGHT`` it took before (told apart by
    the ``x``); (H, W) either way."""
    if any(mark in str(text).lower() for mark in ("x", "×")):
        return parse_width_x_height(text, flag)
    return parse_size(text, flag)


def sizes_from_flags(size, deprecated_sizes):
    """The (H, W) sizes of ``--size`` (its values, each ``h,w``) or of the deprecated ``--sizes`` (its
    ``WIDTHxHEIGHT`` entries), as a tuple; None when neither is given; ValueError when both are."""
    if size and deprecated_sizes:
        raise ValueError("give --size=height,width or the deprecated --sizes=WIDTHxHEIGHT, not both")
    if deprecated_sizes:
        return tuple(parse_width_x_height(text, "sizes") for text in deprecated_sizes)
    return tuple(parse_size(text) for text in size or ()) or None


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
    """``sizes`` (list of (H, W)) or the model family's defaults, each checked against the size divisor of the
    model at its default options (``model_spec(model_name).size_divisor()``, the models this binary builds)."""
    spec = model_spec(model_name)
    chosen = list(sizes) if sizes else list(DEFAULT_SIZES[spec.backbone])
    multiple = spec.size_divisor()
    for height, width in chosen:
        if height % multiple or width % multiple:
            raise ValueError(f"{model_name} needs input sizes that are multiples of {multiple}, received "
                             f"{size_text((height, width))}")
    return chosen


SCHEMA_VERSION = 1


def _command_line():
    """How this process was started, as a user would type it (``python -m rfbnet_tf.benchmark ...``)."""
    argv = list(sys.argv)
    if argv and os.path.basename(argv[0]) == "benchmark.py":
        argv[0] = "python -m rfbnet_tf.benchmark"
    return " ".join(argv)


@dataclasses.dataclass(frozen=True)
class BenchmarkConfig:
    """What one benchmark run measures: the flags of ``python -m rfbnet_tf.benchmark`` as typed fields
    (:meth:`from_flags`), with the defaults of a plain run. Every size is (H, W).

    ``sizes``: (H, W) applied to every model (default: each family's sizes). ``head_to_head_pairs``: pairs of models
    also measured side by side (``head_to_head``) at their common sizes when both are requested.
    ``throughput_batch=0`` / ``train_batch=0`` skip those measurements. ``jit_compile``: XLA in the optimised path
    (default: off). ``flops_reference``: path of a previous TensorFlow JSON whose FLOPs are reused under other
    backends. ``pipeline_size``: (H, W) of the synthetic records made when ``record_dir`` is None. ``bf16``: also
    time bf16 inference where the CPU has native bf16 (``model_latency.bf16_supported``). ``peer``: also time
    ``erfnet_enc`` against the PyTorch→ONNX Runtime peer at ``peer_size`` with ``peer_threads`` threads, ONNX
    Runtime spin-waiting if ``peer_spinning`` (``peer.peer_comparison``; extras ``[onnx]`` and ``[peer]``), and one
    training step of both at batch ``peer_train_batch`` and ``peer_train_size`` (``peer.train_step_comparison``;
    ``peer_train_batch=0`` skips it).
    """

    models: tuple | None = None
    sizes: tuple | None = None
    runs: int = 5
    warmup: int = 1
    throughput_batch: int = 4
    throughput_runs: int = 2
    train_batch: int = 1
    train_runs: int = 2
    train_all_sizes: bool = False
    num_classes: int = 19
    matmul_size: int = 2048
    optimized: bool = True
    jit_compile: bool = False
    profile: bool = False
    head_to_head_pairs: tuple = (("ssma_erfnet_enc", "rfbnet_erfnet_enc"),)
    pipeline: bool = False
    record_dir: str | None = None
    pipeline_model: str = "rfbnet_erfnet_enc"
    pipeline_size: tuple = (480, 640)
    pipeline_examples: int = 16
    pipeline_batch: int = 2
    pipeline_batches: int = 10
    pipeline_steps: int = 3
    flops_reference: str | None = None
    seed: int = 0
    bf16: bool = True
    peer: bool = False
    peer_size: tuple = (512, 1024)
    peer_threads: int | None = None
    peer_spinning: bool = True
    peer_train_size: tuple = (256, 512)
    peer_train_batch: int = 4

    @classmethod
    def from_flags(cls, f) -> "BenchmarkConfig":
        """The configuration of the parsed benchmark flags ``f``: each field from the flag of its name, the sizes
        parsed to (H, W) (``sizes_from_flags``: ``--size`` or the deprecated ``--sizes``; ``parse_size_or_legacy``)
        and the pairs (``parse_pair``)."""
        converted = {
            "sizes": sizes_from_flags(f.size, f.sizes),
            "head_to_head_pairs": tuple(parse_pair(p) for p in f.head_to_head),
            "pipeline_size": parse_size_or_legacy(f.pipeline_size, "pipeline_size"),
            "flops_reference": f.flops_json or f.compare_json,
            "peer_size": parse_size_or_legacy(f.peer_size, "peer_size"),
            "peer_train_size": parse_size_or_legacy(f.peer_train_size, "peer_train_size"),
        }
        names = [field.name for field in dataclasses.fields(cls)]
        return cls(**{name: converted[name] if name in converted else getattr(f, name) for name in names})


def run_benchmark(config: BenchmarkConfig, log=print):
    """Run the benchmark of ``config`` (see the module docstring); returns the JSON-ready result dict."""
    models = check_models(config.models if config.models is not None else MODEL_NAMES)
    sizes = [tuple(s) for s in config.sizes] if config.sizes else None
    per_model_sizes = {m: sizes_for(m, sizes) for m in models}
    settings = {
        "runs": int_at_least("runs", config.runs, 1),
        "warmup": int_at_least("warmup", config.warmup, 0),
        "throughput_batch": int_at_least("throughput_batch", config.throughput_batch, 0),
        "throughput_runs": int_at_least("throughput_runs", config.throughput_runs, 1),
        "train_batch": int_at_least("train_batch", config.train_batch, 0),
        "train_runs": int_at_least("train_runs", config.train_runs, 1),
        "train_all_sizes": bool(config.train_all_sizes),
        "num_classes": int_at_least("num_classes", config.num_classes, 2),
        "matmul_size": int_at_least("matmul_size", config.matmul_size, 1),
        "optimized": bool(config.optimized),
        "jit_compile": bool(config.jit_compile),
        "profile": bool(config.profile),
        "bf16": bool(config.bf16),
        "seed": config.seed,
    }
    reference = read_json(config.flops_reference) if config.flops_reference else None
    result = {
        "schema_version": SCHEMA_VERSION,
        "size_order": SIZE_ORDER,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": _command_line(),
        "machine": measurement.describe_machine(),
        "load_average_start": measurement.load_average(),
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
                name, per_model_sizes[name], settings, matmul, flops_lookup(reference), config.flops_reference, log
            )
        )
    result["head_to_head"] = []
    for pair in config.head_to_head_pairs or ():
        if all(name in models for name in pair):
            common = [size for size in per_model_sizes[pair[0]] if size in per_model_sizes[pair[1]]]
            result["head_to_head"].extend(head_to_head(pair, common, settings, matmul, log))
    result["targets"] = targets(result["results"], result["head_to_head"])
    result["bf16_native"] = bf16_supported()
    if config.peer:
        from rfbnet_tf.profiling.peer import peer_comparison

        result["peer"] = peer_comparison(tuple(config.peer_size), settings["num_classes"], settings["runs"],
                                         settings["warmup"], config.peer_threads, config.seed, log,
                                         config.peer_spinning)
        if config.peer_train_batch:
            from rfbnet_tf.profiling.peer import train_step_comparison

            result["peer_train_step"] = train_step_comparison(
                tuple(config.peer_train_size), config.peer_train_batch, settings["num_classes"], settings["runs"],
                settings["warmup"], config.peer_threads, config.seed, log, None if settings["bf16"] else False)
    if config.pipeline:
        from rfbnet_tf.profiling.input_pipeline import pipeline_measurement

        check_models([config.pipeline_model])
        result["pipeline"] = pipeline_measurement(
            config.record_dir, config.pipeline_model, config.pipeline_size, config.pipeline_examples,
            config.pipeline_batch, config.pipeline_batches, config.pipeline_steps, config.seed, log)
    result["load_average_end"] = measurement.load_average()
    return result
