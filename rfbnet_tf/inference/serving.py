"""Raw images → class ids and probabilities: the preprocessing of the SavedModel and of ``predict``.

Split by concern: :mod:`rfbnet_tf.inference.input_spec` (what is served, from the run's files),
:mod:`rfbnet_tf.inference.serving_ops` (the steps around the network), this module (the ``tf.Module`` and its
signatures); import each name from the module that holds it.

One path serves every consumer (export signature, ``predict``, tests): :func:`preprocess` →
the Keras model → :func:`postprocess`, wrapped by :class:`ServingModule` (a ``tf.Module`` whose
``tf.function`` s with fixed input signatures become the SavedModel's serving signatures).

Inputs are what a camera pipeline produces, batched: ``rgb`` uint8 ``(B, H, W, 3)``; ``depth``
either the uint8 HHA image ``(B, H, W, 3)`` (runs trained with ``depth_input="hha"``) or depth
``(B, H, W, 1)`` as uint16 millimetres or float32 metres (``depth_input="depth"``; the model was
trained on *completed* depth, so fill holes first with
``rfbnet_tf.preprocessing.depth_completion.complete_depth``, as ``predict`` does).  Unimodal models
take only their one input.  Multimodal models also serve the sensor's raw depth (``serving_raw``,
:func:`raw_model_depth`): completion and HHA run in the graph (``rfbnet_tf.preprocessing.graph``).  Values are normalised with the training data's per-channel mean/std
(``normalization`` of the run's ``run_info.json``, :mod:`rfbnet_tf.rundir.facts`), the statistics the
input pipeline used in training (``rfbnet_tf.datasets.pipeline``).

Image size — any ``H×W`` is accepted; two policies (``size_policy``), fixed at export time:

* ``"resize"`` (default when the run has a training size): images are resized bilinearly to the
  training resolution ``image_size`` of ``flags.json`` (as the input pipeline does, uint8 images
  rounded back to integers), the model
  runs there, and the logits are resized bilinearly back to ``H×W`` before the softmax/argmax.
  This is the paper's protocol (Sec. IV-B: models see 640×480 ScanNet / 1024×512 Cityscapes
  frames; "we resize the predictions to the full resolution when benchmarking") and matches
  ``evaluate --full_resolution``.
* ``"pad"``: the model runs at the native scale; images are zero-padded (after normalisation,
  i.e. with the training mean) at the bottom and right to the next multiple of the model's size
  divisor (encoder output stride, ×2 for multimodal models that shrink the depth) and the logits
  are cropped back to ``H×W``.  Use it for images already at the training scale whose size is
  not a valid model size.
"""


from __future__ import annotations

import types

import numpy as np
import tensorflow as tf

from rfbnet_tf import rundir

from rfbnet_tf.inference.input_spec import (
    SIGNATURE_DEFAULT,
    SIGNATURE_DEPTH_METRES,
    SIGNATURE_RAW,
    InputSpec,
)
from rfbnet_tf.inference.serving_ops import (
    check_images,
    mask_invalid_frames,
    predict_batch,
    raw_model_depth,
)


def _signature(spec, depth_dtype):
    return [
        tf.TensorSpec(
            [None, None, None, spec.channels(key)],
            depth_dtype if key == "depth" and spec.depth_input == "depth" else tf.uint8,
            name=key,
        )
        for key in spec.model_inputs
    ]


_RAW_SIGNATURE = [
    tf.TensorSpec([None, None, None, 3], tf.uint8, name="rgb"),
    tf.TensorSpec([None, None, None, 1], tf.uint16, name="depth"),
    tf.TensorSpec([], tf.float32, name="depth_scale"),
    tf.TensorSpec([4], tf.float32, name="intrinsics"),
]


class ServingModule(tf.Module):
    """The trained model plus its preprocessing, exportable with ``tf.saved_model.save``.

    ``serve`` (signature ``serving_default``) takes the run's raw inputs by name (``rgb`` uint8,
    ``depth`` uint8 HHA or uint16 millimetres) and returns ``{"class_ids", "probabilities"}``;
    raw-depth runs also get ``serve_depth_metres`` (``serving_depth_metres``: float32 metres); multimodal runs
    whose ``max_depth`` is known get ``serve_raw`` (``serving_raw``: the sensor's raw depth, completed and
    HHA-encoded in the graph, :data:`SIGNATURE_RAW`; it also returns ``valid`` and ``depth_plausible``, bool
    (B,): a frame with no valid depth gets the run's ignore label everywhere and probabilities 0).
    ``run(images)`` is the numpy entry point (validates, picks the function by the depth dtype).
    """

    def __init__(self, model, spec: InputSpec, name="rfbnet_serving"):
        super().__init__(name=name)
        if not isinstance(spec, InputSpec):
            raise ValueError(f"spec must be an InputSpec, received {spec!r}")
        # Only the model's variables are tracked (as Keras' own ExportArchive does); the Keras object
        # graph itself is left out of the SavedModel (walking it made saving several times slower).
        self.model_variables = [variable.value for variable in model.variables]
        self._untracked = types.SimpleNamespace(model=rundir.checkpoints.inference_model(model))  # not walked by tracking
        self._spec = spec
        default_dtype = tf.uint16 if spec.depth_input == "depth" else tf.uint8
        self.serve = tf.function(
            self._serving_fn(), input_signature=_signature(spec, default_dtype), autograph=False
        )
        self.serve_depth_metres = None
        if spec.depth_input == "depth" and "depth" in spec.model_inputs:
            self.serve_depth_metres = tf.function(
                self._serving_fn(), input_signature=_signature(spec, tf.float32), autograph=False
            )
        self.serve_raw = None
        if spec.model_inputs == ("rgb", "depth") and spec.max_depth is not None:
            self.serve_raw = tf.function(self._raw_serving_fn(), input_signature=_RAW_SIGNATURE, autograph=False)

    @property
    def spec(self) -> InputSpec:
        return self._spec

    @property
    def model(self):
        """The Keras model (single-output inference view) the functions call."""
        return self._untracked.model

    def _serving_fn(self):
        keys = self._spec.model_inputs

        model, spec = self._untracked.model, self._spec

        def run(images):
            return predict_batch(model, images, spec)

        # Named parameters become the signature's input names.
        if keys == ("rgb", "depth"):
            def serve(rgb, depth):
                return run({"rgb": rgb, "depth": depth})
        elif keys == ("rgb",):
            def serve(rgb):
                return run({"rgb": rgb})
        else:
            def serve(depth):
                return run({"depth": depth})
        return serve

    def _raw_serving_fn(self):
        spec = self._spec
        # the signature taking the model's depth input: calling it reuses its trace (the model's graph is traced
        # and stored once, not once per signature)
        serve = self.serve if spec.depth_input == "hha" else self.serve_depth_metres

        def serve_raw(rgb, depth, depth_scale, intrinsics):
            model_depth, valid, plausible = raw_model_depth(depth, depth_scale, intrinsics, spec)
            outputs = mask_invalid_frames(serve(rgb, model_depth), valid, spec.ignore_label)
            return {**outputs, "valid": valid, "depth_plausible": plausible}

        return serve_raw

    def signatures(self) -> dict:
        """``{signature name: tf.function}`` for ``tf.saved_model.save(..., signatures=...)``.

        The functions (with fixed input signatures) are handed over untraced: ``save`` traces them
        once in its own context (a concrete function traced before would be traced again there).
        """
        out = {SIGNATURE_DEFAULT: self.serve}
        if self.serve_depth_metres is not None:
            out[SIGNATURE_DEPTH_METRES] = self.serve_depth_metres
        if self.serve_raw is not None:
            out[SIGNATURE_RAW] = self.serve_raw
        return out

    def run(self, images: dict) -> dict:
        """numpy ``{key: (H,W,C) | (B,H,W,C)}`` → numpy ``{"class_ids": (B,H,W), "probabilities": (B,H,W,K)}``."""
        batch = check_images(images, self._spec)
        function = self.serve
        if "depth" in batch and batch["depth"].dtype == np.float32:
            function = self.serve_depth_metres
        result = function(*[tf.constant(batch[key]) for key in self._spec.model_inputs])
        return {key: value.numpy() for key, value in result.items()}
