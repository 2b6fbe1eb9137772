"""Resampling between the RGB stream and the shrunk depth / interaction streams (paper Sec. III-B).

When the depth image is shrunk by 2, the depth and interaction streams run at half the RGB stream's
spatial size. We resample with two fixed, parameter-free operators:

* RGB → depth resolution: ``scale``×``scale`` average pooling. For scale 2 this is exactly bilinear
  resizing by 1/2 with half-pixel centres (each output sample falls midway between two input pixels in
  each direction), i.e. the same operator that shrinks the depth image at the network input, so RGB
  features and depth features are sampled on the same grid.
* depth → RGB resolution: bilinear upsampling by ``scale`` (half-pixel centres, edge pixels clamped — the
  same values as ``tf.image.resize(..., "bilinear")``), the operator the paper uses to bring the depth and
  interaction streams to the RGB size before combination. ``BilinearUpsample`` computes it with slices and
  weighted sums in ``keras.ops`` so that it works on inputs of unknown height/width in a traced graph on every
  backend (``keras.layers.UpSampling2D(interpolation="bilinear")`` cannot: ``keras.ops.image.resize`` checks
  the target size with Python ``if`` and fails on symbolic sizes, which breaks SavedModel export of
  any-size serving signatures).

A scale of 1 makes both the identity. Tensors are NHWC.
"""

import keras
from keras import layers, ops
from rfbnet_tf.utils.checks import positive_int


def check_scale(scale):
    """Return ``scale`` if it is a positive int, else raise ``ValueError`` naming it."""
    return positive_int("resampling scale", scale)


def downsampler(scale, name):
    """Layer mapping ``(B, H, W, C)`` to ``(B, H/scale, W/scale, C)`` (identity for scale 1)."""
    if check_scale(scale) == 1:
        return layers.Identity(name=name)
    return layers.AveragePooling2D(scale, name=name)


def upsampler(scale, name):
    """Layer mapping ``(B, h, w, C)`` to ``(B, h*scale, w*scale, C)``, bilinear (identity for scale 1)."""
    if check_scale(scale) == 1:
        return layers.Identity(name=name)
    return BilinearUpsample(scale, name=name)


def _upsample_axis(x, scale, axis):
    """Bilinear ×``scale`` along ``axis`` (1 or 2) with half-pixel centres and clamped edges."""
    take = (lambda t, a, b: t[:, a:b]) if axis == 1 else (lambda t, a, b: t[:, :, a:b])
    padded = ops.concatenate([take(x, 0, 1), x, take(x, -1, None)], axis=axis)
    prev, here, nxt = take(padded, 0, -2), take(padded, 1, -1), take(padded, 2, None)
    phases = []
    for r in range(scale):
        offset = (r + 0.5) / scale - 0.5
        if offset >= 0:
            phases.append((1.0 - offset) * here + offset * nxt)
        else:
            phases.append(-offset * prev + (1.0 + offset) * here)
    stacked = ops.stack(phases, axis=axis + 1)  # (..., n, scale, ...)
    shape = ops.shape(x)
    if axis == 1:
        return ops.reshape(stacked, (-1, shape[1] * scale, shape[2], shape[3]))
    return ops.reshape(stacked, (-1, shape[1], shape[2] * scale, shape[3]))


def bilinear_upsample(x, scale):
    """Bilinear upsampling of NHWC ``x`` by the integer ``scale`` (same values as ``tf.image.resize``)."""
    if check_scale(scale) == 1:
        return x
    return _upsample_axis(_upsample_axis(x, scale, 1), scale, 2)


@keras.saving.register_keras_serializable(package="rfbnet_tf")
class BilinearUpsample(keras.layers.Layer):
    """``(B, h, w, C)`` → ``(B, h·scale, w·scale, C)`` bilinear (Sec. III-B: streams upsampled before combining;
    Sec. IV-B: the ERFNetEnc decoder's bilinear ×8). Works on unknown spatial sizes on every backend."""

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = check_scale(scale)

    def call(self, x):
        return bilinear_upsample(x, self.scale)

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        return (b, None if h is None else h * self.scale, None if w is None else w * self.scale, c)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}
