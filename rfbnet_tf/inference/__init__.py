"""Inference helpers shared by the evaluate, export and predict binaries (what they draw: :mod:`rfbnet_tf.drawing`).

* :mod:`~rfbnet_tf.inference.serving` — raw images → model inputs → class ids / probabilities (one
  preprocessing for the SavedModel signature and for ``predict``), and the exportable ``tf.Module``;
* :mod:`~rfbnet_tf.inference.image_files` — reading and pairing the image files ``predict`` is given;
* :mod:`~rfbnet_tf.inference.depth_input` — a depth file → the run's depth input (HHA or completed depth);
* :mod:`~rfbnet_tf.inference.saved_model_export` — ``export_model`` / ``save_module``: the atomic, verified
  SavedModel of the export binary;
* :mod:`~rfbnet_tf.inference.onnx_export`, :mod:`~rfbnet_tf.inference.litert_export` — ``export --format=onnx``
  / ``litert``: the ``serving_default`` function as an ONNX / LiteRT file (shared checks in
  :mod:`~rfbnet_tf.inference.format_export`);
* :mod:`~rfbnet_tf.inference.prediction` — ``predict``: label maps, overlays and error maps of image files.
"""
