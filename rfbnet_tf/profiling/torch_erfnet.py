"""The benchmark's PyTorch peer: an independent PyTorch definition of the ERFNet encoder with the paper's decoder
(1×1 conv to the classes → bilinear ×8), written from the official ``erfnet_pytorch`` ``Encoder`` (Romera et al.
2018), NCHW, inference only. Optional extra ``[peer]`` (``torch``).

It is the strongest CPU peer we compare against: exported to ONNX (``torch.onnx.export``) and run by ONNX Runtime
(:mod:`rfbnet_tf.profiling.onnx_peer`). Two deliberate departures from the official code, so that the peer computes
exactly our ``erfnet_enc`` function and the comparison is of speed only: the downsampler's 3×3 stride-2
convolution pads bottom/right by one (TensorFlow's ``"same"``; the official code pads 1 on every side, the same
FLOPs), and BN ε is 1e-3 (ours; the official 1e-3 too). :func:`copy_keras_weights` loads our model's weights,
so both produce the same logits (tested to 1e-4).
"""

from __future__ import annotations

import numpy as np

STAGE1_UNITS, STAGE1_DILATIONS = 5, (1,) * 5
FUSED_DILATIONS = (2, 4, 8, 16, 2, 4, 8, 16)
BN_EPSILON = 1e-3


def _torch():
    try:
        import torch
    except ImportError as error:
        from rfbnet_tf.inference.format_export import MissingConverterError

        raise MissingConverterError(f"the PyTorch peer needs torch ({error}); pip install 'rfbnet_tf[peer]'") from None
    return torch


def build_peer(num_classes: int):
    """The PyTorch ERFNet encoder + decoder (``torch.nn.Module``, eval mode, NCHW float32 in, logits NCHW out)."""
    torch = _torch()
    nn, functional = torch.nn, torch.nn.functional

    class Downsampler(nn.Module):
        def __init__(self, cin, cout):
            super().__init__()
            self.conv = nn.Conv2d(cin, cout - cin, 3, stride=2, padding=0, bias=True)
            self.bn = nn.BatchNorm2d(cout, eps=BN_EPSILON)

        def forward(self, x):
            pad_h, pad_w = x.shape[2] % 2 == 0, x.shape[3] % 2 == 0  # TensorFlow "same": bottom/right only
            conv = self.conv(functional.pad(x, (int(not pad_w), 1, int(not pad_h), 1)))
            return functional.relu(self.bn(torch.cat([conv, functional.max_pool2d(x, 2, 2)], 1)))

    class NonBottleneck1D(nn.Module):
        def __init__(self, channels, dilation):
            super().__init__()
            self.conv3x1_1 = nn.Conv2d(channels, channels, (3, 1), padding=(1, 0), bias=True)
            self.conv1x3_1 = nn.Conv2d(channels, channels, (1, 3), padding=(0, 1), bias=True)
            self.bn1 = nn.BatchNorm2d(channels, eps=BN_EPSILON)
            self.conv3x1_2 = nn.Conv2d(channels, channels, (3, 1), padding=(dilation, 0), dilation=(dilation, 1),
                                       bias=True)
            self.conv1x3_2 = nn.Conv2d(channels, channels, (1, 3), padding=(0, dilation), dilation=(1, dilation),
                                       bias=True)
            self.bn2 = nn.BatchNorm2d(channels, eps=BN_EPSILON)

        def forward(self, x):
            y = functional.relu(self.conv3x1_1(x))
            y = functional.relu(self.bn1(self.conv1x3_1(y)))
            y = functional.relu(self.conv3x1_2(y))
            y = self.bn2(self.conv1x3_2(y))  # dropout: identity at inference
            return functional.relu(x + y)

    class ERFNetEncoder(nn.Module):
        def __init__(self):
            super().__init__()
            units = [Downsampler(3, 16), Downsampler(16, 64)]
            units += [NonBottleneck1D(64, d) for d in STAGE1_DILATIONS]
            units += [Downsampler(64, 128)]
            units += [NonBottleneck1D(128, d) for d in FUSED_DILATIONS]
            self.units = nn.Sequential(*units)
            self.head = nn.Conv2d(128, num_classes, 1, bias=True)

        def forward(self, x):
            logits = self.head(self.units(x))
            return functional.interpolate(logits, scale_factor=8, mode="bilinear", align_corners=False)

    return ERFNetEncoder().eval()


def copy_keras_weights(peer, keras_model):
    """Load the weights of our ``erfnet_enc`` Keras model into ``peer`` (same unit order; HWIO → OIHW kernels)."""
    torch = _torch()
    convs, norms = [], []
    for layer in _leaf_layers(keras_model):
        kind = type(layer).__name__
        if kind == "Conv2D":
            convs.append(layer)
        elif kind == "BatchNormalization":
            norms.append(layer)
    peer_convs = [m for m in peer.modules() if isinstance(m, torch.nn.Conv2d)]
    peer_norms = [m for m in peer.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    if len(convs) != len(peer_convs) or len(norms) != len(peer_norms):
        raise ValueError(f"the Keras model has {len(convs)} convs / {len(norms)} BNs, the peer "
                         f"{len(peer_convs)} / {len(peer_norms)}: not an erfnet_enc model")
    with torch.no_grad():
        for source, target in zip(convs, peer_convs):
            kernel = np.asarray(source.kernel.numpy())
            target.weight.copy_(torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))))
            target.bias.copy_(torch.from_numpy(np.asarray(source.bias.numpy())))
        for source, target in zip(norms, peer_norms):
            for name, value in (("weight", source.gamma), ("bias", source.beta), ("running_mean", source.moving_mean),
                                ("running_var", source.moving_variance)):
                getattr(target, name).copy_(torch.from_numpy(np.asarray(value.numpy())))
    return peer


def _leaf_layers(layer):
    """Layers in call-definition order: a composite layer's sub-layers in the order its ``__init__``/``build``
    created them (the order of ``_layers``), depth first."""
    children = [child for child in getattr(layer, "_layers", []) if child is not layer]
    if not children:
        return [layer]
    out = []
    for child in children:
        out.extend(_leaf_layers(child))
    return out
