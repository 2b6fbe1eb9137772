"""Typed, frozen run configuration (tensorflow/models ``official/vision/configs`` style): :class:`ModelConfig`,
:class:`DataConfig` (embedding ``AugmentConfig``), :class:`OptimizerConfig`, :class:`TrainConfig`, composed into
:class:`ExperimentConfig`. Each validates its values once, on construction; the absl train flags
(:func:`define_flags`) only parse into them; ``model_dir/flags.json`` is :meth:`ExperimentConfig.as_dict`.
"""

from rfbnet_tf.configs.data import DataConfig  # noqa: F401
from rfbnet_tf.configs.experiment import FLAG_NAMES, ExperimentConfig, resolve  # noqa: F401
from rfbnet_tf.configs.flags import define_flags  # noqa: F401
from rfbnet_tf.configs.model import DEPTH_CHANNELS, DEPTH_INPUTS, ModelConfig  # noqa: F401
from rfbnet_tf.configs.optimizer import OPTIMIZERS, OptimizerConfig  # noqa: F401
from rfbnet_tf.configs.train import HOST_INPUT_STRATEGIES, STRATEGIES, TrainConfig  # noqa: F401
