"""Raw images → class ids and probabilities: the preprocessing of the SavedModel and of ``predict``.

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
(``normalization`` of the run's ``run_info.json``, :mod:`rfbnet_tf.run_facts`), the statistics the
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

import dataclasses
import json
import numbers
import types

import numpy as np
import tensorflow as tf

from rfbnet_tf import checkpoints
from rfbnet_tf.datasets import pipeline, records
from rfbnet_tf.models import model_spec
from rfbnet_tf.preprocessing import graph as graph_preprocessing

SIZE_POLICIES = ("resize", "pad")
DEPTH_INPUTS = pipeline.DEPTH_INPUTS
SIGNATURE_DEFAULT = "serving_default"
SIGNATURE_DEPTH_METRES = "serving_depth_metres"
"""Extra signature of raw-depth runs: depth as float32 metres instead of uint16 millimetres."""
SIGNATURE_RAW = "serving_raw"
"""Signature of multimodal runs taking the sensor's raw depth: ``rgb`` uint8 (B,H,W,3), ``depth`` uint16
(B,H,W,1) in sensor units, ``depth_scale`` float32 metres per unit, ``intrinsics`` float32 (fx, fy, cx, cy);
the depth is completed (and HHA-encoded) in the graph (:func:`raw_model_depth`)."""


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """Everything the preprocessing needs to know about a trained run.

    Attributes:
      model_inputs: model input keys in call order: ``("rgb", "depth")``, ``("rgb",)`` or ``("depth",)``.
      depth_input: ``"hha"`` (uint8, 3 channels) or ``"depth"`` (metres, 1 channel).
      mean, std: ``{key: tuple of floats}`` per model input key (the depth entry holds the
        statistics of ``depth_input``).
      num_classes: K.
      size_policy: ``"resize"`` or ``"pad"`` (module docstring).
      model_size: ``(h, w)`` the model runs at under ``"resize"`` (None under ``"pad"``).
      size_divisor: model input sizes must be multiples of it.
      max_depth: depth range in metres of the run's records (``run_info.json``; raw depth beyond it is
        dropped by the ``serving_raw`` preprocessing), None when unknown.
    """

    model_inputs: tuple
    depth_input: str
    mean: dict
    std: dict
    num_classes: int
    size_policy: str
    model_size: tuple | None
    size_divisor: int
    max_depth: float | None = None

    def channels(self, key: str) -> int:
        """Channels of model input ``key``."""
        return 3 if key == "rgb" or self.depth_input == "hha" else 1

    def to_json(self) -> dict:
        """A JSON-serialisable description (written next to the SavedModel)."""
        out = dataclasses.asdict(self)
        out["model_inputs"] = list(self.model_inputs)
        out["model_size"] = list(self.model_size) if self.model_size else None
        out["mean"] = {k: list(v) for k, v in self.mean.items()}
        out["std"] = {k: list(v) for k, v in self.std.items()}
        return out


def _size_or_none(value, where):
    if value is None:
        return None
    if (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0 for v in value)
    ):
        return int(value[0]), int(value[1])
    raise ValueError(f"{where} must be (height, width) of positive ints or None, received {value!r}")


def input_spec(config: dict, run_info: dict, size_policy: str | None = None) -> InputSpec:
    """The :class:`InputSpec` of a run from its ``flags.json`` (``checkpoints.load_run_config``) and
    ``run_info.json`` (``rfbnet_tf.run_facts.load_run_info``).

    Args:
      config: the run config (``model``, ``num_classes``, ``model_options``, ``depth_input``,
        ``image_size``).
      run_info: the run's dataset facts; its ``normalization`` statistics are used.
      size_policy: ``"resize"``, ``"pad"`` or None (= ``"resize"`` when the run has an
        ``image_size``, else ``"pad"``).

    Raises:
      ValueError: unknown policy, ``"resize"`` without a training size, a training size that is
        not a multiple of the model's size divisor, an incomplete config or unusable statistics.
    """
    if not isinstance(config, dict):
        raise ValueError(f"config must be a dict (flags.json), received {config!r}")
    missing = [key for key in ("model", "num_classes", "model_options") if key not in config]
    if missing:
        raise ValueError(f"run config lacks {missing}; received keys {sorted(config)}")
    if size_policy is not None and size_policy not in SIZE_POLICIES:
        raise ValueError(f"size_policy must be one of {SIZE_POLICIES} or None, received {size_policy!r}")
    name, options = config["model"], dict(config["model_options"] or {})
    depth_input = config["depth_input"]
    if depth_input not in DEPTH_INPUTS:
        raise ValueError(f"depth_input must be one of {DEPTH_INPUTS}, received {depth_input!r}")
    keys = model_spec(name).input_keys(options)
    if not isinstance(run_info, dict) or not isinstance(run_info.get("normalization"), dict):
        received = sorted(run_info) if isinstance(run_info, dict) else type(run_info).__name__
        raise ValueError(f"run_info (run_info.json) must be a dict with 'normalization', received {received}")
    stats = pipeline.normalization({"normalization": run_info["normalization"]}, depth_input)
    model_size = _size_or_none(config.get("image_size"), "image_size")
    divisor = model_spec(name).size_divisor(options)
    if size_policy is None:
        size_policy = "resize" if model_size else "pad"
    if size_policy == "resize":
        if model_size is None:
            raise ValueError("size_policy 'resize' needs the run's image_size, but flags.json has image_size=None")
        if model_size[0] % divisor or model_size[1] % divisor:
            raise ValueError(
                f"training image_size {model_size} is not a multiple of the model's size divisor {divisor}"
            )
    else:
        model_size = None
    return InputSpec(
        model_inputs=keys,
        depth_input=depth_input,
        mean={k: tuple(float(v) for v in stats[k]["mean"]) for k in keys},
        std={k: tuple(float(v) for v in stats[k]["std"]) for k in keys},
        num_classes=int(config["num_classes"]),
        size_policy=size_policy,
        model_size=model_size,
        size_divisor=divisor,
        max_depth=None if run_info.get("max_depth") is None else float(run_info["max_depth"]),
    )


# --------------------------------------------------------------------------- graph functions


def _training_units(value, key, spec):
    """Raw input in the dtype the records decode to: uint8 RGB/HHA stay uint8, depth becomes float32
    metres (uint16 millimetres ÷ 1000, as ``records.parse_example`` does)."""
    if key == "depth" and spec.depth_input == "depth" and value.dtype != tf.float32:
        return tf.cast(value, tf.float32) / records.DEPTH_SCALE_MM
    return value


def resize_to(x, size, method="bilinear"):
    """``tf.image.resize`` of a batch ``(B,h,w,C)`` to ``size`` unless it already has that size (then
    untouched, as the input pipeline does)."""
    size = tf.convert_to_tensor(size, tf.int32)
    same = tf.reduce_all(tf.equal(tf.shape(x)[1:3], size))
    return tf.cond(same, lambda: x, lambda: tf.image.resize(x, size, method=method))


def resize_image(x, size):
    """Bilinear resize as the input pipeline does it (``rfbnet_tf.datasets.augment.resize``): integer
    images are rounded back to their dtype, float images kept as float32; no-op at the same size."""
    size = tf.convert_to_tensor(size, tf.int32)
    same = tf.reduce_all(tf.equal(tf.shape(x)[1:3], size))

    def resized():
        # float input: the same numbers (ResizeBilinear computes in float32) and an ONNX-convertible graph
        smooth = tf.image.resize(tf.cast(x, tf.float32), size, method="bilinear")
        return tf.saturate_cast(tf.round(smooth), x.dtype) if x.dtype.is_integer else tf.cast(smooth, x.dtype)

    return tf.cond(same, lambda: x, resized)


def preprocess(images: dict, spec: InputSpec) -> dict:
    """Raw batched images ``{key: (B,H,W,C)}`` → normalised float32 model inputs of a valid size.

    ``"resize"``: bilinear resize to ``spec.model_size`` (:func:`resize_image`), then
    ``(x - mean) / std`` (the input pipeline's order and rounding).  ``"pad"``: normalise, then
    zero-pad bottom/right to multiples of ``spec.size_divisor``.  Graph friendly; the inputs must
    share ``H×W``.
    """
    first = images[spec.model_inputs[0]]
    size = tf.shape(first)[1:3]
    out = {}
    for key in spec.model_inputs:
        value = images[key]
        tf.debugging.assert_equal(
            tf.shape(value)[1:3], size, message=f"{key!r} and {spec.model_inputs[0]!r} must have one height/width"
        )
        x = _training_units(value, key, spec)
        if spec.size_policy == "resize":
            x = resize_image(x, spec.model_size)
        x = (tf.cast(x, tf.float32) - tf.constant(spec.mean[key], tf.float32)) / tf.constant(spec.std[key], tf.float32)
        if spec.size_policy == "pad":
            divisor = spec.size_divisor
            pad = (-size) % divisor
            x = tf.pad(x, [[0, 0], [0, pad[0]], [0, pad[1]], [0, 0]])
        out[key] = x
    return out


def postprocess(logits, spec: InputSpec, size) -> dict:
    """Model logits → ``{"class_ids": int32 (B,H,W), "probabilities": float32 (B,H,W,K)}`` at ``size``
    (bilinear resize of the logits under ``"resize"``, crop under ``"pad"``), softmax over classes."""
    logits = tf.cast(logits, tf.float32)
    if spec.size_policy == "resize":
        logits = resize_to(logits, size)
    else:
        logits = logits[:, : size[0], : size[1], :]
    return {
        "class_ids": tf.argmax(logits, axis=-1, output_type=tf.int32),
        "probabilities": tf.nn.softmax(logits, axis=-1),
    }


def model_call_inputs(inputs: dict, spec: InputSpec):
    """What the Keras model is called with: the dict for multimodal models, the one tensor otherwise."""
    return inputs if len(spec.model_inputs) > 1 else inputs[spec.model_inputs[0]]


def raw_model_depth(depth, depth_scale, intrinsics, spec: InputSpec):
    """Raw sensor depth ``(B,H,W,1)`` (any real dtype, 0 = missing) × ``depth_scale`` metres per unit → the
    model's depth input (uint8 HHA or float32 metres), frame by frame, with the graph preprocessing
    (:func:`rfbnet_tf.preprocessing.graph.complete_and_encode`, the steps ``predict`` runs in numpy) under
    XLA (``jit_compile``: ~5× faster on the CPU; compiled once per image size)."""
    if spec.max_depth is None:
        raise ValueError("raw depth needs the run's max_depth (run_info.json records none)")
    metres = tf.cast(depth[..., 0], tf.float32) * tf.cast(depth_scale, tf.float32)
    intrinsics = tf.cast(intrinsics, tf.float32)
    channels = spec.channels("depth")
    dtype = tf.uint8 if spec.depth_input == "hha" else tf.float32
    encode = _jit_encoder(spec.depth_input, spec.max_depth)
    return tf.map_fn(lambda frame: encode(frame, intrinsics), metres,
                     fn_output_signature=tf.TensorSpec([None, None, channels], dtype))


def _jit_encoder(depth_input, max_depth):
    def encode(frame, intrinsics):
        return graph_preprocessing.complete_and_encode(frame, depth_input, intrinsics, max_depth)

    return tf.function(encode, jit_compile=True, autograph=False)


def predict_batch(model, images: dict, spec: InputSpec) -> dict:
    """``postprocess(model(preprocess(images)))`` at the input size: the whole inference path."""
    size = tf.shape(images[spec.model_inputs[0]])[1:3]
    logits = model(model_call_inputs(preprocess(images, spec), spec), training=False)
    return postprocess(logits, spec, size)


# --------------------------------------------------------------------------- numpy checks


def _allowed_dtypes(key, spec):
    if key == "rgb" or spec.depth_input == "hha":
        return (np.uint8,)
    return (np.uint16, np.float32)


def check_images(images: dict, spec: InputSpec) -> dict:
    """Validate numpy inputs ``{key: (H,W,C) or (B,H,W,C)}`` and return them batched (B,H,W,C).

    Raises ``ValueError`` naming the key and the received shape / dtype.
    """
    if not isinstance(images, dict):
        raise ValueError(f"images must be a dict with keys {spec.model_inputs}, received {type(images).__name__}")
    missing = [key for key in spec.model_inputs if key not in images]
    if missing:
        raise ValueError(f"images lack {missing}; the model needs {list(spec.model_inputs)}, received {sorted(images)}")
    out = {}
    for key in spec.model_inputs:
        array = np.asarray(images[key])
        channels = spec.channels(key)
        if array.ndim == 2 and channels == 1:
            array = array[..., None]
        if array.ndim == 3:
            array = array[None]
        if array.ndim != 4 or array.shape[-1] != channels or 0 in array.shape:
            raise ValueError(
                f"{key!r} must have shape (H, W, {channels}) or (B, H, W, {channels}), received {np.shape(images[key])}"
            )
        allowed = _allowed_dtypes(key, spec)
        if array.dtype not in allowed:
            names = [np.dtype(d).name for d in allowed]
            raise ValueError(f"{key!r} must have dtype {' or '.join(names)}, received {array.dtype}")
        out[key] = array
    shapes = {key: out[key].shape[:3] for key in out}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"inputs must share batch, height and width, received {shapes}")
    return out


# --------------------------------------------------------------------------- the exported module


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
    HHA-encoded in the graph, :data:`SIGNATURE_RAW`).
    ``run(images)`` is the numpy entry point (validates, picks the function by the depth dtype).
    """

    def __init__(self, model, spec: InputSpec, name="rfbnet_serving"):
        super().__init__(name=name)
        if not isinstance(spec, InputSpec):
            raise ValueError(f"spec must be an InputSpec, received {spec!r}")
        # Only the model's variables are tracked (as Keras' own ExportArchive does); the Keras object
        # graph itself is left out of the SavedModel (walking it made saving several times slower).
        self.model_variables = [variable.value for variable in model.variables]
        self._untracked = types.SimpleNamespace(model=checkpoints.inference_model(model))  # not walked by tracking
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
            return serve(rgb, raw_model_depth(depth, depth_scale, intrinsics, spec))

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


def spec_json(spec: InputSpec, config: dict, step) -> str:
    """The JSON stored beside an export (``assets.extra/rfbnet_export.json``)."""
    return json.dumps(
        {
            "input_spec": spec.to_json(),
            "model": config.get("model"),
            "model_options": config.get("model_options"),
            "class_names": config.get("class_names"),
            "checkpoint_step": step,
        },
        indent=2,
        sort_keys=True,
    )
