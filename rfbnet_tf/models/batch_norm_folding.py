"""Inference models with batch normalisation folded into the preceding convolutions (export and fast inference).

At inference a BN is a fixed per-channel affine map, ``BN(y) = γ·(y − μ)/√(σ² + ε) + β``. When ``y`` is the output of
a convolution ``y = W∗x + b`` that nothing else reads, the BN can be folded into it:
``W' = W·s``, ``b' = (b − μ)·s + β`` with ``s = γ/√(σ² + ε)`` (per output channel), and the BN becomes the identity.
The model then computes the same function (up to float rounding) with fewer ops: no multiply/add pass over each
BN output, and TensorFlow's grappler can fuse the remaining ``Conv2D + BiasAdd + Relu`` into one kernel.

``fold_batch_norm(model)`` builds such an equivalent inference model (``keras.Model``, same inputs and outputs,
own weights copied from ``model``; ``model`` is not modified):

* at the functional level, every ``Conv2D`` / ``SeparableConv2D`` / ``DepthwiseConv2D`` / ``Conv2DTranspose`` with a
  linear activation whose only consumer is a ``BatchNormalization`` (e.g. the AdapNet++ decoder's conv-BN pairs);
* inside the project's composite layers, the conv → BN pairs their ``call`` contains (``FOLD_RULES``, by class):
  ERFNet's non-bottleneck-1D (the second conv of each pair), the pre-activation bottleneck (first 1×1 conv → BN
  and the 3×3 conv(s) → BN, incl. the multiscale unit whose two dilated halves are concatenated before the BN),
  the eASPP (every branch), the GFU's separable conv, the SSMA block's projection; inside a residual fusion block
  the tap convolution of a unit is **not** folded, because the GFU reads the tap too.

Not folded (they are not preceded by a convolution that only feeds them): ERFNet's downsampler BN (after
``concat(conv, maxpool)``) and the pre-activation BNs of AdapNet++ (after a residual sum). ``batch_norm_count``
reports how many BNs were folded and how many remain. Works on every Keras backend (weights are folded in NumPy;
the rebuilt model uses ``keras.layers`` only).
"""

import dataclasses

import keras
import numpy as np
from keras import layers

from rfbnet_tf.layers.easpp import EASPP
from rfbnet_tf.layers.erfnet_blocks import NonBottleneck1D
from rfbnet_tf.layers.gated_fusion_unit import GatedFusionUnit
from rfbnet_tf.layers.preact_bottleneck import PreActBottleneck
from rfbnet_tf.layers.residual_fusion_block import ResidualFusionBlock
from rfbnet_tf.layers.ssma_block import SSMABlock

CONV_TYPES = (layers.Conv2D, layers.SeparableConv2D, layers.DepthwiseConv2D, layers.Conv2DTranspose)


@keras.saving.register_keras_serializable(package="rfbnet_tf")
class FoldedBatchNorm(keras.layers.Layer):
    """Stands where a BN was folded into the preceding convolution: the identity (accepts BN's call arguments)."""

    def call(self, inputs, training=None, mask=None):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape


@dataclasses.dataclass(frozen=True)
class FoldSite:
    """Convolutions ``convs`` (attribute names of ``parent``) whose outputs, concatenated along channels in this
    order, are read only by the BN ``parent.<bn>``. ``reads_tap``: the convolution computes a residual unit's tap."""

    convs: tuple
    bn: str
    reads_tap: bool = False


def _non_bottleneck_sites(layer):
    return [FoldSite(("conv1x3_1",), "bn1"), FoldSite(("conv1x3_2",), "bn2")]


def _preact_sites(layer):
    third = ("conv2",) if layer.conv2 is not None else ("conv2_a", "conv2_b")
    return [FoldSite(("conv1",), "bn1", reads_tap=True), FoldSite(third, "bn2")]


def _easpp_sites(layer):
    names = sorted(n[: -len("_conv")] for n in vars(layer) if n.endswith("_conv") and not n.startswith("_"))
    return [
        FoldSite((f"{n}_conv",), f"{n}_bn")
        for n in names
        if isinstance(getattr(layer, f"{n}_bn", None), layers.BatchNormalization)
    ]


def _gfu_sites(layer):
    return [FoldSite(("sconv",), "sconv_bn")]


def _ssma_sites(layer):
    return [FoldSite(("project",), "bn")] if layer.bn is not None else []


FOLD_RULES = {
    NonBottleneck1D: _non_bottleneck_sites,
    PreActBottleneck: _preact_sites,
    EASPP: _easpp_sites,
    GatedFusionUnit: _gfu_sites,
    SSMABlock: _ssma_sites,
}
"""Composite layer class → the conv → BN pairs its ``call`` contains (read from each layer's ``call``; a change
there that breaks a rule makes ``tests/test_inference_paths.py`` fail). A composite layer without a rule keeps its
BNs: always correct, only slower."""

NESTED_UNITS = {ResidualFusionBlock: ("rgb_unit", "depth_unit", "gfu")}
"""Composite layers that own other composite layers; units inside an RFB keep their tap convolution unfolded."""


def fold_scale_shift(bn):
    """Per-channel ``(s, t)`` with ``BN(y) = s·y + t`` at inference (NumPy float64)."""
    axis = bn.axis if isinstance(bn.axis, int) else tuple(bn.axis)
    if axis not in (-1, 3):
        raise ValueError(f"only channels-last BatchNormalization can be folded, {bn.name!r} has axis {bn.axis!r}")
    mean = np.asarray(keras.ops.convert_to_numpy(bn.moving_mean), np.float64)
    var = np.asarray(keras.ops.convert_to_numpy(bn.moving_variance), np.float64)
    gamma = np.ones_like(mean) if bn.gamma is None else np.asarray(keras.ops.convert_to_numpy(bn.gamma), np.float64)
    beta = np.zeros_like(mean) if bn.beta is None else np.asarray(keras.ops.convert_to_numpy(bn.beta), np.float64)
    scale = gamma / np.sqrt(var + bn.epsilon)
    return scale, beta - mean * scale


def _conv_parts(conv):
    """``(weights dict, input channels, output channels)`` of a supported convolution layer."""
    weights = {w.path.split("/")[-1]: np.asarray(keras.ops.convert_to_numpy(w), np.float64) for w in conv.weights}
    if isinstance(conv, layers.SeparableConv2D):
        cin, cout = weights["depthwise_kernel"].shape[2], weights["pointwise_kernel"].shape[3]
    elif isinstance(conv, layers.DepthwiseConv2D):
        kernel = weights["kernel"]
        cin, cout = kernel.shape[2], kernel.shape[2] * kernel.shape[3]
    elif isinstance(conv, layers.Conv2DTranspose):
        cin, cout = weights["kernel"].shape[3], weights["kernel"].shape[2]
    else:
        cin, cout = weights["kernel"].shape[2], weights["kernel"].shape[3]
    return weights, int(cin), int(cout)


def _check_conv(conv, where):
    if not isinstance(conv, CONV_TYPES):
        raise ValueError(f"{where}: cannot fold a BN into {type(conv).__name__} {getattr(conv, 'name', conv)!r}")
    if conv.get_config().get("activation", "linear") not in ("linear", None):
        raise ValueError(f"{where}: conv {conv.name!r} has an activation, the BN after it cannot be folded")


def folded_conv_weights(conv, scale, shift):
    """Weights (in ``conv``'s order, with a bias) of ``conv`` followed by the affine map ``scale·y + shift``."""
    weights, _, cout = _conv_parts(conv)
    if scale.shape != (cout,):
        raise ValueError(f"BN of {scale.shape[0]} channels cannot follow conv {conv.name!r} of {cout} channels")
    bias = weights.get("bias", np.zeros(cout))
    new_bias = bias * scale + shift
    if isinstance(conv, layers.SeparableConv2D):
        return [weights["depthwise_kernel"], weights["pointwise_kernel"] * scale, new_bias]
    kernel = weights["kernel"]
    if isinstance(conv, layers.DepthwiseConv2D):
        kernel = kernel * scale.reshape(kernel.shape[2], kernel.shape[3])
    elif isinstance(conv, layers.Conv2DTranspose):
        kernel = kernel * scale[:, None]
    else:
        kernel = kernel * scale
    return [kernel, new_bias]


def _with_bias(conv):
    """A fresh, unbuilt copy of ``conv`` with a bias (same config otherwise)."""
    return type(conv).from_config({**conv.get_config(), "use_bias": True})


def _folded_conv_layer(conv, scale, shift):
    """A built copy of ``conv`` (with bias) that computes ``scale·conv(x) + shift``."""
    weights = folded_conv_weights(conv, scale, shift)
    _, cin, _ = _conv_parts(conv)
    new = _with_bias(conv)
    new.build((None, None, None, cin))
    new.set_weights([w.astype(np.float32) for w in weights])
    return new


def _replace_sublayer(parent, attribute, new):
    old = getattr(parent, attribute)
    tracker = getattr(parent, "_tracker", None)
    if tracker is not None and tracker.is_in_store("layers", old):
        tracker.replace_tracked_value("layers", old, new)
    object.__setattr__(parent, attribute, new)


def _fold_site(parent, site):
    bn = getattr(parent, site.bn)
    scale, shift = fold_scale_shift(bn)
    start = 0
    for attribute in site.convs:
        conv = getattr(parent, attribute)
        _check_conv(conv, f"{parent.name}.{attribute}")
        _, _, cout = _conv_parts(conv)
        part = slice(start, start + cout)
        _replace_sublayer(parent, attribute, _folded_conv_layer(conv, scale[part], shift[part]))
        start += cout
    if start != scale.shape[0]:
        raise ValueError(
            f"{parent.name}: convs {site.convs} give {start} channels, BN {site.bn!r} has {scale.shape[0]}"
        )
    _replace_sublayer(parent, site.bn, FoldedBatchNorm(name=bn.name))


def _fold_inside(layer, in_fusion_block=False):
    """Fold the conv → BN pairs inside a composite layer (recursively); returns the number of BNs folded."""
    folded = 0
    for cls, children in NESTED_UNITS.items():
        if isinstance(layer, cls):
            for attribute in children:
                folded += _fold_inside(getattr(layer, attribute), in_fusion_block=True)
            return folded
    for cls, rule in FOLD_RULES.items():
        if isinstance(layer, cls):
            for site in rule(layer):
                if site.reads_tap and in_fusion_block:
                    continue
                _fold_site(layer, site)
                folded += 1
    return folded


def _model_nodes(model):
    return {id(node) for nodes in model._nodes_by_depth.values() for node in nodes}


def functional_fold_pairs(model):
    """``{conv name: bn name}`` of the model's top-level conv → BN pairs whose conv output only feeds the BN."""
    if not isinstance(model, keras.Model) or not hasattr(model, "_nodes_by_depth"):
        raise ValueError(f"fold_batch_norm needs a functional keras.Model, received {type(model).__name__}")
    nodes = _model_nodes(model)
    outputs = {id(t) for t in keras.tree.flatten(model.outputs)}
    pairs = {}
    for bn in model.layers:
        if not isinstance(bn, layers.BatchNormalization):
            continue
        bn_nodes = [n for n in bn._inbound_nodes if id(n) in nodes]
        if len(bn_nodes) != 1 or len(bn_nodes[0].input_tensors) != 1:
            continue
        source = bn_nodes[0].input_tensors[0]
        conv = source._keras_history.operation
        if not isinstance(conv, CONV_TYPES) or conv.get_config().get("activation") not in ("linear", None):
            continue
        conv_in = [n for n in conv._inbound_nodes if id(n) in nodes]
        conv_out = [n for n in conv._outbound_nodes if id(n) in nodes]
        if len(conv_in) == 1 and len(conv_out) == 1 and conv_out[0] is bn_nodes[0] and id(source) not in outputs:
            pairs[conv.name] = bn.name
    return pairs


def fold_batch_norm(model):
    """An equivalent inference ``keras.Model`` with BN folded into the preceding convolutions (module docstring).

    The new model has the same inputs, outputs and layer names; its weights are copies (later changes to
    ``model`` do not reach it). Run it with ``training=False`` (it has fewer BNs to update, so it is not for
    training).
    """
    pairs = functional_fold_pairs(model)
    bn_names = set(pairs.values())

    def clone(layer):
        if layer.name in pairs:
            return _with_bias(layer)
        if layer.name in bn_names:
            return FoldedBatchNorm(name=layer.name)
        return type(layer).from_config(layer.get_config())

    folded = keras.models.clone_model(model, clone_function=clone)
    originals = {layer.name: layer for layer in model.layers}
    for new in folded.layers:
        if isinstance(new, layers.InputLayer):
            continue
        old = originals[new.name]
        if new.name in pairs:
            scale, shift = fold_scale_shift(originals[pairs[new.name]])
            new.set_weights([w.astype(np.float32) for w in folded_conv_weights(old, scale, shift)])
        elif new.name not in bn_names:
            new.set_weights(old.get_weights())
    for layer in folded.layers:
        _fold_inside(layer)
    return folded


def batch_norm_count(model):
    """Number of ``BatchNormalization`` layers anywhere in ``model`` (nested layers included); comparing a model
    with its ``fold_batch_norm`` copy tells how many were folded."""
    return sum(isinstance(layer, layers.BatchNormalization) for layer in model._flatten_layers(include_self=False))
