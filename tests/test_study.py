"""rfbnet_tf.study: the statistics against hand computations, row and claim parsing, and the smoke-scale study
end to end (every row of experiments/study_synthetic.flags, two seeds, two-stage init) with its report checked
against the runs' own eval JSON files, then skipped and resumed runs."""

import functools
import json
import math
import os
import shlex

import numpy as np
import pytest
import tensorflow as tf
from absl import flags

from rfbnet_tf import study as study_main
from rfbnet_tf.reproduction import claims as claims_lib
from rfbnet_tf.reproduction import report as report_lib
from rfbnet_tf.reproduction import rows as rows_lib
from rfbnet_tf.reproduction import runner, statistics

FLAGFILE = os.path.join(os.path.dirname(__file__), "..", "experiments", "study_synthetic.flags")


def _flagfile_rows():
    with open(FLAGFILE, encoding="utf-8") as handle:
        lines = [line.strip() for line in handle if line.strip().startswith("--row=")]
    return rows_lib.parse_rows([shlex.split(line)[0][len("--row="):] for line in lines])


# ----------------------------------------------------------------------------------------- statistics


def test_t_quantiles_match_tables():
    assert statistics.t_quantile_975(2) == pytest.approx(4.303, abs=1e-3)
    assert statistics.t_quantile_975(10) == pytest.approx(2.228, abs=1e-3)
    assert statistics.t_quantile_975(60) == pytest.approx(2.000, abs=2e-3)  # beyond the table: the series
    assert statistics.t_quantile_975(1000) == pytest.approx(1.962, abs=2e-3)


def test_paired_difference_by_hand():
    a, b = [60.0, 62.0, 61.0], [59.0, 60.5, 61.5]
    result = statistics.paired_difference(a, b)
    d = np.array([1.0, 1.5, -0.5])
    s = math.sqrt(((d - d.mean()) ** 2).sum() / 2)
    half = 4.3027 * s / math.sqrt(3)
    assert result["differences"] == pytest.approx(d.tolist())
    assert result["mean"] == pytest.approx(d.mean()) and result["std"] == pytest.approx(s)
    assert result["ci95"] == pytest.approx([d.mean() - half, d.mean() + half])
    assert (result["positive"], result["negative"], result["zero"]) == (2, 1, 0)
    assert statistics.paired_difference([1.0], [0.0])["ci95"] is None


def test_verdicts_never_call_an_interval_spanning_zero_reproduced():
    assert statistics.verdict([0.1, 2.0], 1) == "reproduced"
    assert statistics.verdict([-2.0, -0.1], 1) == "contradicted"
    assert statistics.verdict([-0.1, 2.0], 1) == "inconclusive"
    assert statistics.verdict([0.0, 2.0], 1) == "inconclusive"
    assert statistics.verdict([-2.0, -0.1], -1) == "reproduced"  # the paper's sign is negative (claim 3a)
    assert statistics.verdict(None, 1) == "inconclusive"


# ----------------------------------------------------------------------------------------- rows and claims


def test_flagfile_parses_with_the_study_binary_flags():
    values = flags.FlagValues()
    study_main.define_flags(values)
    values(["study", f"--flagfile={FLAGFILE}"])
    config = study_main.config_from_flags(values)
    assert config.seeds == (0, 1) and len(config.rows) == 10 and config.image_size == (128, 160)
    assert dict(config.rows[-1].flags)["add_point"] == "T_input" and config.rows[-1].paper_miou is None
    assert values.jobs == 2  # the two seeds' chains in parallel (benchmarks/README.md "Study throughput")
    assert (config.end_learning_rate, config.adam_epsilon) == (1e-4, 1e-8)  # [12]'s optimiser (issue 26)
    assert config.unimodal_steps > config.multimodal_steps  # the paper trains the unimodal models longer
    smoke_values = flags.FlagValues()
    study_main.define_flags(smoke_values)
    smoke_values(["study", f"--flagfile={FLAGFILE}", "--smoke"])
    smoke = study_main.config_from_flags(smoke_values)
    assert smoke.seeds == (0, 1) and smoke.image_size == tuple(study_main.SMOKE["image_size"])
    assert [row.name for row in smoke.rows] == list(study_main.SMOKE_ROWS)


def test_flagfile_rows_cover_tables_iii_and_iv():
    rows = {row.name: row for row in _flagfile_rows()}
    assert set(rows) >= {name for claim in claims_lib.CLAIMS for name in claim.rows}
    assert rows["rgb"].modality == "rgb" and rows["depth"].modality == "depth"
    assert rows["rfbnet"].train_flags() == {"model": "rfbnet_erfnet_enc", "shrink_depth": True, "gates": True,
                                            "add_point": "R"}
    assert rows["rfb_none"].train_flags()["gates"] is False and rows["rfb_none"].paper_miou == 61.3
    assert rows_lib.source_rows(list(rows.values())) == {"rgb": rows["rgb"], "depth": rows["depth"]}


@pytest.mark.parametrize("text, message", [
    ("rgb:51.7", "expected NAME:PAPER_MIOU"),
    ("RGB:51.7:model=erfnet_enc", "lower-case"),
    ("rgb:high:model=erfnet_enc", "PAPER_MIOU must be a number"),
    ("rgb:51.7:modality=rgb", "model=... is required"),
    ("rgb:51.7:model=erfnet_enc,steps=3", "is not flag=value"),
    ("rgb:51.7:model=resnet", "unknown model"),
])
def test_bad_rows_are_named(text, message):
    with pytest.raises(ValueError, match=message):
        rows_lib.parse_row(text)


def test_claims_use_per_seed_pairs_and_the_best_unimodal_row():
    per_seed = {"rgb": {0: 40.0, 1: 50.0, 2: 45.0}, "depth": {0: 48.0, 1: 44.0, 2: 47.0},
                "rfbnet": {0: 55.0, 1: 56.0, 2: 50.0, 3: 99.0}}  # seed 3 unfinished elsewhere: not paired
    claim = next(c for c in claims_lib.CLAIMS if c.id == "1b")
    result = claims_lib.evaluate_claim(claim, per_seed)
    assert result["differences"] == pytest.approx([7.0, 6.0, 3.0])  # against max(rgb, depth) of each seed
    assert result["sign_count"] == "3/3" and result["verdict"] == "reproduced" and result["seeds"] == [0, 1, 2]
    assert result["paper"]["difference"] == pytest.approx(5.9)
    missing = claims_lib.evaluate_claim(next(c for c in claims_lib.CLAIMS if c.id == "2b"), per_seed)
    assert missing["status"] == "not run" and missing["missing_rows"] == ["ssma_shrink"]


# ----------------------------------------------------------------------------------------- the smoke study


@pytest.fixture(scope="module", autouse=True)
def _model_costs_once():
    """``report.model_cost`` memoised: this module's three reports (the study, the partial one, the resumed
    study) cost the same four models at the same size; each is built and traced once (≈ 15 s)."""
    patch = pytest.MonkeyPatch()
    patch.setattr(report_lib, "model_cost", functools.lru_cache(maxsize=None)(report_lib.model_cost))
    yield
    patch.undo()


@pytest.fixture(scope="module")
def smoke_study(tmp_path_factory):
    """The smoke-scale study of the flagfile's rows, eagerly (as ``--smoke`` runs it), with ``--jobs=2``: each seed
    in its own worker process (the rerun in the resume test below runs in this process, ``--jobs=1``)."""
    root = tmp_path_factory.mktemp("study")
    config = study_main.smoke_config(runner.StudyConfig(
        study_dir=str(root / "study"), record_dir=str(root / "records"), rows=tuple(_flagfile_rows()),
        seeds=(0, 1, 2)))
    tf.config.run_functions_eagerly(True)
    lines = []
    try:
        report = study_main.run_study(config, progress=lines.append, jobs=2)
    finally:
        tf.config.run_functions_eagerly(False)
    return config, report, lines


def _eval_miou(config, row, seed):
    with open(runner.eval_path(runner.run_dir(config.study_dir, row, seed)), encoding="utf-8") as handle:
        return 100.0 * json.load(handle)["miou"]


def test_report_is_recomputed_from_the_runs_eval_files(smoke_study):
    config, report, lines = smoke_study
    assert len(lines) == len(config.rows) * 2 + 1 and lines[-1].startswith("study done")
    runs = [line.split("] ")[1].split(":")[0].split(" seed ") for line in lines[:-1]]
    assert sorted((row, int(seed)) for row, seed in runs) == sorted(
        (row.name, seed) for row in config.rows for seed in (0, 1))
    for seed in ("0", "1"):  # a seed's unimodal runs first: they initialise its multimodal runs
        order = [row for row, run_seed in runs if run_seed == seed]
        assert set(order[:2]) == {"rgb", "depth"} and len(order) == len(config.rows)
    with open(os.path.join(config.study_dir, "report.json"), encoding="utf-8") as handle:
        stored = json.load(handle)
    assert stored["claims"] == json.loads(json.dumps(report["claims"]))
    per_seed = {}
    for row in stored["rows"]:
        values = [_eval_miou(config, row["name"], seed) for seed in (0, 1)]
        per_seed[row["name"]] = values
        assert row["miou_per_seed"] == pytest.approx(values, abs=1e-9)
        assert row["mean"] == pytest.approx(np.mean(values)) and row["std"] == pytest.approx(np.std(values, ddof=1))
        assert row["min"] == pytest.approx(min(values)) and row["max"] == pytest.approx(max(values))
        assert row["params_trainable"] > 1e6 and row["gflops"] > 0
        assert [step for step, _ in row["curves"][0]] == [1, 2]  # a validation at every smoke step
    assert [claim["id"] for claim in stored["claims"] if claim["status"] == "run"] == ["1a", "1b", "2a"]
    for claim in (claim for claim in stored["claims"] if claim["status"] == "run"):
        a = np.array(per_seed[claim["a"]])
        b = np.max([per_seed[name] for name in claim["b"]], axis=0)
        d = a - b
        assert claim["differences"] == pytest.approx(d.tolist(), abs=1e-9)
        half = 12.7062 * d.std(ddof=1) / math.sqrt(2)
        assert claim["ci95"] == pytest.approx([d.mean() - half, d.mean() + half], abs=1e-9)
        assert claim["verdict"] in ("reproduced", "contradicted", "inconclusive")
    rows_by_name = {row["name"]: row for row in stored["rows"]}
    assert list(rows_by_name) == ["rgb", "depth", "ssma", "rfbnet"]
    assert rows_by_name["rfbnet"]["gflops"] < rows_by_name["ssma"]["gflops"]  # shrunk depth, lighter fusion
    markdown = open(os.path.join(config.study_dir, "report.md"), encoding="utf-8").read()
    for row in stored["rows"]:
        assert f"`{row['name']}`" in markdown and f"{row['mean']:.1f} ± {row['std']:.1f}" in markdown
    assert markdown.count("**inconclusive**") + markdown.count("**reproduced**") + markdown.count(
        "**contradicted**") == 3 and markdown.count("not run (missing") == len(claims_lib.CLAIMS) - 3
    assert os.path.getsize(os.path.join(config.study_dir, "chart.png")) > 1000


def test_multimodal_runs_start_from_the_unimodal_runs_of_their_seed(smoke_study):
    config = smoke_study[0]
    with open(os.path.join(runner.run_dir(config.study_dir, "rfbnet", 1), "flags.json"), encoding="utf-8") as h:
        flags = json.load(h)
    assert flags["train"]["rgb_init"] == runner.run_dir(config.study_dir, "rgb", 1)
    assert flags["train"]["depth_init"] == runner.run_dir(config.study_dir, "depth", 1)
    with open(os.path.join(runner.run_dir(config.study_dir, "rfbnet", 1), "train_summary.json")) as handle:
        assert len(json.load(handle)["init"]["rgb"]["loaded"]) > 10


def test_rerun_skips_finished_runs_and_resumes_an_unfinished_one(smoke_study):
    config = smoke_study[0]
    model_dir = runner.run_dir(config.study_dir, "ssma", 0)
    # "Kill" ssma/seed0 after step 1: its last checkpoint, summary and evaluation are gone.
    checkpoint_dir = os.path.join(model_dir, "checkpoints")
    step1 = os.path.join(checkpoint_dir, "ckpt-1")
    for name in os.listdir(checkpoint_dir):
        if name.startswith("ckpt-2"):
            os.remove(os.path.join(checkpoint_dir, name))
    tf.compat.v1.train.update_checkpoint_state(checkpoint_dir, step1, all_model_checkpoint_paths=[step1])
    os.remove(os.path.join(model_dir, "train_summary.json"))
    os.remove(runner.eval_path(model_dir))
    # A report of the study while it runs: finished runs only, claims paired over the seeds finished in all rows.
    partial = report_lib.build_report(config)
    assert not partial["complete"]
    ssma = next(row for row in partial["rows"] if row["name"] == "ssma")
    assert ssma["seeds"] == [1] and ssma["miou_per_seed"] == pytest.approx([_eval_miou(config, "ssma", 1)])
    claim = next(claim for claim in partial["claims"] if claim["id"] == "1a")
    assert claim["seeds"] == [1] and claim["ci95"] is None and claim["verdict"] == "inconclusive"
    tf.config.run_functions_eagerly(True)
    lines = []
    try:
        study_main.run_study(config, progress=lines.append)
    finally:
        tf.config.run_functions_eagerly(False)
    resumed = [line for line in lines if "skipped" not in line and "study done" not in line]
    assert len(resumed) == 1 and "ssma seed 0" in resumed[0]
    with open(os.path.join(model_dir, "train_summary.json"), encoding="utf-8") as handle:
        summary = json.load(handle)
    assert summary["start_step"] == 1 and summary["step"] == 2 and summary["steps_run"] == 1
    assert [entry["step"] for entry in summary["val_history"]] == [1, 2]  # the curve survives the resume
    assert runner.is_finished(model_dir, 2)


def _rgb_row():
    return next(row for row in _flagfile_rows() if row.name == "rgb")


def test_a_worker_error_reaches_the_parent_with_its_message(tmp_path):
    config = study_main.smoke_config(runner.StudyConfig(
        study_dir=str(tmp_path / "study"), record_dir=str(tmp_path / "no_records"), rows=(_rgb_row(),),
        seeds=(0, 1), two_stage=False))
    with pytest.raises((ValueError, OSError), match="no_records"):
        runner.run_all(config, progress=lambda line: None, jobs=2)


def test_convergence_measures_the_last_quarter_by_endpoints_and_by_quarter_means():
    steps = list(range(100, 1300, 100))
    rising = [(step, 0.01 * step) for step in steps]  # 1 point per 100 steps: the last quarter (900-1200) gains 3
    measured = report_lib.convergence([rising])
    assert measured["gain_last_quarter"] == pytest.approx(3.0)
    assert measured["mean_gain_last_quarter"] == pytest.approx(3.0)  # (10+11+12)/3 - (7+8+9)/3
    outlier = [(step, 53.0 if step == 1200 else 50.0) for step in steps]  # flat, one evaluation 3 points high
    measured = report_lib.convergence([outlier])
    assert measured["gain_last_quarter"] == pytest.approx(3.0)
    assert measured["mean_gain_last_quarter"] == pytest.approx(1.0)  # (50+50+53)/3 - 50
    both = report_lib.convergence([rising, outlier, [(100, 5.0)]])  # a one-point curve is left out
    assert both["seeds"] == 2 and both["mean_gain_last_quarter"] == pytest.approx(2.0)
    assert report_lib.convergence([[(100, 5.0)]]) is None
