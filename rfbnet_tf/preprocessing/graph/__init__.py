"""Graph (TensorFlow-op) versions of the depth preprocessing: they take and return tensors and run inside
``tf.function`` and a SavedModel with no Python or numpy step (the ``serving_raw`` signature of an export).

* :func:`complete_depth` — Ku et al.'s ``fill_in_fast`` (``graph/depth_completion.py``; numpy:
  ``rfbnet_tf.preprocessing.depth_completion``);
* :func:`depth_to_hha` — Gupta et al.'s HHA (``graph/hha.py``; numpy: ``rfbnet_tf.preprocessing.hha``);
* :func:`complete_and_encode` — raw depth → the model's depth input, the steps ``prepare_data`` and
  ``predict`` run with the numpy functions (``graph/raw_depth.py``; :func:`valid_raw_depth`: the pixels it uses);
* :func:`depth_plausible` — the depth-units rule (``graph/depth_plausibility.py``; numpy:
  ``rfbnet_tf.preprocessing.depth_plausibility.depth_unit_warning``).

Each module's docstring names the steps whose graph counterpart differs from the numpy one.
"""

from rfbnet_tf.preprocessing.graph.depth_completion import complete_depth
from rfbnet_tf.preprocessing.graph.depth_plausibility import depth_plausible
from rfbnet_tf.preprocessing.graph.hha import depth_to_hha
from rfbnet_tf.preprocessing.graph.raw_depth import complete_and_encode, valid_raw_depth

__all__ = ["complete_and_encode", "complete_depth", "depth_plausible", "depth_to_hha", "valid_raw_depth"]
