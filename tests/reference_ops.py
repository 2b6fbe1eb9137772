"""Independent numpy implementations of the basic ops, used to check the layers numerically."""

import numpy as np


def conv2d(x, kernel, bias=None, stride=1, dilation=(1, 1)):
    """NHWC convolution with TensorFlow's "same" padding, written with numpy only."""
    if isinstance(dilation, int):
        dilation = (dilation, dilation)
    n, h, w, _ = x.shape
    kh, kw, _, cout = kernel.shape
    dh, dw = dilation
    out_h, out_w = -(-h // stride), -(-w // stride)
    pad_h = max((out_h - 1) * stride + (kh - 1) * dh + 1 - h, 0)
    pad_w = max((out_w - 1) * stride + (kw - 1) * dw + 1 - w, 0)
    xp = np.pad(x, ((0, 0), (pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0)))
    out = np.zeros((n, out_h, out_w, cout), dtype=np.float64)
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, i * dh : i * dh + stride * (out_h - 1) + 1 : stride, j * dw : j * dw + stride * (out_w - 1) + 1 : stride]
            out += patch @ kernel[i, j]
    if bias is not None:
        out += bias
    return out


def depthwise_conv2d(x, kernel):
    """Depthwise 'same' 3×3 (or k×k) convolution, stride 1; kernel (kh, kw, C, 1)."""
    kh, kw, c, _ = kernel.shape
    xp = np.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    out = np.zeros_like(x, dtype=np.float64)
    h, w = x.shape[1:3]
    for i in range(kh):
        for j in range(kw):
            out += xp[:, i : i + h, j : j + w] * kernel[i, j, :, 0]
    return out


def batch_norm(x, gamma, beta, mean, var, eps):
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


def relu(x):
    return np.maximum(x, 0)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def max_pool2(x):
    n, h, w, c = x.shape
    return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def avg_pool(x, s):
    n, h, w, c = x.shape
    return x.reshape(n, h // s, s, w // s, s, c).mean(axis=(2, 4))


def randomize_batch_norm(layer_or_model, rng):
    """Give every BatchNormalization non-trivial gamma/beta/moving statistics (inference mode is then not identity)."""
    import keras

    layers = [layer_or_model] if isinstance(layer_or_model, keras.layers.BatchNormalization) else None
    if layers is None:
        layers = [l for l in _all_layers(layer_or_model) if isinstance(l, keras.layers.BatchNormalization)]
    for bn in layers:
        c = bn.gamma.shape[0]
        bn.set_weights(
            [
                rng.uniform(0.5, 1.5, c),
                rng.normal(0, 0.2, c),
                rng.normal(0, 0.2, c),
                rng.uniform(0.5, 1.5, c),
            ]
        )


def _all_layers(obj):
    out = []
    for layer in getattr(obj, "_flatten_layers", lambda **k: [])(include_self=False, recursive=True):
        out.append(layer)
    return out
