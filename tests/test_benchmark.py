"""The benchmark's plumbing: FLOPs of tiny known graphs equal hand counts, latency statistics, JSON fields of a
tiny run, targets and comparison output, the training-step and pipeline measurements, flag errors, and sizes:
(H, W) everywhere (``--size=h,w``, the deprecated ``--sizes=WxH``, ``"size_order": "hw"``, JSON recorded before
it read as [W, H])."""

import json
import os
import time

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from rfbnet_tf import benchmark
from rfbnet_tf.models import build_model
from rfbnet_tf.profiling import (benchmark_report, benchmark_run, flops, input_pipeline, measurement, model_cost,
                                 model_latency)
from rfbnet_tf.profiling.model_latency import random_inputs
from rfbnet_tf.profiling.train_step import make_trainer, random_labels


H, W, K, CIN, COUT = 6, 10, 3, 4, 5


def _graph(layer, shape):
    inp = keras.Input(shape)
    return flops.traced_graph(keras.Model(inp, layer(inp)), (1,) + shape)


# ------------------------------------------------------------------------------------------------ FLOPs


def test_conv_flops_equal_hand_count_and_tf_profiler():
    graph = _graph(layers.Conv2D(COUT, K, padding="same", use_bias=False), (H, W, CIN))
    count = flops.graph_flops(graph)
    assert count.total == count.multiply_add == 2 * H * W * K * K * CIN * COUT == 21600
    assert count.by_op_type == {"Conv2D": 21600}
    assert flops.profiler_float_ops(graph) == 21600


def test_bias_relu_and_dilation_counts():
    # bias and ReLU: one FLOP per output element each; a dilated conv (SpaceToBatchND) counts without padding
    conv = layers.Conv2D(COUT, K, padding="same", dilation_rate=4, activation="relu")
    count = flops.graph_flops(_graph(conv, (H, W, CIN)))
    assert count.multiply_add == 2 * H * W * K * K * CIN * COUT
    assert count.by_op_type["BiasAdd"] == count.by_op_type["Relu"] == H * W * COUT
    assert count.total == 21600 + 2 * H * W * COUT


def test_depthwise_transposed_and_matmul_counts():
    depthwise = flops.graph_flops(_graph(layers.DepthwiseConv2D(K, padding="same", use_bias=False), (H, W, CIN)))
    assert depthwise.total == 2 * H * W * CIN * K * K
    transposed = layers.Conv2DTranspose(COUT, 4, strides=2, padding="same", use_bias=False)
    count = flops.graph_flops(_graph(transposed, (H, W, CIN)))
    assert count.by_op_type == {"Conv2DBackpropInput": 2 * H * W * CIN * 4 * 4 * COUT}
    dense = flops.graph_flops(_graph(layers.Dense(7, use_bias=False), (3,)))
    assert dense.total == 2 * 1 * 3 * 7
    pooled = flops.graph_flops(_graph(layers.MaxPooling2D(2), (H, W, CIN)))
    assert pooled.total == (H // 2) * (W // 2) * CIN * 4


def test_model_flops_of_multimodal_inputs_and_errors():
    rgb, depth = keras.Input((4, 4, 3), name="rgb"), keras.Input((4, 4, 1), name="depth")
    model = keras.Model({"rgb": rgb, "depth": depth}, layers.Concatenate()([rgb, depth]) * 2.0)
    assert flops.model_flops(model, {"rgb": (1, 4, 4, 3), "depth": (1, 4, 4, 1)}).total == 4 * 4 * 4  # one Mul
    with pytest.raises(ValueError, match=r"\(1, None, 4, 3\)"):
        flops.input_signature((1, None, 4, 3))
    with pytest.raises(ValueError, match="tf.Graph"):
        flops.graph_flops("not a graph")


# ------------------------------------------------------------------------------------------------ timing


def test_summarize_matches_hand_computed_percentiles():
    stats = measurement.summarize([1.0, 2.0, 3.0, 4.0, 10.0])
    assert stats["median_s"] == 3.0 and stats["min_s"] == 1.0 and stats["runs"] == 5
    assert stats["p10_s"] == pytest.approx(1.4)  # numpy linear interpolation: 1 + 0.4·(2 − 1)
    assert stats["p90_s"] == pytest.approx(7.6)  # 4 + 0.6·(10 − 4)
    assert stats["mean_s"] == pytest.approx(4.0)


def test_time_interleaved_runs_round_robin_with_warmup():
    calls, ticks = [], iter(range(1000))
    fns = {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}
    result = measurement.time_interleaved(fns, warmup=2, runs=3, clock=lambda: next(ticks))
    assert calls == ["a", "a", "b", "b"] + ["a", "b"] * 3
    assert result["a"]["median_s"] == result["b"]["median_s"] == 1.0  # each call spans one clock tick
    with pytest.raises(ValueError, match="runs must be an int >= 1, received 0"):
        measurement.time_callable(lambda: None, runs=0)


# ------------------------------------------------------------------------------------------------ arguments


def test_size_and_model_arguments():
    assert benchmark_run.parse_size("512,1024") == (512, 1024)  # (H, W)
    assert benchmark_run.parse_width_x_height("1024x512", "sizes") == (512, 1024)  # the deprecated form, width first
    with pytest.raises(ValueError, match="--sizes must be WIDTHxHEIGHT .*received '1024-512'$"):
        benchmark_run.parse_width_x_height("1024-512", "sizes")
    assert benchmark_run.sizes_for("erfnet_enc") == [(512, 1024), (480, 640)]
    assert benchmark_run.sizes_for("adapnet_pp") == [(384, 768)]
    with pytest.raises(ValueError, match=r"multiples of 32, received 32×48 \(H×W\)"):
        benchmark_run.sizes_for("rfbnet_adapnet_pp", [(32, 48)])  # the depth is shrunk: 2 x output stride 16
    assert benchmark_run.sizes_for("ssma_adapnet_pp", [(32, 48)]) == [(32, 48)]  # no shrink: output stride 16
    with pytest.raises(ValueError, match="unknown model"):
        benchmark_run.check_models(["resnet"])
    assert benchmark_run.parse_pair("ssma_erfnet_enc:rfbnet_erfnet_enc") == ("ssma_erfnet_enc", "rfbnet_erfnet_enc")
    with pytest.raises(ValueError, match="MODEL_A:MODEL_B, received 'erfnet_enc'"):
        benchmark_run.parse_pair("erfnet_enc")


def _flags(*argv):
    from absl import flags

    values = flags.FlagValues()
    benchmark.define_flags(values)
    values(["benchmark", *argv])
    return values


def _user_error(capsys, *argv):
    """The one stderr line of the binary run with ``argv`` (which must exit 1 within 5 s: before any work)."""
    values = _flags(*argv)
    start = time.perf_counter()
    with pytest.raises(SystemExit) as exit_info:
        benchmark.main(["benchmark"], flag_values=values)
    assert exit_info.value.code == 1 and time.perf_counter() - start < 5
    stderr = capsys.readouterr().err
    assert stderr.count("\n") == 1 and stderr.startswith("error: ")
    return stderr.strip()


@pytest.mark.parametrize("size_flag", ["--size=10,100", "--sizes=100x10"])  # the deprecated flag is width first
def test_binary_rejects_bad_flags_before_any_work(capsys, size_flag):
    line = _user_error(capsys, "--models=erfnet_enc", size_flag)
    assert line.endswith("multiples of 8, received 10×100 (H×W)")


def test_size_flag_takes_height_comma_width_repeated():
    config = benchmark_run.BenchmarkConfig.from_flags(_flags("--size=512,1024", "--size= 480 , 640"))
    assert config.sizes == ((512, 1024), (480, 640))
    assert benchmark_run.BenchmarkConfig.from_flags(_flags()).sizes is None  # each family's defaults


@pytest.mark.parametrize("text", ["1024x512", "512", "512,1024,3", "0,512", "512,-8", "a,b", "5.5,8", ""])
def test_size_flag_rejects_anything_else_in_one_line_naming_the_flag(capsys, text):
    with pytest.raises(ValueError) as error:
        benchmark_run.parse_size(text)
    assert str(error.value) == f"--size must be height,width of two positive ints (e.g. 512,1024), received {text!r}"
    line = _user_error(capsys, "--models=erfnet_enc", f"--size={text}")
    assert line == f"error: {error.value}"


def test_deprecated_sizes_flag_gives_the_config_of_size():
    deprecated = benchmark_run.BenchmarkConfig.from_flags(_flags("--sizes=1024x512,640x480"))
    new = benchmark_run.BenchmarkConfig.from_flags(_flags("--size=512,1024", "--size=480,640"))
    assert deprecated == new and new.sizes == ((512, 1024), (480, 640))
    with pytest.raises(ValueError, match=r"^--sizes must be WIDTHxHEIGHT .*received '512'$"):  # a list flag
        benchmark_run.BenchmarkConfig.from_flags(_flags("--sizes=512,1024"))


def test_size_and_deprecated_sizes_together_are_one_error(capsys):
    line = _user_error(capsys, "--size=512,1024", "--sizes=1024x512")
    assert line == "error: give --size=height,width or the deprecated --sizes=WIDTHxHEIGHT, not both"


def test_single_size_flags_read_height_width_and_their_legacy_width_x_height():
    default = benchmark_run.BenchmarkConfig.from_flags(_flags())
    plain = benchmark_run.BenchmarkConfig()
    assert (default.peer_size, default.peer_train_size, default.pipeline_size) == (
        plain.peer_size, plain.peer_train_size, plain.pipeline_size) == ((512, 1024), (256, 512), (480, 640))
    new = benchmark_run.BenchmarkConfig.from_flags(_flags("--peer_size=256,512", "--peer_train_size=128,256",
                                                          "--pipeline_size=240,320"))
    legacy = benchmark_run.BenchmarkConfig.from_flags(_flags("--peer_size=512x256", "--peer_train_size=256x128",
                                                             "--pipeline_size=320x240"))
    assert new == legacy and (new.peer_size, new.peer_train_size, new.pipeline_size) == (
        (256, 512), (128, 256), (240, 320))
    with pytest.raises(ValueError, match=r"^--peer_size must be height,width .*received '512;256'$"):
        benchmark_run.BenchmarkConfig.from_flags(_flags("--peer_size=512;256"))


@pytest.mark.parametrize("size_flags", [["--size=80,64", "--size=32,32"], ["--sizes=64x80,32x32"]])
def test_end_to_end_runs_at_the_first_size_in_height_width(monkeypatch, size_flags):
    from rfbnet_tf.profiling import end_to_end

    seen = []
    monkeypatch.setattr(end_to_end, "run_end_to_end", lambda model, size, **_: seen.append(size) or {})
    monkeypatch.setattr(end_to_end, "format_end_to_end", lambda result: "")
    benchmark.main(["benchmark"], flag_values=_flags("--end_to_end", *size_flags))
    assert seen == [(80, 64)]


# ------------------------------------------------------------------------------------------------ a tiny run


@pytest.fixture(scope="module")
def tiny_run():
    return benchmark_run.run_benchmark(benchmark_run.BenchmarkConfig(
        models=["erfnet_enc"], sizes=[(32, 64)], runs=2, throughput_batch=2, throughput_runs=1, train_batch=0,
        matmul_size=64), log=lambda *_: None)


def test_tiny_run_json_fields(tiny_run, tmp_path):
    for key in ("machine", "load_average_start", "load_average_end", "settings", "flops_method", "matmul_reference",
                "results", "targets"):
        assert key in tiny_run
    assert tiny_run["size_order"] == "hw"
    assert {"cpu_model", "logical_cores", "ram_bytes", "backend", "versions"} <= set(tiny_run["machine"])
    assert tiny_run["matmul_reference"]["flops"] == 2 * 64**3
    (row,) = tiny_run["results"]
    assert row["size"] == [32, 64] and row["input_shape"] == [1, 32, 64, 3]  # (H, W): 32 rows of 64 pixels
    assert row["params_trainable"] == 1876495  # erfnet_enc, 19 classes (pinned by the model tests)
    inference = row["inference"]
    for path in ("plain", "optimized"):
        stats = inference[path]
        assert stats["runs"] == 2 and stats["p10_s"] <= stats["median_s"] <= stats["p90_s"]
        assert stats["flops_per_s"] == pytest.approx(row["flops"]["total"] / stats["median_s"])
        assert stats["fraction_of_matmul"] == pytest.approx(stats["flops_per_s"] / inference["matmul"]["flops_per_s"])
    optimized = inference["optimized"]
    assert optimized["max_abs_output_difference"] <= 1e-4 * max(1.0, optimized["max_abs_output"])
    assert row["batch_norm_folding"] == {"batch_norm_before": 29, "batch_norm_after": 3, "folded": 26}
    assert row["throughput"]["batch"] == 2
    assert row["throughput"]["examples_per_s"] == pytest.approx(2 / row["throughput"]["median_s"])
    assert "train_step" not in row and tiny_run["head_to_head"] == []
    assert {"build", "fold_batch_norm", "flops", "inference", "throughput"} <= set(row["wall_seconds"])
    # bf16 inference: timed beside the others exactly where the CPU has native bf16
    assert tiny_run["bf16_native"] == model_latency.bf16_supported()
    assert ("bf16" in inference) == tiny_run["bf16_native"]
    if tiny_run["bf16_native"]:
        bf16 = inference["bf16"]
        assert bf16["runs"] == 2 and bf16["speedup"] == pytest.approx(inference["plain"]["median_s"] / bf16["median_s"])
        # 8 significand bits: close to the float32 logits, but not equal to them
        assert 0 < bf16["max_abs_output_difference"] <= 0.1 * max(1.0, bf16["max_abs_output"])
    assert "bf16 inference" in benchmark_report.format_table(tiny_run)
    assert row["memory"]["process_peak_rss_bytes"] >= row["memory"]["model_peak_rss_bytes"] > 0
    path = tmp_path / "out" / "run.json"
    benchmark_report.write_json(tiny_run, str(path))
    assert json.loads(path.read_text())["results"][0]["flops"] == row["flops"]


def test_tiny_run_flops_equal_the_model_graph_count(tiny_run):
    keras.utils.set_random_seed(0)
    model = build_model("erfnet_enc", 19)
    expected = flops.model_flops(model, (1, 32, 64, 3))
    assert tiny_run["results"][0]["flops"]["total"] == expected.total
    # the convolutions dominate: 2·|out|·k·k·C_in summed by hand over ERFNet's layers at 32×64 (H×W)
    conv = 2 * (16 * 32 * 9 * 3 * 13 + 8 * 16 * 9 * 16 * 48 + 4 * 8 * 9 * 64 * 64)  # the 3 downsampler convs
    conv += 2 * (5 * 4 * 8 * 16 * 3 * 64 * 64 + 8 * 4 * 4 * 8 * 3 * 128 * 128)  # 3×1 / 1×3 convs of 13 units
    conv += 2 * 4 * 8 * 128 * 19  # head
    assert expected.multiply_add == conv


def test_compare_and_table_output(tiny_run):
    text = benchmark_report.compare(tiny_run, tiny_run)
    assert "| model | size (H×W) | plain latency |" in text
    assert "| erfnet_enc | 32×64 | 1.00 | 1.00 | 1.00 | - | 1.00 |" in text
    assert "no (model, size) in common" in benchmark_report.compare(tiny_run, {"results": []})
    table = benchmark_report.format_table(tiny_run)
    assert "| model | size (H×W) | params M |" in table and "| erfnet_enc | 32×64 | 1.88 |" in table


def _width_first(result):
    """``result`` as written before ``"size_order"``: the sizes of its rows, head-to-head rows, targets and peer
    [W, H] (the peer training step's and the pipeline's were [H, W] already)."""
    old = json.loads(json.dumps(result))
    del old["size_order"]
    for record in (old["results"] + old.get("head_to_head", []) + [e for v in old["targets"].values() for e in v]
                   + ([old["peer"]] if "peer" in old else [])):
        record["size"] = record["size"][::-1]
    return old


def test_compare_reads_a_previous_json_written_width_first(tiny_run, tmp_path):
    path = tmp_path / "old.json"
    path.write_text(json.dumps(_width_first(tiny_run)))
    assert json.loads(path.read_text())["results"][0]["size"] == [64, 32]
    previous = benchmark_report.read_json(str(path))
    assert previous["size_order"] == "hw" and previous["results"][0]["size"] == [32, 64]
    assert "| erfnet_enc | 32×64 | 1.00 | 1.00 | 1.00 | - | 1.00 |" in benchmark_report.compare(tiny_run, previous)


def _reference(size, **top):
    return {**top, "results": [{"model": "erfnet_enc", "size": list(size), "flops": {"total": 43e9}},
                               {"model": "adapnet_pp", "size": list(size), "flops": None}]}


def test_flops_reference_written_width_first_gives_the_same_lookup(tmp_path, monkeypatch):
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(_reference((1024, 512), schema_version=1)))  # before "size_order": [W, H]
    new.write_text(json.dumps(_reference((512, 1024), schema_version=1, size_order="hw")))
    tables = [model_cost.flops_lookup(benchmark_report.read_json(str(path))) for path in (old, new)]
    assert tables[0] == tables[1] == {("erfnet_enc", (512, 1024)): {"total": 43e9}}
    # what benchmark_model does with it under another backend: found at (H, W) = (512, 1024) only
    monkeypatch.setattr(model_cost.keras.backend, "backend", lambda: "jax")
    found = model_cost._count_flops(None, "erfnet_enc", (512, 1024), tables[0], str(old))
    assert found == ({"total": 43e9}, f"previous_json:{old}")
    assert model_cost._count_flops(None, "erfnet_enc", (1024, 512), tables[0], str(old)) == (None, None)


def test_in_hw_order_swaps_only_the_sizes_written_width_first():
    old = {"results": [{"size": [64, 32], "input_shape": [1, 32, 64, 3]}], "head_to_head": [{"size": [64, 32]}],
           "targets": {"rfbnet_vs_ssma": [{"size": [64, 32]}], "erfnet_matmul_fraction": [{"size": [1024, 512]}]},
           "peer": {"size": [1024, 512]}, "peer_train_step": {"size": [256, 512]},
           "pipeline": {"image_size": [480, 640]}}
    new = benchmark_report.in_hw_order(old)
    assert new == {"results": [{"size": [32, 64], "input_shape": [1, 32, 64, 3]}],
                   "head_to_head": [{"size": [32, 64]}],
                   "targets": {"rfbnet_vs_ssma": [{"size": [32, 64]}],
                               "erfnet_matmul_fraction": [{"size": [512, 1024]}]},
                   "peer": {"size": [512, 1024]}, "peer_train_step": {"size": [256, 512]},
                   "pipeline": {"image_size": [480, 640]}, "size_order": "hw"}
    assert old["results"][0]["size"] == [64, 32]  # the loaded JSON itself is left as it was
    assert benchmark_report.in_hw_order(new) is new  # declared (H, W): read as it is
    assert benchmark_report.in_hw_order({"size": [640, 480], "model": "m"}) == {"size": [480, 640], "model": "m",
                                                                      "size_order": "hw"}  # an end-to-end JSON


RECORDED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")


@pytest.mark.parametrize("name", sorted(n for n in os.listdir(RECORDED) if n.endswith(".json")))
def test_recorded_benchmark_json_is_in_height_width_order(name):
    with open(os.path.join(RECORDED, name)) as handle:
        recorded = json.load(handle)
    assert recorded["size_order"] == "hw"
    for row in recorded.get("results", []):
        assert row["size"] == row["input_shape"][1:3], row["model"]  # input_shape is NHWC
    if "end_to_end" in name:
        assert recorded["size"] == [480, 640]  # the ScanNet frame: 480 rows of 640 pixels
    if "peer" in recorded:  # each recorded with --peer_size equal to its --size
        assert recorded["peer"]["size"] == recorded["results"][0]["size"]
    assert "--sizes=" not in (recorded.get("command") or "")


def _row(model, size, plain, optimized, total_flops, fraction=None, matmul=1e11):
    return {
        "model": model,
        "size": list(size),
        "flops": {"total": total_flops},
        "inference": {
            "plain": {"median_s": plain, "fraction_of_matmul": fraction},
            "optimized": {"median_s": optimized, "fraction_of_matmul": fraction},
            "matmul": {"flops_per_s": matmul},
        },
    }


def test_targets_from_results():
    results = [
        _row("ssma_erfnet_enc", (512, 1024), 2.0, 1.5, 88e9, matmul=5e10),  # measured under heavier load
        _row("rfbnet_erfnet_enc", (512, 1024), 1.6, 1.2, 60e9),
        _row("erfnet_enc", (512, 1024), 0.4, 0.35, 43e9, fraction=0.9),
        _row("erfnet_enc", (1024, 512), 0.4, 0.35, 43e9, fraction=0.1),  # (H, W): not the Cityscapes size
        _row("rfbnet_erfnet_enc", (480, 640), 1.0, 1.0, 35e9),
    ]
    found = model_cost.targets(results)
    (entry,) = found["rfbnet_vs_ssma"]
    assert entry["size"] == [512, 1024]
    assert entry["plain_ratio"] == pytest.approx(1.25) and entry["optimized_ratio"] == pytest.approx(1.25)
    # latency × the matmul rate measured with it: 1.5·5e10 / (1.2·1e11)
    assert entry["optimized_load_normalized_ratio"] == pytest.approx(0.625)
    assert not entry["met"] and entry["decided_by"] == "optimized_load_normalized_ratio"
    assert entry["ssma_flops"] == 88e9 and entry["rfbnet_flops"] == 60e9
    assert found["erfnet_matmul_fraction"] == [{"size": [512, 1024], "plain": 0.9, "optimized": 0.9, "met": True}]
    side_by_side = [{"models": ["ssma_erfnet_enc", "rfbnet_erfnet_enc"], "size": [512, 1024],
                     "ratio": {"plain": 1.3, "optimized": 1.4}}]
    entry = model_cost.targets(results, side_by_side)["rfbnet_vs_ssma"][0]
    assert entry["optimized_head_to_head_ratio"] == 1.4 and entry["plain_head_to_head_ratio"] == 1.3
    assert entry["met"] and entry["decided_by"] == "optimized_head_to_head_ratio"


# ------------------------------------------------------------------------------------------------ training, pipeline


def _tiny_rgb_model(num_classes):
    inp = keras.Input((None, None, 3), name="rgb")
    return keras.Model(inp, layers.Conv2D(num_classes, 3, padding="same", name="head")(inp))


def test_training_step_updates_the_weights():
    model = _tiny_rgb_model(4)
    before = model.get_weights()[0].copy()
    inputs = {"rgb": random_inputs("erfnet_enc", 2, 8, 8)}
    labels = random_labels(2, 8, 8, 4)
    assert labels.dtype == np.int32 and set(np.unique(labels)) <= {0, 1, 2, 3, 255} and (labels == 255).any()
    step = make_trainer(model, "erfnet_enc", 4)((inputs, labels))
    loss = float(keras.ops.convert_to_numpy(step()))
    assert np.isfinite(loss) and loss > 0
    assert not np.allclose(model.get_weights()[0], before)
    with pytest.raises(ValueError, match="must be a dict"):
        make_trainer(model, "erfnet_enc", 4)((inputs["rgb"], labels))


def test_pipeline_rates_plumbing(tmp_path, monkeypatch):
    record_dir = input_pipeline.synthetic_records(str(tmp_path / "records"), size=(32, 32), count=2)
    delay = 0.05

    def slow_trainer(model, model_name, num_classes, weight_decay=None):  # a step of known duration
        def feed(batch_source):
            iterator = iter(batch_source.repeat())
            return lambda: (next(iterator), time.sleep(delay))

        return feed

    monkeypatch.setattr(input_pipeline, "make_trainer", slow_trainer)
    rates = input_pipeline.pipeline_rates(record_dir, "erfnet_enc", batch_size=2, num_batches=2, train_steps=2)
    assert rates["image_size"] == [32, 32] and rates["batch_size"] == 2
    assert 0.5 * 2 / delay < rates["model_alone"] <= 2 / delay  # 2 examples per 50 ms step
    assert rates["feeding_training"] <= 2 / delay
    assert rates["bottleneck"] == ("pipeline" if rates["pipeline_alone"] < rates["model_alone"] else "model")
    slower = min(rates["pipeline_alone"], rates["model_alone"])
    assert rates["overlap"] == pytest.approx(rates["feeding_training"] / slower)
    # CPU time per example × examples per second = the cores the pipeline kept busy: above 0, at most the machine's
    busy_cores = rates["pipeline_cpu_ms_per_example"] / 1e3 * rates["pipeline_alone"]
    assert 0 < busy_cores <= 1.1 * os.cpu_count()


def test_machine_description():
    description = measurement.describe_machine()
    assert description["backend"] == keras.backend.backend()
    assert description["versions"]["tensorflow"] == tf.__version__
    assert description["logical_cores"] >= 1 and description["ram_bytes"] > 2**20
    assert len(measurement.load_average()) == 3
    assert measurement.peak_rss_bytes() > 2**20
    assert measurement.device_memory_peak_bytes() is None or measurement.device_memory_peak_bytes() >= 0


def test_head_to_head_times_both_models_interleaved(monkeypatch):
    def tiny_model(name, num_classes):  # stand-ins: a cheap model and one 8× wider
        inp = keras.Input((None, None, 3), name="rgb")
        width = 4 if name == "erfnet_enc" else 32
        return keras.Model(inp, layers.Conv2D(num_classes, 1)(layers.Conv2D(width, 3, padding="same")(inp)))

    monkeypatch.setattr(model_cost, "build_model", tiny_model)
    settings = {"seed": 0, "num_classes": 3, "optimized": True, "jit_compile": False, "warmup": 1, "runs": 2}
    calls = []
    matmul = lambda: calls.append("matmul")  # noqa: E731
    (row,) = model_cost.head_to_head(("erfnet_enc", "adapnet_pp"), [(16, 32)], settings, matmul, log=lambda *_: 0)
    assert calls == ["matmul"] * 3  # one warm-up + one call per round, in the same rounds as the models
    assert row["models"] == ["erfnet_enc", "adapnet_pp"] and row["size"] == [16, 32]  # (H, W)
    assert set(row["erfnet_enc"]) == {"plain", "optimized"} and row["erfnet_enc"]["plain"]["runs"] == 2
    for path in ("plain", "optimized"):
        assert row["ratio"][path] == pytest.approx(
            row["erfnet_enc"][path]["median_s"] / row["adapnet_pp"][path]["median_s"]
        )


def test_bag_segmentation_script_writes_the_scenes_it_names_and_times_them(tmp_path):
    """benchmarks/bag_segmentation.py at a tiny size: ``--size=h,w`` is (H, W) like every benchmark size, the bag's
    images are the rendered scenes at that size (read back with rosbags), every frame is segmented, and the JSON
    declares ``"size": [H, W]`` under ``"size_order": "hw"``."""
    import importlib.util

    from rosbags.highlevel import AnyReader

    from rfbnet_tf.profiling.end_to_end import raw_frame

    spec = importlib.util.spec_from_file_location("bag_segmentation", os.path.join(RECORDED, "bag_segmentation.py"))
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    work, output = tmp_path / "work", tmp_path / "out.json"
    script.main(["--frames=2", "--size=24,40", "--model=erfnet_enc", "--num_classes=3", f"--work_dir={work}",
                 f"--output_json={output}"])
    result = json.loads(output.read_text())
    assert result["size"] == [24, 40] and result["size_order"] == "hw"
    assert result["summary"]["frames"] == result["summary"]["segmented"] == 2
    with AnyReader([work / "in.bag"]) as reader:
        images = [reader.deserialize(raw, connection.msgtype) for connection, _, raw in reader.messages()
                  if connection.topic == "/camera/color/image_raw"]
    assert [(image.height, image.width) for image in images] == [(24, 40)] * 2
    for seed, image in enumerate(images):
        pixels = np.frombuffer(image.data, np.uint8).reshape(24, 40, 3)
        np.testing.assert_array_equal(pixels, raw_frame((24, 40), seed)[0])
