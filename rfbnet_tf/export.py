r"""Export a trained run as a TensorFlow SavedModel that segments raw RGB-D images.

Usage::

    python -m rfbnet_tf.export --model_dir=runs/rfbnet_scannet [--export_dir=...] \
        [--checkpoint=final] [--size_policy=resize|pad] [--overwrite]

The SavedModel (default ``model_dir/export``) holds the model's variables and the functions of
:class:`rfbnet_tf.inference.serving.ServingModule`:

* signature ``serving_default`` (also ``loaded.serve(...)``): inputs by name — ``rgb`` uint8
  ``(B,H,W,3)`` and ``depth``: uint8 HHA ``(B,H,W,3)`` for runs trained on HHA, uint16
  millimetres ``(B,H,W,1)`` for runs trained on raw depth (unimodal runs take their one input);
  outputs ``class_ids`` int32 ``(B,H,W)`` and ``probabilities`` float32 ``(B,H,W,K)``;
* raw-depth runs also get ``serving_depth_metres`` (``loaded.serve_depth_metres``): float32 metres.
* multimodal (RGB-D) runs also get ``serving_raw`` (``loaded.serve_raw``): ``rgb`` uint8 ``(B,H,W,3)``, the
  sensor's raw ``depth`` uint16 ``(B,H,W,1)`` (0 = missing), ``depth_scale`` float32 (metres per unit) and
  ``intrinsics`` float32 ``(fx, fy, cx, cy)`` of the depth camera; the depth is completed (and HHA-encoded)
  inside the graph (``rfbnet_tf.preprocessing.graph``, under XLA), so a client needs only TensorFlow (README).

Any ``H×W`` is accepted (see the ``size_policy`` of :mod:`rfbnet_tf.inference.serving`: resize to
the training size and resize the logits back — the default — or pad to a valid size and crop).
Normalisation statistics (the run's ``run_info.json``, never the records) are baked in, so the
export needs nothing but TensorFlow.  A JSON
description (input spec, classes, checkpoint step) is written to ``assets.extra/rfbnet_export.json``.

The export is atomic: it is written to a temporary sibling directory, reloaded and checked
against the in-memory model (``verify``), and only then renamed into place; any failure removes
the temporary directory, so no half-written export is ever left behind.

Other formats (``--format``; converters: ``pip install 'rfbnet_tf[onnx]'``): ``onnx`` writes
``model_dir/export.onnx`` (tf2onnx; any ``H×W``; run it with ONNX Runtime) and ``litert`` writes
``model_dir/export.tflite`` (built-in LiteRT operators; fixed input ``1×h×w`` = the run's ``image_size``), each
with its JSON description at ``<file>.json``. Both carry ``serving_default`` — the model graph with its
normalisation and size policy — and nothing else; the log names the signatures they leave out. Each is run and
compared with the model (1e-4) before it is written.

Reload::

    loaded = tf.saved_model.load(export_dir)
    out = loaded.signatures["serving_default"](rgb=rgb_uint8, depth=hha_uint8)
    out["class_ids"], out["probabilities"]
"""

from __future__ import annotations

from rfbnet_tf import cli
from rfbnet_tf.inference import format_export, input_spec
from rfbnet_tf.inference.saved_model_export import ExportConfig, export_model, run_summary
from rfbnet_tf.utils import flag_configs


def _define_flags():
    from absl import flags

    flags.DEFINE_string("model_dir", None, "Training run directory (flags.json, checkpoints).", required=True)
    flags.DEFINE_string("export_dir", None, "SavedModel directory (default: model_dir/export).")
    flags.DEFINE_string("checkpoint", None, "Checkpoint prefix, .weights.h5 path or 'final' (default: latest).")
    flags.DEFINE_enum("size_policy", None, list(input_spec.SIZE_POLICIES),
                      "Image size handling: resize to the training size (default when known) or pad to a valid size.")
    flags.DEFINE_boolean("overwrite", False, "Replace an existing export directory.")
    flags.DEFINE_boolean("verify", True, "Reload the export and compare it with the model before moving it into place.")
    flags.DEFINE_enum("format", "saved_model", list(format_export.FORMATS),
                      "saved_model (directory), " + ", ".join(f"{name} ({fmt.help})" for name, fmt in
                                                             format_export.FILE_FORMATS.items())
                      + "; the files carry serving_default only. Converters: pip install 'rfbnet_tf[onnx]'.")
    flags.DEFINE_boolean("fold_batch_norm", False, "Export the model with batch norm folded into the preceding "
                         "convolutions (faster inference; logits equal to ~5e-6).")


@cli.exits_on_user_error
def main(argv):
    from absl import flags

    cli.check_no_arguments(argv)
    FLAGS = flags.FLAGS
    path = export_model(flag_configs.from_flags(ExportConfig, FLAGS))
    print(f"{format_export.TITLES[FLAGS.format]} written to {path}")
    print(run_summary(FLAGS.model_dir))


FLAG_GROUPS = {
    "input": ["model_dir", "checkpoint"],
    "output": ["format", "export_dir", "size_policy", "fold_batch_norm", "overwrite", "verify"],
}
"""``--help`` headings of the flags."""


def run():
    """Entry point of ``rfbnet-export`` and ``python -m rfbnet_tf.export``."""
    cli.run(main, _define_flags, groups=FLAG_GROUPS)


if __name__ == "__main__":
    run()
