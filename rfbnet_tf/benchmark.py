r"""Benchmark binary: parameters, FLOPs, inference latency and throughput, training-step time, memory, and the
input pipeline's rate, for every model of the zoo — ``python -m rfbnet_tf.benchmark``.

For each model (``--models``) and input size (``--size=height,width``, repeatable; every size here is height ×
width, H×W; default: the ERFNet family at 512×1024 and 480×640, the paper's Cityscapes and ScanNet sizes, the
AdapNet++ family at 384×768):

* trainable / total parameters;
* FLOPs counted from the traced TensorFlow graph at batch 1 (``rfbnet_tf.profiling.flops``: per-op rules on the
  concrete function's static shapes; a multiply-add = 2 FLOPs); null under other backends unless
  ``--flops_json`` (default: ``--compare_json``) names a previous TensorFlow JSON to take them from;
* the pairs of ``--head_to_head`` (default SSMA(ERFNetEnc) vs RFBNet(ERFNetEnc), the paper's speed claim) also
  side by side: both models timed interleaved, so a load change on a shared machine cannot favour either;
* inference latency at batch 1 of the plain path and of the optimised path (BN folded; ``--jit_compile`` adds XLA;
  ``rfbnet_tf.profiling.model_latency``): ``--warmup`` untimed calls, then median, p10, p90 over ``--runs``
  runs, interleaved round-robin with the reference matrix product (``--matmul_size``) so that the model's
  achieved FLOP/s is reported as a fraction of what the machine's matrix product achieves *under the same load*;
  the largest output difference between the two paths is recorded;
* throughput (examples/s) of the optimised path (plain with ``--nooptimized``) at ``--throughput_batch``;
* one training step (the train binary's loss and optimizer) at ``--train_batch``, at each model's first size
  (``--train_all_sizes`` for all);
* memory: the process's RSS high-water mark (``resource.getrusage``; cumulative over the run), the per-model
  peak (``VmHWM`` reset before each model, Linux), and the accelerator's peak where one exists.

With ``--end_to_end`` (instead of the above): one raw RGB-D frame → labels per frame, completion, HHA, model and
total, for the numpy preprocessing path and the graph path (the export's ``serving_raw``) side by side
(``rfbnet_tf.profiling.end_to_end``).

bf16 inference (``--bf16``, default on) is timed beside the other paths where the CPU has native bf16
(AVX512-BF16 / AMX-BF16). With ``--peer``: ``erfnet_enc`` at ``--peer_size`` against the strongest CPU peer, an
independent PyTorch ERFNet encoder exported to ONNX and run by ONNX Runtime, side by side with our TensorFlow and
ONNX Runtime paths (``rfbnet_tf.profiling.peer``; the ratio is in the JSON's ``peer``).

With ``--pipeline``: the input pipeline's examples/s with all augmentations, alone and feeding training steps of
``--pipeline_model`` (``rfbnet_tf.profiling.input_pipeline``), from ``--record_dir`` or from tiny synthetic
records written to a temporary directory.

Backends: TensorFlow by default; with ``KERAS_BACKEND=jax`` the model is timed under ``jax.jit`` and with
``KERAS_BACKEND=torch`` under ``torch.no_grad`` (``rfbnet_tf.profiling.model_latency``, ``train_step``).

Output: a table on the console and, with ``--output_json``, a JSON with the machine description (CPU, cores, RAM,
load average at the start and the end — other processes may share the cores —, backend, versions); its rows'
``"size"`` is [H, W], declared by the top-level ``"size_order": "hw"`` (a JSON without it, written before, holds
[W, H] and is read as such: ``rfbnet_tf.profiling.benchmark_report.in_hw_order``). ``--compare_json=previous.json``
prints this run's ratios against a previous one.

``--sizes=WIDTHxHEIGHT,...`` (the old flag, width first) is still read, as a deprecated alias of ``--size``; so
is a ``WIDTHxHEIGHT`` value of ``--peer_size``, ``--peer_train_size`` and ``--pipeline_size``.

Examples::

    python -m rfbnet_tf.benchmark --models=erfnet_enc --size=32,64 --runs=3
    python -m rfbnet_tf.benchmark --output_json=benchmarks/cpu_2core.json --runs=5 --pipeline
    python -m rfbnet_tf.benchmark --end_to_end --runs=5 --output_json=benchmarks/end_to_end_cpu_2core.json
"""

from __future__ import annotations

from rfbnet_tf import cli
from rfbnet_tf.models import MODEL_NAMES
from rfbnet_tf.profiling.benchmark_report import compare, format_table, read_json, size_text, write_json
from rfbnet_tf.profiling.benchmark_run import BenchmarkConfig, check_models, run_benchmark


def define_flags(flag_values=None):
    """Define the binary's flags on ``flag_values`` (default ``absl.flags.FLAGS``)."""
    from absl import flags

    on = {"flag_values": flags.FLAGS if flag_values is None else flag_values}
    flags.DEFINE_list("models", list(MODEL_NAMES), f"Models to benchmark, from {list(MODEL_NAMES)}.", **on)
    flags.DEFINE_multi_string("size", None, "Input size height,width for every model, repeatable (--size=512,1024 "
                              "--size=480,640; default: per family, ERFNet 512,1024 and 480,640; AdapNet++ "
                              "384,768).", **on)
    flags.DEFINE_list("sizes", [], "Deprecated: --size=height,width. (This flag: WIDTHxHEIGHT entries, "
                      "--sizes=1024x512,640x480.)", **on)
    flags.DEFINE_integer("runs", 5, "Timed inference runs per model and size (after --warmup).", lower_bound=1, **on)
    flags.DEFINE_integer("warmup", 1, "Untimed warm-up calls (tracing, XLA compilation).", lower_bound=0, **on)
    flags.DEFINE_integer("throughput_batch", 4, "Batch of the throughput measurement (0 skips it).", lower_bound=0,
                         **on)
    flags.DEFINE_integer("throughput_runs", 2, "Timed runs of the throughput measurement.", lower_bound=1, **on)
    flags.DEFINE_integer("train_batch", 1, "Batch of the training-step measurement (0 skips it).", lower_bound=0, **on)
    flags.DEFINE_integer("train_runs", 2, "Timed training steps.", lower_bound=1, **on)
    flags.DEFINE_boolean("train_all_sizes", False, "Time the training step at every size (default: each model's "
                         "first size only).", **on)
    flags.DEFINE_integer("num_classes", 19, "Output classes of the models (19 = Cityscapes).", lower_bound=2, **on)
    flags.DEFINE_integer("matmul_size", 2048, "n of the reference n×n fp32 matrix product.", lower_bound=1, **on)
    flags.DEFINE_boolean("optimized", True, "Also time the optimised inference path (BN folded).", **on)
    flags.DEFINE_boolean("jit_compile", False, "Compile the optimised path with XLA (TensorFlow; slower for RFBNet "
                         "on the 2-core CPU).", **on)
    flags.DEFINE_boolean("profile", False, "Per-op-type time of each model's graph (TensorFlow).", **on)
    flags.DEFINE_list("head_to_head", ["ssma_erfnet_enc:rfbnet_erfnet_enc"], "Pairs A:B of models also timed side "
                      "by side (interleaved) at their common sizes when both are benchmarked; empty disables.", **on)
    flags.DEFINE_boolean("pipeline", False, "Measure the input pipeline alone and feeding training.", **on)
    flags.DEFINE_string("record_dir", None, "Prepared records for --pipeline (default: tiny synthetic records in a "
                        "temporary directory).", **on)
    flags.DEFINE_string("pipeline_model", "rfbnet_erfnet_enc", "Model trained in the pipeline measurement.", **on)
    flags.DEFINE_string("pipeline_size", "480,640", "height,width of the synthetic records of --pipeline (a "
                        "deprecated WIDTHxHEIGHT is still read).", **on)
    flags.DEFINE_integer("pipeline_examples", 16, "Synthetic records written for --pipeline.", lower_bound=1, **on)
    flags.DEFINE_integer("pipeline_batch", 2, "Batch of the pipeline measurement.", lower_bound=1, **on)
    flags.DEFINE_integer("pipeline_batches", 10, "Batches timed for the pipeline alone.", lower_bound=1, **on)
    flags.DEFINE_integer("pipeline_steps", 3, "Training steps timed alone and fed by the pipeline.", lower_bound=1,
                         **on)
    flags.DEFINE_string("output_json", None, "Write the results (with the machine description) to this JSON.", **on)
    flags.DEFINE_string("compare_json", None, "A previous benchmark JSON: print ratios against it.", **on)
    flags.DEFINE_string("flops_json", None, "A previous TensorFlow JSON whose FLOPs are reused under other "
                        "backends (default: --compare_json).", **on)
    flags.DEFINE_integer("seed", 0, "Seed of the random weights and inputs.", **on)
    flags.DEFINE_boolean("end_to_end", False, "Instead of the model benchmark: raw RGB-D frame → labels, numpy "
                         "preprocessing path vs graph path (rfbnet_tf.profiling.end_to_end), with "
                         "--end_to_end_model at the first --size (default 480,640), --runs, --warmup.", **on)
    flags.DEFINE_string("end_to_end_model", "rfbnet_erfnet_enc", "Multimodal model of --end_to_end.", **on)
    flags.DEFINE_boolean("bf16", True, "Also time bf16 inference (mixed_bfloat16) where the CPU has native bf16.", **on)
    flags.DEFINE_boolean("peer", False, "Also time erfnet_enc against an independent PyTorch ERFNet encoder exported "
                         "to ONNX and run by ONNX Runtime (extras [onnx] and [peer]).", **on)
    flags.DEFINE_string("peer_size", "512,1024", "height,width of the --peer comparison (a deprecated WIDTHxHEIGHT "
                        "is still read).", **on)
    flags.DEFINE_integer("peer_threads", None, "Threads of ONNX Runtime and PyTorch in --peer (default: the usable "
                         "cores).", lower_bound=1, **on)
    flags.DEFINE_string("peer_train_size", "256,512", "height,width of the --peer training-step comparison (a "
                        "deprecated WIDTHxHEIGHT is still read).", **on)
    flags.DEFINE_integer("peer_train_batch", 4, "Batch of the --peer training-step comparison (0 = skip it).",
                         lower_bound=0, **on)
    flags.DEFINE_boolean("peer_spinning", True, "ONNX Runtime threads spin-wait in --peer (its default; off helps on "
                         "oversubscribed cores).", **on)


@cli.exits_on_user_error
def main(argv, flag_values=None):
    """The binary: run the benchmark with the parsed flags, print the table, write/compare JSON."""
    from absl import flags

    cli.check_no_arguments(argv)
    f = flags.FLAGS if flag_values is None else flag_values
    config = BenchmarkConfig.from_flags(f)
    if f.end_to_end:
        _end_to_end(f, config.sizes)
        return
    previous = read_json(f.compare_json) if f.compare_json else None
    result = run_benchmark(config)
    print(format_table(result))
    from rfbnet_tf.profiling.model_latency import format_op_table

    for row in result["results"]:
        for path, profile in row.get("op_profile", {}).items():
            print(f"\nop profile {row['model']} {size_text(row['size'])} {path}:")
            print(format_op_table(profile))
    if previous is not None:
        print()
        print(compare(result, previous))
    if f.output_json:
        write_json(result, f.output_json)
        print(f"\nwrote {f.output_json}")


def _end_to_end(f, sizes):
    """``--end_to_end``: the end-to-end measurement at the first of ``sizes`` ((H, W) each; None: its default)."""
    from rfbnet_tf.profiling import end_to_end

    check_models([f.end_to_end_model])
    size = sizes[0] if sizes else end_to_end.DEFAULT_SIZE
    result = end_to_end.run_end_to_end(f.end_to_end_model, size, runs=f.runs, warmup=f.warmup,
                                       num_classes=f.num_classes, seed=f.seed)
    print(end_to_end.format_end_to_end(result))
    if f.output_json:
        write_json(result, f.output_json)
        print(f"\nwrote {f.output_json}")


FLAG_GROUPS = {
    "models": ["models", "size", "sizes", "num_classes", "seed"],
    "measurements": ["runs", "warmup", "throughput_batch", "throughput_runs", "train_batch", "train_runs",
                     "train_all_sizes", "matmul_size", "optimized", "jit_compile", "bf16", "profile", "head_to_head"],
    "input pipeline": ["pipeline", "record_dir", "pipeline_model", "pipeline_size", "pipeline_examples",
                       "pipeline_batch", "pipeline_batches", "pipeline_steps"],
    "end to end": ["end_to_end", "end_to_end_model"],
    "PyTorch peer": ["peer", "peer_size", "peer_threads", "peer_spinning", "peer_train_size", "peer_train_batch"],
    "output": ["output_json", "compare_json", "flops_json"],
}
"""``--help`` headings of the flags."""


def run():
    """Entry point of ``rfbnet-benchmark`` and ``python -m rfbnet_tf.benchmark``."""
    cli.run(main, define_flags, groups=FLAG_GROUPS)


if __name__ == "__main__":
    run()