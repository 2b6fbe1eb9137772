"""Drawing, in one place (numpy + OpenCV only; the lowest layer): label colours, palettes and the legend
(:mod:`~rfbnet_tf.drawing.palettes`), the paper's Fig. 6/7 improvement/error map and overlays
(:mod:`~rfbnet_tf.drawing.error_map`), the row-normalised confusion-matrix image of ``evaluate``
(:mod:`~rfbnet_tf.drawing.confusion_plot`) and the RFB gate figures of TensorBoard and ``predict --gates``
(:mod:`~rfbnet_tf.drawing.gate_figures`)."""
