"""ImageNet initialisation of AdapNet++ encoders (SSMA [12] / AdapNet++ training, stage 1) from the Keras
``ResNet50V2`` weights.

AdapNet++ is a full pre-activation ResNet-50 (He et al., ECCV 2016), the network Keras ships as
``keras.applications.ResNet50V2``; its ImageNet weights are the ``.h5`` file
``resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5`` (legacy Keras HDF5 layout: one group per layer, its
``weight_names`` attribute naming the datasets). :func:`transfer_imagenet_weights` reads that file with h5py
(nothing is downloaded) and copies every tensor that has an AdapNet++ counterpart into the encoder of each
requested stream, by layer name:

* ResNet50V2 stack ``conv{n}`` is AdapNet++ block ``n - 1``; unit ``conv{n}_block{m}`` is unit ``m`` of that block
  (``{stream}_block{b}_unit1`` for the first unit, ``{stream}_s{s}_u{i}`` — inside ``rfb_s{s}_u{i}`` for
  RFBNet — for the paired ones, ``{stream}_block1_unit{m}`` in block 1);
* ``_1_conv``/``_1_bn``/``_2_conv``/``_2_bn``/``_3_conv``/``_0_conv`` are the unit's ``conv1``/``bn1``/``conv2``/
  ``bn2``/``conv3``/``shortcut``. A multiscale unit (AdapNet++ Sec. 3.1) splits the 3×3 kernel by output channel:
  ``conv2_a`` takes the first half, ``conv2_b`` the second (as the official ``split_conv2d`` splits its kernel);
* ``_preact_bn`` is the unit's ``pre_bn``; where AdapNet++ shares the pre-activation with a skip (units 1 of
  blocks 2 and 3) it is the previous block's ``block{b-1}_out_bn``; ``post_bn`` is ``block4_out_bn``;
  ``conv2_block1_preact_bn`` (on the max-pool output) is AdapNet++'s ``conv1_bn`` (before the max pool:
  the same BN-ReLU, moved across a max pool);
* ``conv1_conv/kernel`` is the 7×7 stem kernel. The depth stream takes the RGB stem kernel as-is for HHA (three
  channels, no re-ordering); a one-channel (raw depth) stem takes its sum over the input channels.

Reported, not silently skipped (the ``skipped`` list of the report): the biases AdapNet++ does not have
(``conv1_conv``, every ``_0_conv`` and ``_3_conv``), tensors of layers outside the backbone (a classifier top),
and on the AdapNet++ side the layers with no ImageNet counterpart, kept at their initialisation: the input BN
``conv0_bn``, the 1/4 and 1/8 skip convolutions, the eASPP, and everything outside the stream (fusion,
decoder). The ``notes`` list says what maps with a difference: Keras strides the *last* unit of stacks 2–4
(``conv2_block3``, ``conv3_block4``, ``conv4_block6``), AdapNet++ the *first* unit of blocks 2–3 and not block 4
(output stride 16 instead of 32); the dilations of the multiscale units; the stem BN moved across the max pool;
BN ε 1.001e-5 (Keras) vs 1e-5.
"""

from __future__ import annotations

import os

import numpy as np

from rfbnet_tf.models.weight_transfer import STREAMS, named_weight_layers

STACK_UNITS = (3, 4, 6, 3)
"""Units per ResNet50V2 stack ``conv2`` … ``conv5`` (= AdapNet++ blocks 1–4)."""
BIAS_REASON = "AdapNet++ convolutions have no bias (each is followed by a BN)"


def read_keras_h5(path) -> dict:
    """``{(layer, weight): array}`` of a Keras HDF5 weights file (legacy layout, optionally under
    ``model_weights``); ``weight`` is the variable's short name (``kernel``, ``bias``, ``gamma``, ...)."""
    import h5py

    path = os.path.expanduser(os.fspath(path))
    if not os.path.isfile(path):
        raise FileNotFoundError(f"ImageNet weights file {path!r} does not exist")
    tensors = {}
    try:
        with h5py.File(path, "r") as handle:
            group = handle["model_weights"] if "model_weights" in handle else handle
            if "layer_names" not in group.attrs:
                raise ValueError("no 'layer_names' attribute (not a Keras HDF5 weights file)")
            for layer in group.attrs["layer_names"]:
                layer = layer.decode() if isinstance(layer, bytes) else str(layer)
                for weight in group[layer].attrs.get("weight_names", []):
                    weight = weight.decode() if isinstance(weight, bytes) else str(weight)
                    short = weight.split("/")[-1].split(":")[0]
                    tensors[(layer, short)] = np.asarray(group[layer][weight])
    except (OSError, KeyError, ValueError) as error:
        raise ValueError(f"cannot read ImageNet weights {path!r}: {error}") from None
    if not tensors:
        raise ValueError(f"ImageNet weights {path!r} hold no tensor")
    return tensors


def _bn_pairs(source, target):
    return [(f"{source}/{name}", target, name) for name in ("gamma", "beta", "moving_mean", "moving_variance")]


def _unit_target(prefix, block, unit):
    """Name of AdapNet++ unit ``unit`` (1-based) of block ``block`` (1-based) in the stream ``prefix``."""
    if unit == 1 or block == 1:
        return f"{prefix}block{block}_unit{unit}"
    return f"{prefix}s{block - 2}_u{unit - 2}"


def _mapping(prefix, layers):
    """``[(source "layer/weight", target layer, variable attribute path)]`` of one stream."""
    pairs = [("conv1_conv/kernel", layers[f"{prefix}conv1_conv"], "kernel")]
    pairs += _bn_pairs("conv2_block1_preact_bn", layers[f"{prefix}conv1_bn"])
    for block in range(1, len(STACK_UNITS) + 1):
        units = 1
        while _unit_target(prefix, block, units + 1) in layers:  # STACK_UNITS, or fewer (a test-only backbone)
            units += 1
        for unit in range(1, units + 1):
            keras_name = f"conv{block + 1}_block{unit}"
            target = layers[_unit_target(prefix, block, unit)]
            if unit == 1 and block in (2, 3):
                pairs += _bn_pairs(f"{keras_name}_preact_bn", layers[f"{prefix}block{block - 1}_out_bn"])
            elif target.pre_bn is not None:
                pairs += _bn_pairs(f"{keras_name}_preact_bn", target.pre_bn)
            pairs.append((f"{keras_name}_1_conv/kernel", target.conv1, "kernel"))
            pairs += _bn_pairs(f"{keras_name}_1_bn", target.bn1)
            if target.conv2 is not None:
                pairs.append((f"{keras_name}_2_conv/kernel", target.conv2, "kernel"))
            else:
                pairs.append((f"{keras_name}_2_conv/kernel", target.conv2_a, "kernel[first half]"))
                pairs.append((f"{keras_name}_2_conv/kernel", target.conv2_b, "kernel[second half]"))
            pairs += _bn_pairs(f"{keras_name}_2_bn", target.bn2)
            pairs.append((f"{keras_name}_3_conv/kernel", target.conv3, "kernel"))
            if target.shortcut is not None:
                pairs.append((f"{keras_name}_0_conv/kernel", target.shortcut, "kernel"))
    pairs += _bn_pairs("post_bn", layers[f"{prefix}block4_out_bn"])
    return pairs


def _value(array, layer, attribute, label):
    """``(variable, value, description)``: the part of source ``array`` that goes into ``layer.<attribute>``
    (split halves, one-channel stem) and the ``loaded`` line's target."""
    variable = getattr(layer, attribute.split("[")[0])
    shape = tuple(variable.shape)
    target = variable.path
    if attribute.endswith("[first half]"):
        array, target = array[..., : array.shape[-1] // 2], f"{target}[first half of the output channels]"
    elif attribute.endswith("[second half]"):
        array, target = array[..., array.shape[-1] // 2:], f"{target}[second half of the output channels]"
    if array.shape != shape and label.startswith("conv1_conv") and shape[2] == 1:
        array, target = array.sum(axis=2, keepdims=True), f"{target} (sum over the RGB input channels)"
    if array.shape != shape:
        raise ValueError(f"{label} has shape {array.shape}, {variable.path} needs {shape} "
                         "(is this the ResNet50V2 file, and the AdapNet++ width?)")
    return variable, array, target


def transfer_imagenet_weights(model, weights_path, streams=("rgb",)) -> dict:
    """Copy the ResNet50V2 ImageNet weights at ``weights_path`` into the AdapNet++ encoder of each stream.

    Returns ``{"loaded": [...], "skipped": [...], "notes": [...]}``: ``loaded`` has one
    ``"source -> target"`` line per copied tensor, ``skipped`` one ``"name: reason"`` line per source tensor or
    target layer that does not map (module docstring), ``notes`` the differences of what does map. Raises
    ``ValueError`` for a model without an AdapNet++ stream of that name, an unreadable file, or a shape that
    does not fit; ``FileNotFoundError`` for a missing file.
    """
    streams = tuple(streams)
    unknown = [s for s in streams if s not in STREAMS]
    if unknown or not streams:
        raise ValueError(f"streams must be a non-empty subset of {STREAMS}, received {streams!r}")
    layers = dict(named_weight_layers(model))
    for stream in streams:
        if f"{stream}_block1_unit1" not in layers:
            raise ValueError(f"model {model.name!r} has no AdapNet++ {stream!r} encoder (no {stream}_block1_unit1)")
    tensors = read_keras_h5(weights_path)
    loaded, skipped, used, touched = [], [], set(), set()
    for stream in streams:
        prefix = f"{stream}_"
        for label, layer, attribute in _mapping(prefix, layers):
            key = tuple(label.split("/"))
            if key not in tensors:
                raise ValueError(f"ImageNet weights {weights_path!r} have no tensor {label} (not ResNet50V2?)")
            variable, array, target = _value(tensors[key], layer, attribute, label)
            variable.assign(array.astype(variable.dtype))
            used.add(key)
            touched.add(id(layer))
            loaded.append(f"{label} -> {target}")
        for name, layer in layers.items():
            sublayers = layer._flatten_layers(include_self=True)
            if name.startswith(prefix) and not any(id(sub) in touched for sub in sublayers):
                skipped.append(f"{name}: no ResNet50V2 counterpart (keeps its initialisation)")
    for layer, weight in sorted(set(tensors) - used):
        reason = BIAS_REASON if weight == "bias" else "not part of the AdapNet++ encoder"
        skipped.append(f"{layer}/{weight}: {reason}")
    others = [name for name in layers if not name.startswith(tuple(f"{s}_" for s in streams))]
    if others:
        skipped.append(f"{len(others)} layers outside the {'/'.join(streams)} encoder(s) (fusion, decoder, ...): "
                       "not initialised from ImageNet")
    notes = [
        "stride placement: ResNet50V2 strides the last unit of conv2-conv4 (conv2_block3, conv3_block4, "
        "conv4_block6); AdapNet++ strides unit 1 of blocks 2-3 and not block 4 (output stride 16, not 32)",
        "multiscale units: the 3x3 kernels of ImageNet units run dilated here (the dilations option)",
        "conv2_block1_preact_bn is applied before the max pool here (AdapNet++ conv1_bn), after it in ResNet50V2",
        "BN epsilon 1.001e-5 (ResNet50V2) vs 1e-5 (AdapNet++)",
    ]
    if "depth" in streams:
        notes.append("depth stream: the RGB stem kernel is taken as-is (HHA channels in the RGB kernel's order)")
    return {"loaded": loaded, "skipped": skipped, "notes": notes}
