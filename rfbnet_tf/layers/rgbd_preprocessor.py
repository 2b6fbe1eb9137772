"""Raw camera images → the network's normalised inputs, inside the model (paper Sec. IV-B: fixed training
resolution; the inputs normalised with the training data's statistics).

:class:`RGBDPreprocessor` takes the run's raw inputs by key, batched ``(B, H, W, C)``, in the units the
records decode to: ``rgb`` and ``hha`` uint8 0..255, raw ``depth`` float32 metres. It returns float32
``(x - mean) / std`` per key with the training data's per-channel statistics, at a size the network accepts.
Two size policies (the export's ``serving_default`` runs this layer too, ``rfbnet_tf.inference.serving_ops``):

* ``"resize"``: every input is resized bilinearly (half-pixel centres, no antialiasing: the values of
  ``tf.image.resize``) to the training resolution ``image_size``; integer inputs are rounded back to
  integers and clipped to their dtype's range first, as the input pipeline does
  (``rfbnet_tf.datasets.augment.resize``), then normalised;
* ``"pad"``: the input is normalised, then zero-padded at the bottom and right to the next multiple of
  ``size_divisor`` (the model's encoder output stride, ×2 when a multimodal model shrinks the depth).

``keras.ops`` only (TensorFlow, JAX and PyTorch backends).
"""

import keras
from keras import ops

from rfbnet_tf.utils.checks import positive_int, size_hw

SIZE_POLICIES = ("resize", "pad")
_UNSIGNED_MAX = {"uint8": 255.0, "uint16": 65535.0}


def _check_stats(input_keys, mean, std):
    """``{key: tuple of floats}`` for mean and std, one entry per input key, stds positive."""
    out = []
    for what, stats in (("mean", mean), ("std", std)):
        if not isinstance(stats, dict) or sorted(stats) != sorted(input_keys):
            raise ValueError(f"{what} must be a dict with the keys {list(input_keys)}, received {stats!r}")
        checked = {}
        for key in input_keys:
            values = tuple(float(v) for v in stats[key])
            if not values or (what == "std" and min(values) <= 0.0):
                raise ValueError(f"{what}[{key!r}] must be non-empty (stds positive), received {stats[key]!r}")
            checked[key] = values
        out.append(checked)
    return out


@keras.saving.register_keras_serializable(package="rfbnet_tf")
class RGBDPreprocessor(keras.layers.Layer):
    """Per-input normalisation and size policy (module docstring; paper Sec. IV-B).

    Args:
      input_keys: the network's input keys in call order, e.g. ``("rgb", "depth")``.
      mean, std: ``{key: per-channel floats}`` (the run's ``normalization`` statistics; for ``"depth"`` those
        of the run's depth input: HHA or metres).
      size_policy: ``"resize"`` or ``"pad"``.
      image_size: the training ``(height, width)``; required by ``"resize"`` (kept, unused, by ``"pad"``).
      size_divisor: network input sizes must be multiples of it.

    Called on a dict ``{key: (B, H, W, C)}`` (all keys sharing ``H×W``), it returns the dict of normalised
    float32 tensors of the keys in ``input_keys``.
    """

    def __init__(self, input_keys, mean, std, size_policy="resize", image_size=None, size_divisor=1, **kwargs):
        kwargs.setdefault("dtype", "float32")  # normalised in float32 also under a mixed-precision policy
        super().__init__(**kwargs)
        if (isinstance(input_keys, str) or not isinstance(input_keys, (list, tuple)) or not input_keys
                or not all(isinstance(k, str) for k in input_keys)):
            raise ValueError(f"input_keys must be a non-empty list of input names, received {input_keys!r}")
        if size_policy not in SIZE_POLICIES:
            raise ValueError(f"size_policy must be one of {SIZE_POLICIES}, received {size_policy!r}")
        size_divisor = positive_int("size_divisor", size_divisor)
        self.input_keys = tuple(input_keys)
        self.mean, self.std = _check_stats(self.input_keys, mean, std)
        self.size_policy = size_policy
        self.image_size = None if image_size is None else size_hw("image_size", image_size)
        self.size_divisor = size_divisor
        if size_policy == "resize":
            if self.image_size is None:
                raise ValueError("size_policy 'resize' needs image_size (the training resolution)")
            if self.image_size[0] % self.size_divisor or self.image_size[1] % self.size_divisor:
                raise ValueError(f"image_size {self.image_size} is not a multiple of size_divisor {self.size_divisor}")

    def _one(self, x):
        dtype = keras.backend.standardize_dtype(x.dtype)
        x = ops.cast(x, "float32")
        if self.size_policy == "resize":
            x = ops.image.resize(x, self.image_size, interpolation="bilinear", antialias=False)
            if "int" in dtype:  # as the pipeline: integer images rounded back to their dtype
                x = ops.round(x)
                if dtype in _UNSIGNED_MAX:
                    x = ops.clip(x, 0.0, _UNSIGNED_MAX[dtype])
        return x

    def call(self, inputs):
        missing = [key for key in self.input_keys if key not in inputs]
        if missing:
            raise ValueError(f"inputs lack {missing}; the preprocessor needs {list(self.input_keys)}")
        out = {}
        for key in self.input_keys:
            x = self._one(inputs[key])
            x = (x - ops.convert_to_tensor(self.mean[key], "float32")) / ops.convert_to_tensor(self.std[key], "float32")
            if self.size_policy == "pad":
                shape = ops.shape(x)
                pad_h = (-shape[1]) % self.size_divisor
                pad_w = (-shape[2]) % self.size_divisor
                x = ops.pad(x, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]])
            out[key] = x
        return out

    def compute_output_shape(self, input_shape):
        out = {}
        for key in self.input_keys:
            batch, height, width, channels = input_shape[key]
            if self.size_policy == "resize":
                height, width = self.image_size
            else:
                height = None if height is None else -(-height // self.size_divisor) * self.size_divisor
                width = None if width is None else -(-width // self.size_divisor) * self.size_divisor
            out[key] = (batch, height, width, channels)
        return out

    def get_config(self):
        return {
            **super().get_config(),
            "input_keys": list(self.input_keys),
            "mean": {key: list(values) for key, values in self.mean.items()},
            "std": {key: list(values) for key, values in self.std.items()},
            "size_policy": self.size_policy,
            "image_size": None if self.image_size is None else list(self.image_size),
            "size_divisor": self.size_divisor,
        }
