"""Write ``run_info.json`` for a run trained before rfbnet_tf wrote it (:mod:`rfbnet_tf.rundir.facts` holds the file's
content, reading and writing).

Usage (it reads the dataset facts from the run's records, which must then be the training ones)::

    python -m rfbnet_tf.backfill_run_info --model_dir=runs/old_run [--record_dir=data/scannet] [--overwrite]
"""

from __future__ import annotations

from rfbnet_tf import cli
from rfbnet_tf.rundir.facts import backfill


def _define_flags():
    from absl import flags

    flags.DEFINE_string("model_dir", None, "Training run directory (flags.json).", required=True)
    flags.DEFINE_string("record_dir", None, "The records the run was trained on (default: flags.json's record_dir).")
    flags.DEFINE_boolean("overwrite", False, "Replace an existing run_info.json.")


@cli.exits_on_user_error
def main(argv):
    from absl import flags

    cli.check_no_arguments(argv)
    print(f"wrote {backfill(flags.FLAGS.model_dir, flags.FLAGS.record_dir, flags.FLAGS.overwrite)}")


def run():
    """``python -m rfbnet_tf.backfill_run_info``: write ``run_info.json`` for a run trained before it existed."""
    cli.run(main, _define_flags, groups={"run": ["model_dir", "record_dir", "overwrite"]})


if __name__ == "__main__":
    run()
