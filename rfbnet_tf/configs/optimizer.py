"""``OptimizerConfig``: the optimiser, its poly learning-rate schedule and the weight decay (paper Sec. IV-B)."""

from __future__ import annotations

import dataclasses

from rfbnet_tf.configs import checks
from rfbnet_tf.configs.fields import option, validate

OPTIMIZERS = ("adam", "sgd")


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    """Adam with the poly schedule ``lr·(1 − step/steps)^power`` by default (initial lr 5e-4, ERFNetEnc)."""

    name: str = option("adam", "Optimizer: 'adam' (the paper) or 'sgd' (momentum 0.9).", checks.choice(OPTIMIZERS),
                       kind="enum", flag="optimizer", choices=OPTIMIZERS)
    learning_rate: float = option(5e-4, "Initial learning rate of the poly schedule (paper ERFNetEnc 5e-4).",
                                  checks.float_range(0.0), kind="float")
    poly_power: float = option(0.9, "Power of the poly schedule lr·(1 − step/steps)^power.",
                               checks.float_range(0.0), kind="float")
    end_learning_rate: float = option(
        0.0, "Learning rate the poly schedule ends at: lr(step) = (lr − end)·(1 − step/steps)^power + end (TF 1's "
        "polynomial_decay; above lr it rises). 0 = decay to 0 (default); 1e-4 = TF 1's default, which [12]'s code "
        "(DeepSceneSeg/SSMA create_optimizer) runs with.", checks.float_range(0.0, low_inclusive=True),
        kind="float")
    adam_epsilon: float = option(1e-7, "Adam's epsilon (default 1e-7, Keras 3's; TF 1's Adam and [12]'s code: 1e-8).",
                                 checks.float_range(0.0), kind="float")
    weight_decay: float | None = option(None, "L2 weight decay λ (loss += λ·Σ‖W‖²/2 over conv/dense kernels). "
                                        "Default per backbone: 5e-4 AdapNet++, 1e-4 ERFNetEnc.",
                                        checks.float_range(0.0, low_inclusive=True, optional=True), kind="float")

    def __post_init__(self):
        validate(self)
