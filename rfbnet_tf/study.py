"""Run the reproduction study of Tables III and IV: ``python -m rfbnet_tf.study
--flagfile=experiments/study_synthetic.flags`` (``--smoke`` for the one-minute check of the machinery).

Renders the synthetic records (once), trains and evaluates every row for every seed (unimodal rows first; the
multimodal rows start from them, paper Sec. IV-B), resumably, then writes ``report.md``, ``report.json`` and
``chart.png`` into ``--study_dir``.  ``--report_only`` rebuilds the report from finished runs.
"""

from __future__ import annotations

import dataclasses
import os
import time

import tensorflow as tf
from absl import flags

from rfbnet_tf import cli
from rfbnet_tf.datasets import preparation, records
from rfbnet_tf.reproduction import report as report_lib
from rfbnet_tf.reproduction import rows as rows_lib
from rfbnet_tf.reproduction import runner

SMOKE = dict(image_size=(32, 48), train_frames=4, val_frames=2, unimodal_steps=2, multimodal_steps=2,
             batch_size=2, val_every=1, checkpoint_every=1, augment=False)
"""``--smoke``: the whole machinery (records, unimodal then multimodal rows, two seeds, two-stage init, report)
at toy scale, run eagerly (tracing the graphs would cost more than running them)."""
SMOKE_SEEDS = 2
SMOKE_ROWS = ("rgb", "depth", "ssma", "rfbnet")
"""``--smoke`` keeps these rows (when present): both unimodal sources and both fusion families, so that every
piece of the machinery runs; the claims on the other rows are reported as not run."""

def define_flags(flag_values=flags.FLAGS):
    """Define the study flags on ``flag_values`` (default: the global absl FLAGS)."""
    on = {"flag_values": flag_values}
    flags.DEFINE_string("study_dir", "runs/study_synthetic", "Where the runs (<row>/seed<k>/) and the report go.",
                        **on)
    flags.DEFINE_string("record_dir", "data/study_synthetic", "Synthetic records of the study (rendered if "
                        "missing).", **on)
    flags.DEFINE_multi_string("row", [], "A study row NAME:PAPER_MIOU:flag=value,... (rfbnet_tf.reproduction.rows); "
                              "repeat.", **on)
    flags.DEFINE_integer("seeds", 3, "Seeds per row: --first_seed, ..., --first_seed + seeds - 1.", lower_bound=1,
                         **on)
    flags.DEFINE_integer("first_seed", 0, "First seed.", lower_bound=0, **on)
    flags.DEFINE_list("image_size", ["128", "160"], "height,width of the records and the models.", **on)
    flags.DEFINE_integer("train_frames", 400, "Synthetic training frames.", lower_bound=1, **on)
    flags.DEFINE_integer("val_frames", 100, "Synthetic validation frames.", lower_bound=1, **on)
    flags.DEFINE_integer("unimodal_steps", 1000, "Training steps of the unimodal rows.", lower_bound=1, **on)
    flags.DEFINE_integer("multimodal_steps", 500, "Training steps of the multimodal rows.", lower_bound=1, **on)
    flags.DEFINE_integer("batch_size", 4, "Mini-batch of every run.", lower_bound=1, **on)
    flags.DEFINE_float("learning_rate", 1e-3, "Initial learning rate (Adam, poly schedule).", lower_bound=0.0, **on)
    flags.DEFINE_float("end_learning_rate", 0.0, "Learning rate the poly schedule decays to (train "
                       "--end_learning_rate; [12]: 1e-4).", lower_bound=0.0, **on)
    flags.DEFINE_float("adam_epsilon", 1e-7, "Adam's epsilon (train --adam_epsilon; [12]: 1e-8).", lower_bound=0.0,
                       **on)
    flags.DEFINE_integer("val_every", 100, "Steps between validations (the learning curves).", lower_bound=1, **on)
    flags.DEFINE_integer("checkpoint_every", 100, "Steps between checkpoints (what a killed study resumes from).",
                         lower_bound=1, **on)
    flags.DEFINE_bool("two_stage", True, "Initialise the multimodal encoders from the unimodal runs of the same "
                      "seed.", **on)
    flags.DEFINE_bool("augment", True, "Training augmentations (paper Sec. IV-B).", **on)
    flags.DEFINE_bool("smoke", False, "Toy scale (32x48, 2 steps, 2 seeds, rows rgb/depth/ssma/rfbnet): checks the machinery in about a minute.",
                      **on)
    flags.DEFINE_integer("jobs", 1, "Seeds trained at once, each in its own process on cores/jobs TensorFlow "
                         "threads (its unimodal rows, then its multimodal rows); 2 on 2 cores trains ~1.4x faster.",
                         lower_bound=1, **on)
    flags.DEFINE_bool("report_only", False, "Only rebuild the report from the finished runs.", **on)


FLAGS = flags.FLAGS


def config_from_flags(values=FLAGS) -> runner.StudyConfig:
    """The study configuration of the flags; ``ValueError`` naming the flag on bad values."""
    try:
        image_size = tuple(int(v) for v in values.image_size)
    except ValueError:
        raise ValueError(f"--image_size={','.join(values.image_size)}: must be height,width") from None
    if len(image_size) != 2 or min(image_size) < 1:
        raise ValueError(f"--image_size={','.join(values.image_size)}: must be two positive ints")
    settings = dict(image_size=image_size, train_frames=values.train_frames, val_frames=values.val_frames,
                    unimodal_steps=values.unimodal_steps, multimodal_steps=values.multimodal_steps,
                    batch_size=values.batch_size, val_every=values.val_every,
                    end_learning_rate=values.end_learning_rate, adam_epsilon=values.adam_epsilon,
                    checkpoint_every=values.checkpoint_every, augment=values.augment)
    config = runner.StudyConfig(
        study_dir=values.study_dir, record_dir=values.record_dir, rows=tuple(rows_lib.parse_rows(values.row)),
        seeds=tuple(range(values.first_seed, values.first_seed + values.seeds)),
        learning_rate=values.learning_rate, two_stage=values.two_stage, **settings)
    return smoke_config(config) if values.smoke else config


def smoke_config(config: runner.StudyConfig) -> runner.StudyConfig:
    """``config`` at smoke scale: :data:`SMOKE` settings, at most two seeds, the :data:`SMOKE_ROWS` rows."""
    rows = tuple(row for row in config.rows if row.name in SMOKE_ROWS) or config.rows
    return dataclasses.replace(config, rows=rows, seeds=config.seeds[:SMOKE_SEEDS], **SMOKE)


def ensure_records(config: runner.StudyConfig, progress=True):
    """Render the study's synthetic records if ``record_dir`` has none; refuse records of another size/count."""
    info_path = os.path.join(config.record_dir, records.DATASET_INFO_FILENAME)
    if os.path.isfile(info_path):
        info = records.load_dataset_info(config.record_dir)
        counts = {split: info["splits"][split]["num_examples"] for split in ("train", "val") if split in info["splits"]}
        size = tuple(info.get("image_size") or ())
        wanted = {"train": config.train_frames, "val": config.val_frames}
        if counts != wanted or (size and size != tuple(config.image_size)):
            raise ValueError(f"--record_dir={config.record_dir} holds {counts} frames of {list(size)}, not the "
                             f"study's {wanted} of {list(config.image_size)}: use another --record_dir")
        return
    preparation.prepare("synthetic", config.record_dir, synthetic_train=config.train_frames,
                        synthetic_val=config.val_frames, synthetic_size=tuple(config.image_size), seed=0,
                        num_workers=None, progress=progress)


def run_study(config: runner.StudyConfig, progress=print, jobs=1) -> dict:
    """Records, every run (``jobs`` seeds at once: :func:`runner.run_all`), the report; returns the report dict."""
    started = time.perf_counter()
    ensure_records(config, progress=False)
    runner.run_all(config, progress=progress, jobs=jobs)
    report = report_lib.write_report(config)
    progress(f"study done in {(time.perf_counter() - started) / 60:.1f} min; report: "
             f"{os.path.join(config.study_dir, report_lib.REPORT_MD)}")
    return report


@cli.exits_on_user_error
def main(argv):
    cli.check_no_arguments(argv)
    config = config_from_flags()
    if FLAGS.smoke:  # toy tensors: tracing every graph would cost more than running it
        tf.config.run_functions_eagerly(True)
    report = report_lib.write_report(config) if FLAGS.report_only else run_study(config, jobs=FLAGS.jobs)
    for claim in report["claims"]:
        print(f"claim {claim['id']} ({claim['text']}): {claim.get('verdict', claim['status'])}")


FLAG_GROUPS = {
    "study": ["study_dir", "row", "seeds", "first_seed", "jobs", "smoke", "report_only"],
    "data": ["record_dir", "image_size", "train_frames", "val_frames"],
    "training": ["unimodal_steps", "multimodal_steps", "batch_size", "learning_rate", "end_learning_rate",
                 "adam_epsilon", "val_every",
                 "checkpoint_every", "two_stage", "augment"],
}
"""``--help`` headings of the flags."""


def run():
    """Entry point of ``rfbnet-study`` and ``python -m rfbnet_tf.study``."""
    cli.run(main, define_flags, groups=FLAG_GROUPS)


if __name__ == "__main__":
    run()
