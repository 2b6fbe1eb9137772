"""The serving steps around the network, in TensorFlow ops: input checks (:func:`check_images`), normalisation and
the size policy (:func:`preprocess`), the raw-depth path of ``serving_raw`` (:func:`raw_model_depth`,
:func:`mask_invalid_frames`), and back to the image size (:func:`postprocess`); :func:`predict_batch` chains them.
The policies are described in :mod:`rfbnet_tf.inference.serving`."""

from __future__ import annotations


import numpy as np
import tensorflow as tf

from rfbnet_tf.datasets import records
from rfbnet_tf.inference.input_spec import InputSpec
from rfbnet_tf.layers import RGBDPreprocessor
from rfbnet_tf.preprocessing import depth_plausibility
from rfbnet_tf.preprocessing import graph as graph_preprocessing


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


def preprocessor(spec: InputSpec, name=None) -> RGBDPreprocessor:
    """The Keras layer that normalises and sizes the inputs ``spec`` describes (the ``.keras`` task's first layer;
    :func:`preprocess` calls it too, so the export and the task share one implementation)."""
    return RGBDPreprocessor(spec.model_inputs, dict(spec.mean), dict(spec.std), size_policy=spec.size_policy,
                            image_size=spec.model_size, size_divisor=spec.size_divisor, name=name)


def preprocess(images: dict, spec: InputSpec) -> dict:
    """Raw batched images ``{key: (B,H,W,C)}`` → normalised float32 model inputs of a valid size.

    Raw depth in uint16 millimetres becomes float32 metres (as the records decode it); then
    :class:`~rfbnet_tf.layers.RGBDPreprocessor` (:func:`preprocessor`): ``"resize"`` — bilinear resize to
    ``spec.model_size`` (integer images rounded back to integers, as the input pipeline does), then
    ``(x - mean) / std``; ``"pad"`` — normalise, then zero-pad bottom/right to multiples of
    ``spec.size_divisor``.  Graph friendly; the inputs must share ``H×W``.
    """
    first = images[spec.model_inputs[0]]
    size = tf.shape(first)[1:3]
    converted = {}
    for key in spec.model_inputs:
        value = images[key]
        tf.debugging.assert_equal(
            tf.shape(value)[1:3], size, message=f"{key!r} and {spec.model_inputs[0]!r} must have one height/width"
        )
        converted[key] = _training_units(value, key, spec)
    return preprocessor(spec)(converted)


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
    """Raw sensor depth ``(B,H,W,1)`` (any real dtype, 0 = missing) × ``depth_scale`` metres per unit →
    ``(model depth, valid, plausible)``, frame by frame, with the graph preprocessing
    (:func:`rfbnet_tf.preprocessing.graph.complete_and_encode`, the steps ``predict`` runs in numpy) under
    XLA (``jit_compile``: ~3× faster on the CPU, 33 against 94 ms CPU per 640×480 frame; compiled once per
    image size).

    ``model depth``: the model's depth input (uint8 HHA or float32 metres). ``valid`` bool ``(B,)``: the frame
    has a valid pixel (finite, > 0, within ``max_depth``; :func:`~rfbnet_tf.preprocessing.graph.valid_raw_depth`)
    — XLA drops Asserts, so the caller must look: where False the model depth is meaningless (but computed
    promptly, every loop being bounded). ``plausible`` bool ``(B,)``: the depth-units rule
    (:func:`~rfbnet_tf.preprocessing.graph.depth_plausible`). A uint16 value of 65535 (saturated) is missing."""
    if spec.max_depth is None:
        raise ValueError("raw depth needs the run's max_depth (run_info.json records none)")
    raw = depth[..., 0]
    metres = tf.cast(raw, tf.float32) * tf.cast(depth_scale, tf.float32)
    if raw.dtype == tf.uint16:
        metres = tf.where(raw == depth_plausibility.SATURATED_UINT16, 0.0, metres)
    intrinsics = tf.cast(intrinsics, tf.float32)
    channels = spec.channels("depth")
    dtype = tf.uint8 if spec.depth_input == "hha" else tf.float32
    encode = _jit_encoder(spec.depth_input, spec.max_depth)
    return tf.map_fn(lambda frame: encode(frame, intrinsics), metres,
                     fn_output_signature=(tf.TensorSpec([None, None, channels], dtype), tf.TensorSpec([], tf.bool),
                                          tf.TensorSpec([], tf.bool)))


def _jit_encoder(depth_input, max_depth):
    def encode(frame, intrinsics):
        model_depth = graph_preprocessing.complete_and_encode(frame, depth_input, intrinsics, max_depth,
                                                              assert_valid=False)
        valid = tf.reduce_any(graph_preprocessing.valid_raw_depth(frame, max_depth))
        return model_depth, valid, graph_preprocessing.depth_plausible(frame, max_depth)

    return tf.function(encode, jit_compile=True, autograph=False)


def mask_invalid_frames(outputs: dict, valid, ignore_label: int) -> dict:
    """:func:`postprocess` outputs with the frames where ``valid`` (B,) is False set to ``ignore_label`` (class
    ids) and 0 (probabilities)."""
    frames = tf.reshape(valid, [-1, 1, 1])
    return {"class_ids": tf.where(frames, outputs["class_ids"], tf.constant(ignore_label, tf.int32)),
            "probabilities": tf.where(frames[..., None], outputs["probabilities"], 0.0)}


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
