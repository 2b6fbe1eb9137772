"""The residual-unit protocol shared by every backbone (paper Sec. III-C, Eq. (2)-(3)).

A residual unit (RU) computes ``x_{l+1} = merge(x_l, F(x_l))``. The residual fusion block
(``ResidualFusionBlock``) needs to look inside the unit: the gated fusion unit reads a *tap* of the
residual branch and the complementary feature is added either to the input of the residual
function (point "R") or to the trunk (point "T"). Every RU therefore splits its computation into

* ``tap(x)``: the part of the residual branch before the point where complementary features enter.
  For ERFNet's non-bottleneck-1D this is the identity (the GFU reads the unit's input ``x_l``); for the
  full pre-activation bottleneck of AdapNet++ it is BN → ReLU → first 1×1 conv (Sec. IV-B: "we feed the
  output of the first 1×1 layer of the bottleneck RU to the GFU").
* ``residual_from_tap(t)``: the rest of the residual function F.
* ``merge(x, r)``: how the trunk and the residual combine (``relu(x + r)`` for ERFNet, ``x + r`` for the
  pre-activation bottleneck).

``call(x)`` composes the three, so an RU used outside an RFB is an ordinary residual block, and the same
weights load into either place.

All tensors are NHWC.
"""

import keras


class ResidualUnit(keras.layers.Layer):
    """Base class: subclasses implement ``tap``, ``residual_from_tap``, ``merge``.

    Subclasses also expose ``tap_channels`` (channels of ``tap(x)``, which is where complementary features are
    added for point "R") and ``trunk_channels`` (channels of ``x``, where they are added for point "T").
    """

    tap_channels: int
    trunk_channels: int

    def tap(self, x, training=None):
        raise NotImplementedError

    def residual_from_tap(self, t, training=None):
        raise NotImplementedError

    def merge(self, x, residual):
        raise NotImplementedError

    def call(self, x, training=None):
        return self.merge(x, self.residual_from_tap(self.tap(x, training=training), training=training))

    def compute_output_shape(self, input_shape):
        return input_shape
