"""Optimiser and learning-rate schedule (paper Sec. IV-B: Adam with the "poly" policy).

The poly policy (Liu et al., ParseNet; DeepLab): ``lr(step) = (lr0 − end) · (1 − step / steps) ^ power + end`` with
``power = 0.9``; Keras' ``PolynomialDecay`` implements exactly this (it clamps ``step`` to ``steps``), as TF 1's
``tf.train.polynomial_decay`` did.  ``end`` defaults to 0 here (``--end_learning_rate``).  [12]'s code
(``DeepSceneSeg/SSMA`` ``models/SSMA.py``, ``create_optimizer``) calls
``tf.train.polynomial_decay(self.learning_rate, self.global_step, self.decay_steps, power=self.power)`` without
``end_learning_rate``, so it runs with TF 1's default 1e-4: its schedule decays to 1e-4, a stage at 1e-4 runs at a
constant rate and one at 1e-5 *rises* to 1e-4; and ``tf.train.AdamOptimizer``'s ε is 1e-8, Keras 3's 1e-7
(``--adam_epsilon``).  The AdapNet++ flagfiles use [12]'s values (WORKSPACE.md "Optimiser details of [12]").  The
paper's ERFNetEnc models use ``lr0 = 5e-4``.
"""

from __future__ import annotations

import keras

from rfbnet_tf.configs.optimizer import OPTIMIZERS  # defined with the flag
from rfbnet_tf.utils.checks import int_at_least, positive_number
SGD_MOMENTUM = 0.9
"""Momentum of the ``sgd`` alternative (the common semantic-segmentation setting; the paper uses Adam)."""


def poly_schedule(learning_rate, steps, power=0.9, end_learning_rate=0.0):
    """``keras.optimizers.schedules.PolynomialDecay(learning_rate, steps, end_learning_rate, power=power)``."""
    positive_number("learning_rate", learning_rate)
    int_at_least("steps", steps, 1)
    positive_number("power", power)
    return keras.optimizers.schedules.PolynomialDecay(
        float(learning_rate), steps, end_learning_rate=float(end_learning_rate), power=float(power)
    )


def make_optimizer(name, schedule, mixed_precision=False, epsilon=1e-7):
    """``"adam"`` (β1 0.9, β2 0.999, ``epsilon``: Keras' default 1e-7) or ``"sgd"`` (momentum 0.9) driven by ``schedule``;
    wrapped in ``keras.optimizers.LossScaleOptimizer`` under float16 mixed precision (dynamic loss scaling)."""
    if name == "adam":
        optimizer = keras.optimizers.Adam(learning_rate=schedule, epsilon=epsilon)
    elif name == "sgd":
        optimizer = keras.optimizers.SGD(learning_rate=schedule, momentum=SGD_MOMENTUM)
    else:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, received {name!r}")
    if mixed_precision:
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer
