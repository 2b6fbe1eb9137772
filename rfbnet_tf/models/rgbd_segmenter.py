"""``RGBDSegmenter``: the task a trained run ships as ``model_dir/final.keras``: raw images in, logits out.

The task/backbone split of keras-hub (``ImageSegmenter`` = preprocessor + backbone): an
:class:`~rfbnet_tf.layers.rgbd_preprocessor.RGBDPreprocessor` (the run's normalisation statistics and size
policy, paper Sec. IV-B) followed by the trained network (any zoo model: unimodal, SSMA or RFBNet, Sec. III).
It is a functional ``keras.Model`` with one input per network input key, in the units the records decode to:

* ``rgb``: uint8 ``(B, H, W, 3)``;
* ``depth``: uint8 HHA ``(B, H, W, 3)`` when the network takes 3 depth channels, else float32 completed
  depth in metres ``(B, H, W, 1)``.

Multimodal tasks are called with the dict ``{"rgb": ..., "depth": ...}``, unimodal ones with the dict of their
one key. The output is the network's main logits (the first output of a network trained with auxiliary
losses), ``(B, h, w, K)`` at the network's input size: the training resolution under ``"resize"``, ``H×W``
padded to the size divisor under ``"pad"``. ``get_config`` holds the network's and the preprocessor's configs,
so ``keras.saving.load_model`` rebuilds it after ``import rfbnet_tf`` (which registers every rfbnet_tf layer).
"""

import copy

import keras

from rfbnet_tf.layers.rgbd_preprocessor import RGBDPreprocessor


def _input_channels(network) -> dict:
    """``{input name: channels}`` of the network's inputs."""
    return {tensor.name: int(tensor.shape[-1]) for tensor in network.inputs}


def _input_dtype(key, channels) -> str:
    return "float32" if key == "depth" and channels == 1 else "uint8"


@keras.saving.register_keras_serializable(package="rfbnet_tf")
class RGBDSegmenter(keras.Model):
    """Preprocessor + network (module docstring; paper Sec. III and IV-B).

    Args:
      network: a zoo model (``rfbnet_tf.models.build_model``), trained.
      preprocessor: an ``RGBDPreprocessor`` whose ``input_keys`` are the network's input names in call order.
    """

    def __init__(self, network, preprocessor, **kwargs):
        if not isinstance(network, keras.Model):
            raise ValueError(f"network must be a keras.Model, received {network!r}")
        if not isinstance(preprocessor, RGBDPreprocessor):
            raise ValueError(f"preprocessor must be an RGBDPreprocessor, received {preprocessor!r}")
        channels = _input_channels(network)
        if sorted(channels) != sorted(preprocessor.input_keys):
            raise ValueError(
                f"the preprocessor's input_keys {list(preprocessor.input_keys)} are not the network's inputs "
                f"{sorted(channels)}")
        inputs = {
            key: keras.Input(shape=(None, None, channels[key]), dtype=_input_dtype(key, channels[key]), name=key)
            for key in preprocessor.input_keys
        }
        features = preprocessor(inputs)
        keys = preprocessor.input_keys
        outputs = network(features if len(keys) > 1 else features[keys[0]])
        if isinstance(outputs, (list, tuple)):
            outputs = outputs[0]
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.network = network
        self.preprocessor = preprocessor

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "network": keras.saving.serialize_keras_object(self.network),
            "preprocessor": keras.saving.serialize_keras_object(self.preprocessor),
        }

    @classmethod
    def from_config(cls, config):
        config = copy.deepcopy(config)  # deserialisation consumes the nested configs
        network = keras.saving.deserialize_keras_object(config.pop("network"))
        preprocessor = keras.saving.deserialize_keras_object(config.pop("preprocessor"))
        return cls(network=network, preprocessor=preprocessor, **config)
