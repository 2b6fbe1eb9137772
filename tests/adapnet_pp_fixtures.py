"""Shared pieces of the AdapNet++ protocol tests: a width-shrunk AdapNet++ (test only), Keras HDF5 weight files
in the layout of the ResNet50V2 ImageNet file, and a tiny ImageNet-format file for that shrunk backbone.

The ResNet50V2 names below are written from ``keras.applications.resnet_v2`` (stack ``conv{n}``, unit
``conv{n}_block{m}``, layers ``_preact_bn``, ``_1_conv``, ``_1_bn``, ``_2_conv``, ``_2_bn``, ``_0_conv`` (first
unit), ``_3_conv``; ``conv1_conv``, ``post_bn``), independently of ``rfbnet_tf.models.imagenet_transfer``.
"""

import h5py
import numpy as np

from rfbnet_tf.models import registry
from rfbnet_tf.models.adapnet_pp_backbone import AdapNetPPBackbone

TINY_DIVISOR = 16
TINY_UNITS = (1, 2, 2, 2)  # units per block: the projection unit and the last identity unit of blocks 2-4
BN_NAMES = ("gamma", "beta", "moving_mean", "moving_variance")


class TinyAdapNetPP(AdapNetPPBackbone):
    """AdapNet++ with every width divided by 16 and 7 of its 16 units (the test-only ``width_divisor`` and
    ``units``): the same kinds of layers, stages, skips, multiscale and dropout units, traced in a fraction of
    the time."""

    def __init__(self, **kwargs):
        super().__init__(width_divisor=TINY_DIVISOR, units=TINY_UNITS, **kwargs)


def use_tiny_adapnet_pp(monkeypatch):
    """Make ``build_model("*adapnet_pp", ...)`` (and so ``train()``) build the tiny backbone."""
    monkeypatch.setitem(registry.BACKBONES, "adapnet_pp", TinyAdapNetPP)


def write_keras_h5(path, tensors):
    """Write ``{(layer, weight): array}`` in the legacy Keras HDF5 weights layout (the ImageNet files' one):
    ``layer_names`` attribute, one group per layer with ``weight_names`` = ``layer/weight:0``."""
    layers = list(dict.fromkeys(layer for layer, _ in tensors))
    with h5py.File(path, "w") as handle:
        handle.attrs["layer_names"] = [name.encode() for name in layers]
        handle.attrs["backend"] = b"tensorflow"
        for layer in layers:
            group = handle.create_group(layer)
            names = [f"{layer}/{weight}:0" for (owner, weight) in tensors if owner == layer]
            group.attrs["weight_names"] = [name.encode() for name in names]
            for name in names:
                group.create_dataset(name, data=tensors[(layer, name.split("/")[-1][:-2])])
    return str(path)


def resnet50v2_tensors(divisor=TINY_DIVISOR, units=TINY_UNITS, seed=0):
    """Random ``{(layer, weight): array}`` of a ResNet50V2 (notop) with every width divided by ``divisor`` and
    ``units`` units per stack."""
    rng = np.random.default_rng(seed)
    tensors = {}

    def conv(name, shape, bias):
        tensors[(name, "kernel")] = rng.normal(0, 0.1, shape).astype(np.float32)
        if bias:
            tensors[(name, "bias")] = rng.normal(0, 0.1, shape[-1:]).astype(np.float32)

    def bn(name, channels):
        for weight in BN_NAMES:
            low = 0.5 if weight in ("gamma", "moving_variance") else -0.5
            tensors[(name, weight)] = rng.uniform(low, low + 1.0, channels).astype(np.float32)

    stem = 64 // divisor
    conv("conv1_conv", (7, 7, 3, stem), True)
    channels = stem
    for stack, count in enumerate(units, start=2):
        filters = (64 << (stack - 2)) // divisor
        for unit in range(1, count + 1):
            name = f"conv{stack}_block{unit}"
            bn(f"{name}_preact_bn", channels)
            conv(f"{name}_1_conv", (1, 1, channels, filters), False)
            bn(f"{name}_1_bn", filters)
            conv(f"{name}_2_conv", (3, 3, filters, filters), False)
            bn(f"{name}_2_bn", filters)
            if unit == 1:
                conv(f"{name}_0_conv", (1, 1, channels, 4 * filters), True)
            conv(f"{name}_3_conv", (1, 1, filters, 4 * filters), True)
            channels = 4 * filters
    bn("post_bn", channels)
    return tensors
