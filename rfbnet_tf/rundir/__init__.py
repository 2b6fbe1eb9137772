"""The model directory of a training run (``model_dir/``), one module per thing it holds:

* :mod:`~rfbnet_tf.rundir.layout` — the file names and paths, the small JSON files (``val_history.json``), what
  to do about a damaged one;
* :mod:`~rfbnet_tf.rundir.config_file` — ``flags.json``: the run's configuration (both formats) and its model;
* :mod:`~rfbnet_tf.rundir.facts` — ``run_info.json``: the dataset facts copied from the records;
* :mod:`~rfbnet_tf.rundir.checkpoints` — training checkpoints, ``final.weights.h5``, restoring the trained model;
* :mod:`~rfbnet_tf.rundir.lock` — ``.lock``: one trainer per directory.

``python -m rfbnet_tf.backfill_run_info`` writes ``run_info.json`` for runs trained before it existed.
"""

from rfbnet_tf.rundir import checkpoints, config_file, facts, layout, lock  # noqa: F401 (the submodules)
