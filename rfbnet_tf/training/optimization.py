"""Optimiser and learning-rate schedule (paper Sec. IV-B: Adam with the "poly" policy).

The poly policy (Liu et al., ParseNet; DeepLab): ``lr(step) = lr0 · (1 − step / steps) ^ power`` with
``power = 0.9``, reaching 0 at the last step; Keras' ``PolynomialDecay`` with ``end_learning_rate=0``
implements exactly this (it clamps ``step`` to ``steps``).  The paper's ERFNetEnc models use ``lr0 = 5e-4``.
"""

from __future__ import annotations

import keras

from rfbnet_tf.configs.optimizer import OPTIMIZERS  # defined with the flag
SGD_MOMENTUM = 0.9
"""Momentum of the ``sgd`` alternative (the common semantic-segmentation setting; the paper uses Adam)."""


def poly_schedule(learning_rate, steps, power=0.9):
    """``keras.optimizers.schedules.PolynomialDecay(learning_rate, steps, end_learning_rate=0, power=power)``."""
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)) or not learning_rate > 0:
        raise ValueError(f"learning_rate must be a number > 0, received {learning_rate!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an int >= 1, received {steps!r}")
    if isinstance(power, bool) or not isinstance(power, (int, float)) or not power > 0:
        raise ValueError(f"power must be a number > 0, received {power!r}")
    return keras.optimizers.schedules.PolynomialDecay(
        float(learning_rate), steps, end_learning_rate=0.0, power=float(power)
    )


def make_optimizer(name, schedule, mixed_precision=False):
    """``"adam"`` (Keras defaults β1 0.9, β2 0.999, ε 1e-7) or ``"sgd"`` (momentum 0.9) driven by ``schedule``;
    wrapped in ``keras.optimizers.LossScaleOptimizer`` under float16 mixed precision (dynamic loss scaling)."""
    if name == "adam":
        optimizer = keras.optimizers.Adam(learning_rate=schedule)
    elif name == "sgd":
        optimizer = keras.optimizers.SGD(learning_rate=schedule, momentum=SGD_MOMENTUM)
    else:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, received {name!r}")
    if mixed_precision:
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer
