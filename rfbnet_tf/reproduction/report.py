"""The study report: ``report.json``, ``report.md`` and ``chart.png`` in ``study_dir``, computed from the runs'
own files (``eval/val.json``, ``val_history.json``, ``train_summary.json``) — nothing is carried over from
the training process, so a report can be rebuilt from a study directory at any time.
"""

from __future__ import annotations

import datetime
import math
import os

import keras
import numpy as np

from rfbnet_tf import rundir
from rfbnet_tf.models import build_model
from rfbnet_tf.profiling.flops import model_flops
from rfbnet_tf.reproduction import chart, claims as claims_lib, runner, statistics
from rfbnet_tf.utils import files

REPORT_JSON, REPORT_MD, CHART_PNG = "report.json", "report.md", "chart.png"
MAX_DILATION = 16  # ERFNetEnc's largest dilation rate (paper Sec. IV-A, the encoder of [ERFNet])


def _percent(value):
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else 100.0 * float(value)


def collect_run(model_dir) -> dict:
    """One run's numbers from its own files: val mIoU (%), per-class IoU (%), the val curve, seconds."""
    result = runner.read_json(runner.eval_path(model_dir))
    summary = runner.read_json(os.path.join(model_dir, rundir.layout.SUMMARY_FILENAME))
    curve = [(int(entry["step"]), _percent(entry["miou"])) for entry in rundir.layout.read_val_history(model_dir)]
    return {"model_dir": model_dir, "miou": _percent(result["miou"]), "step": result["checkpoint_step"],
            "per_class_iou": {name: _percent(v) for name, v in result["per_class_iou"].items()},
            "curve": curve, "train_seconds": summary.get("seconds")}


def model_cost(row, num_classes, image_size) -> dict:
    """Trainable parameters and inference GFLOPs of the row's model at the study resolution."""
    flags = row.train_flags()
    options = {key: flags[key] for key in ("modality", "shrink_depth", "gates", "combination") if key in flags}
    if "add_point" in flags:
        options["add_point"] = None if flags["add_point"] == "none" else flags["add_point"]
    model = build_model(row.model, num_classes, **options)
    height, width = image_size
    shapes = ({"rgb": (1, height, width, 3), "depth": (1, height, width, 3)} if row.multimodal
              else (1, height, width, 3))
    cost = {"params_trainable": int(sum(np.prod(v.shape) for v in model.trainable_weights)),
            "gflops": model_flops(model, shapes).total / 1e9}
    keras.backend.clear_session()
    return cost


def convergence(curves) -> dict | None:
    """How much the val mIoU still rose over the last quarter of training (points, mean over seeds) — near 0 when
    flat. ``gain_last_quarter``: the last validation minus the last one at or before 3/4 of the steps (two single
    evaluations: each scatters by 1-2 points). ``mean_gain_last_quarter``: the mean of the validations in the
    last quarter minus the mean of those in the third (the same rise for a straight curve; the scatter of one
    evaluation is divided among several)."""
    gains, mean_gains = [], []
    for curve in curves:
        if len(curve) < 2:
            continue
        last_step = curve[-1][0]
        earlier = [miou for step, miou in curve if step <= 0.75 * last_step] or [curve[0][1]]
        gains.append(curve[-1][1] - earlier[-1])
        third = [miou for step, miou in curve if 0.5 * last_step < step <= 0.75 * last_step] or earlier[-1:]
        last = [miou for step, miou in curve if step > 0.75 * last_step]
        mean_gains.append(float(np.mean(last) - np.mean(third)))
    if not gains:
        return None
    return {"gain_last_quarter": float(np.mean(gains)), "mean_gain_last_quarter": float(np.mean(mean_gains)),
            "seeds": len(gains)}


def shrink_scale(image_size) -> dict:
    """Size of the depth stream's deepest maps when the depth is shrunk (1/16 of the image) against the largest
    dilation: the shrink claim is tested in the paper's regime only when the maps are well above it."""
    height, width = (int(s) // 16 for s in image_size)
    return {"depth_stream_map": [height, width], "max_dilation": MAX_DILATION,
            "paper_map_640x480": [30, 40], "in_paper_regime": min(height, width) >= 2 * MAX_DILATION}


def build_report(config: runner.StudyConfig) -> dict:
    """Every row's statistics and every claim's verdict, from the run directories of ``config``."""
    rows, per_seed = [], {}
    class_names = None
    for row in config.rows:
        directories = {seed: runner.run_dir(config.study_dir, row.name, seed) for seed in config.seeds}
        runs = {seed: collect_run(path) for seed, path in directories.items()
                if runner.is_finished(path, config.steps_of(row))}  # a study still running: finished runs only
        per_seed[row.name] = {seed: run["miou"] for seed, run in runs.items()}
        entry = {"name": row.name, "model": row.model, "flags": row.train_flags(), "multimodal": row.multimodal,
                 "steps": config.steps_of(row), "seeds": sorted(runs), "paper": row.paper_miou}
        if not runs:
            rows.append({**entry, "miou_per_seed": [], "mean": None})
            continue
        values = [runs[seed]["miou"] for seed in sorted(runs)]
        class_names = class_names or list(next(iter(runs.values()))["per_class_iou"])
        per_class = {}
        for name in class_names:  # a class absent from a run's labels and predictions has no IoU there
            present = [run["per_class_iou"][name] for run in runs.values() if run["per_class_iou"][name] is not None]
            per_class[name] = statistics.describe(present)["mean"] if present else None
        curves = [runs[seed]["curve"] for seed in sorted(runs)]
        rows.append({**entry, "miou_per_seed": values, **statistics.describe(values),
                     "per_class_iou_mean": per_class, "curves": curves, "convergence": convergence(curves),
                     "train_seconds": sum(run["train_seconds"] or 0.0 for run in runs.values()),
                     **model_cost(row, len(class_names), config.image_size)})
    results = [claims_lib.evaluate_claim(claim, per_seed) for claim in claims_lib.CLAIMS]
    return {"created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "settings": {key: (list(v) if isinstance(v, tuple) else v) for key, v in vars(config).items()
                         if key != "rows"},
            "complete": all(len(row["seeds"]) == len(config.seeds) for row in rows),
            "class_names": class_names, "rows": rows, "claims": results,
            "shrink_scale": shrink_scale(config.image_size)}


def _fmt(value, digits=1):
    return "–" if value is None else f"{value:.{digits}f}"


def _interval(ci):
    return "–" if ci is None else f"[{ci[0]:+.2f}, {ci[1]:+.2f}]"


def _schedule_end(settings):
    """`` to 0.0001, Adam ε 1e-08`` (reports of studies before these settings existed: nothing)."""
    if "end_learning_rate" not in settings:
        return ""
    return f" to {settings['end_learning_rate']:g}, Adam ε {settings['adam_epsilon']:g}"


def render_markdown(report: dict) -> str:
    """``report.md``: settings, the row table beside the paper, per-class IoU, the claims and their verdicts."""
    settings = report["settings"]
    lines = ["# Reproduction study: Tables III and IV on the synthetic RGB-D scenes", "",
             f"Created {report['created']}. Synthetic records `{settings['record_dir']}` "
             f"({settings['train_frames']} train / {settings['val_frames']} val frames), "
             f"{settings['image_size'][0]}×{settings['image_size'][1]}, batch {settings['batch_size']}, "
             f"lr {settings['learning_rate']:g} (poly{_schedule_end(settings)}), unimodal {settings['unimodal_steps']} steps, multimodal "
             f"{settings['multimodal_steps']} steps, two-stage init: {settings['two_stage']}, seeds "
             f"{settings['seeds']}{'' if report['complete'] else ' (**incomplete: a study still running; finished runs only**)'}. Paper numbers: ScanNet val mIoU (Tables III/IV), shown for their order, not "
             "their level (another dataset).", "",
             "## Rows (val mIoU %, over seeds)", "",
             "| row | model | mean ± std | min | max | per seed | paper | gain in last quarter | gain of quarter means "
             "| params | GFLOPs |",
             "| --- | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
    for row in report["rows"]:
        if row["mean"] is None:
            lines.append(f"| `{row['name']}` | {row['model']} | not finished | | | | {_fmt(row['paper'])} | | | | |")
            continue
        gain = row["convergence"]["gain_last_quarter"] if row["convergence"] else None
        mean_gain = (row["convergence"] or {}).get("mean_gain_last_quarter")  # absent from reports written before it
        seeds = ", ".join(_fmt(v) for v in row["miou_per_seed"])
        lines.append(f"| `{row['name']}` | {row['model']} | {row['mean']:.1f} ± {row['std']:.1f} | "
                     f"{row['min']:.1f} | {row['max']:.1f} | {seeds} | {_fmt(row['paper'])} | {_fmt(gain, 2)} | "
                     f"{_fmt(mean_gain, 2)} | {row['params_trainable']:,} | {row['gflops']:.2f} |")
    lines += ["", "Last quarter (val mIoU points, mean over seeds): *gain* = the last validation minus the last one at "
              "or before 3/4 of the steps; *gain of quarter means* = the mean of the validations in the last quarter "
              "minus the mean of those in the third (one evaluation scatters by 1-2 points; a mean of several by "
              "less). Near 0: the curve has flattened.",
              "", "## Claims (paired over seeds: a − b per seed, t-based 95 % interval)", "",
              "| claim | a − b | paper | mean | 95 % interval | sign count | verdict |",
              "| --- | --- | ---: | ---: | --- | :---: | --- |"]
    for claim in report["claims"]:
        b = " / ".join(claim["b"]) if len(claim["b"]) == 1 else "max(" + ", ".join(claim["b"]) + ")"
        head = f"| {claim['id']}: {claim['text']} | `{claim['a']}` − `{b}` | {claim['paper']['difference']:+.1f} |"
        if claim["status"] != "run":
            lines.append(f"{head} – | – | – | not run (missing {claim['missing_rows']}) |")
            continue
        lines.append(f"{head} {claim['mean']:+.2f} | {_interval(claim['ci95'])} | {claim['sign_count']} | "
                     f"**{claim['verdict']}** |")
    scale = report["shrink_scale"]
    lines += ["", f"Depth-shrink scale: with the depth shrunk, the depth stream's deepest maps are "
              f"{scale['depth_stream_map'][0]}×{scale['depth_stream_map'][1]} against dilations up to "
              f"{scale['max_dilation']} (the paper's 640×480: 30×40). "
              + ("That is the paper's regime." if scale["in_paper_regime"] else
                 "**Claims 3a/3b are tested outside the paper's regime**: most taps of the dilated convolutions "
                 "fall into the zero padding of such small maps."), "",
              "## Per-class IoU (%, mean over seeds)", "",
              "| row | " + " | ".join(report["class_names"]) + " |",
              "| --- |" + " ---: |" * len(report["class_names"])]
    for row in (row for row in report["rows"] if row["mean"] is not None):
        lines.append(f"| `{row['name']}` | " + " | ".join(_fmt(row["per_class_iou_mean"][name])
                                                         for name in report["class_names"]) + " |")
    lines += ["", f"Chart: `{CHART_PNG}` (left: val mIoU per row with seeds and the paper's value; right: val "
              "mIoU during training, mean over seeds).", ""]
    return "\n".join(lines)


def write_report(config: runner.StudyConfig) -> dict:
    """Build the report and write ``report.json``, ``report.md`` and ``chart.png`` into the study directory."""
    report = build_report(config)
    if all(row["mean"] is None for row in report["rows"]):
        raise ValueError(f"no finished run in {config.study_dir}: nothing to report yet")
    files.write_json_atomically(os.path.join(config.study_dir, REPORT_JSON), report)
    files.write_text_atomically(os.path.join(config.study_dir, REPORT_MD), render_markdown(report))
    finished = [row for row in report["rows"] if row["mean"] is not None]
    chart.write_chart(os.path.join(config.study_dir, CHART_PNG),
                      [{"name": row["name"], "seeds": row["miou_per_seed"], "paper": row["paper"]} for row in finished],
                      {row["name"]: row["curves"] for row in finished},
                      title="Tables III/IV on synthetic RGB-D: val mIoU (%)")
    return report
