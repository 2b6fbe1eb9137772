"""Helpers every layer may use (the lowest layer with :mod:`rfbnet_tf.constants`).

* :mod:`rfbnet_tf.utils.progress`: the one progress bar (stderr).
* :mod:`rfbnet_tf.utils.files`: atomic writes (JSON, text) and the one checked image decode.
* :mod:`rfbnet_tf.utils.startup_logs`: the binaries' quiet start (TensorFlow's start-up notices off stderr).

Nothing here imports another ``rfbnet_tf`` module except :mod:`rfbnet_tf.constants`.
"""
