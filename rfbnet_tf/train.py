"""Train a model: ``python -m rfbnet_tf.train --flagfile=experiments/X.flags`` (paper Sec. IV-B).

Flags: :mod:`rfbnet_tf.configs` (``--help`` lists them by section: model, data, optimisation, run).  Python: ``train(flags_dict_or_namespace) -> dict``.

What a run does:

* checks every flag, the records and the model_dir before any work (:mod:`rfbnet_tf.configs`,
  :mod:`rfbnet_tf.training.checked_run`);
* takes ``model_dir/.lock`` (:mod:`rfbnet_tf.rundir.lock`; a second trainer on the same model_dir stops
  with a one-line message, a lock of a dead process is taken over), builds the model and restores or
  initialises it (below), and only then writes ``model_dir/run_info.json`` and ``flags.json``: a start refused
  for any reason leaves ``model_dir`` as it was (one that did not exist is not created);
* builds the model under the ``--distribution_strategy`` scope (synchronized batch norm with several replicas,
  :mod:`rfbnet_tf.training.distribution`), Adam with the poly schedule (:mod:`rfbnet_tf.training.optimization`);
* resumes from ``model_dir/checkpoints`` if a checkpoint exists: model, optimizer, step and dropout RNG states
  are restored and the data stream (a function of ``--seed`` and the position, :mod:`rfbnet_tf.datasets.pipeline`)
  starts at the examples the restored steps consumed, so the run continues at the exact step and data position as
  if it had never stopped (``kill -9`` loses only the steps since the last checkpoint, which are redone
  identically; SIGINT / SIGTERM finish the step in flight, save it and exit 130 / 143); otherwise initialises the encoders from ``--rgb_init`` / ``--depth_init``
  (two-stage training) or the whole model from ``--init_model`` (fine-tuning, also to another class count:
  the classifier layers keep their fresh initialisation; :mod:`rfbnet_tf.training.stream_init`);
* trains with a custom loop (:mod:`rfbnet_tf.training.steps`), a progress bar, TensorBoard summaries
  (:mod:`rfbnet_tf.training.summaries`: headline scalars first, per-class IoU, images, RFB gates), validation
  every ``--val_every`` steps (default ``--steps`` / 5, at most 2500) and checkpoints every
  ``--checkpoint_every`` steps and at the end;
* stops with ``FloatingPointError`` when the loss is NaN or infinite, or when a checkpoint is due and a weight or
  optimizer slot is NaN / inf, without saving: no checkpoint ever holds a non-finite value, the last good one stays
  the latest (and resuming or evaluating a non-finite checkpoint of an older run is refused in one line);
* appends every validation (step, mIoU, loss, pixel accuracy) to ``model_dir/val_history.json``, so the
  learning curve survives a resume;
* writes ``final.weights.h5``, ``final.keras`` (the ``RGBDSegmenter`` task: the run's preprocessing + the
  network; ``keras.saving.load_model`` opens it after ``import rfbnet_tf``) and ``train_summary.json``.
"""

from __future__ import annotations

from absl import flags

from rfbnet_tf import cli, configs
from rfbnet_tf.configs import flags as config_flags
from rfbnet_tf.training import interruption
from rfbnet_tf.training.trainer import (
    train,
)


@cli.exits_on_user_error
def main(argv):
    cli.check_no_arguments(argv)
    with interruption.exits_when_interrupted():  # SIGINT / SIGTERM: the step saved, one line, exit 130 / 143
        train(flags.FLAGS)


def _define_flags():
    configs.define_flags()
    flags.adopt_module_key_flags(config_flags)  # --helpshort lists train's own flags (defined there)


def run():
    """Entry point of ``rfbnet-train`` and ``python -m rfbnet_tf.train``."""
    cli.run(main, _define_flags, groups=config_flags.flag_groups())


if __name__ == "__main__":
    run()
