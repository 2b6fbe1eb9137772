"""Residual fusion block (RFB) — paper Sec. III-C, Eq. (1)-(3), Fig. 3 and Fig. 4.

    x_Rcom, x_RD^{l+1}, x_Dcom = G(x_R, x_RD, x_D)                  (1)
    x_R^{l+1} = x_R + F_R(x_R + x_Rcom, W_R)                         (2)
    x_D^{l+1} = x_D + F_D(x_D + x_Dcom, W_D)                         (3)

Two residual units (one per modality, same architecture, separate weights) and one gated fusion unit.
The GFU reads each unit's *tap* (``ResidualUnit.tap``: the unit's input for ERFNet, the output of the first
1×1 convolution for the pre-activation bottleneck, Sec. IV-B). ``add_point`` chooses where the complementary
feature enters (Table IV, Fig. 4):

* ``"R"`` — into the residual function: ``merge(x, F(tap(x) + x_com))`` (Eq. (2)-(3); the paper's choice);
* ``"T"`` — into the trunk: ``merge(x + x_com, F(tap(x)))``;
* ``"T_input"`` — into the unit's input: ``x' = x + x_com; merge(x', F(tap(x')))``;
* ``None`` — nowhere: the interaction stream only aggregates; the units run unchanged.

Point "T" is an interpretation. Fig. 4a draws the complementary feature joining the trunk before the unit; the paper
gives no equation for it. ``"T"`` reads it as an addition to the shortcut only (``x + x_com + F(x)``: the residual
function sees the unimodal feature, as the figure's residual branch leaves the trunk before the addition);
``"T_input"`` reads it as an addition to the unit's input, which the shortcut and the residual function then share
(``x' + F(x')``). Both have the parameters of ``"T"`` (the complement has the trunk's channels).

Both units keep their own form of ``merge`` (ReLU after the sum for ERFNet). ``call([x_R, x_D])`` for the first
block of the interaction stream (``x_RD = 0``), ``call([x_R, x_D, x_RD])`` otherwise; returns
``[x_R^{l+1} (B,H,W,C_R), x_D^{l+1} (B,h,w,C_D), x_RD^{l+1} (B,h,w,C_i), gates (B,h,w,4)]`` with ``h = H/rgb_scale``.
"""

import keras

from rfbnet_tf.layers.gated_fusion_unit import GatedFusionUnit
from rfbnet_tf.layers.residual_unit import ResidualUnit

ADD_POINTS = ("R", "T", "T_input", None)


def _unit_config(residual_unit):
    if isinstance(residual_unit, ResidualUnit):
        return keras.saving.serialize_keras_object(residual_unit)
    if isinstance(residual_unit, dict) and "class_name" in residual_unit:
        return residual_unit
    raise ValueError(
        "residual_unit must be a ResidualUnit layer or its serialized config, "
        f"received {residual_unit!r}"
    )


def _make_unit(config, name):
    config = {**config, "config": {**config["config"], "name": name}}
    unit = keras.saving.deserialize_keras_object(config)
    if not isinstance(unit, ResidualUnit):
        raise ValueError(f"residual_unit must deserialize to a ResidualUnit, received {type(unit).__name__}")
    return unit


def advance_stream(unit, x, tap, complement, add_point, training=None):
    """One modality-specific step of Eq. (2)/(3): the same function serves the RGB and the depth stream."""
    if complement is None or add_point is None:
        return unit.merge(x, unit.residual_from_tap(tap, training=training))
    if add_point == "R":
        return unit.merge(x, unit.residual_from_tap(tap + complement, training=training))
    if add_point == "T_input":
        shifted = x + complement
        return unit.merge(shifted, unit.residual_from_tap(unit.tap(shifted, training=training), training=training))
    return unit.merge(x + complement, unit.residual_from_tap(tap, training=training))


@keras.saving.register_keras_serializable(package="rfbnet_tf")
class ResidualFusionBlock(keras.layers.Layer):
    """Two residual units + one GFU (Eq. (1)-(3)); see the module docstring.

    Args:
      residual_unit: a ``ResidualUnit`` (or its serialized config) used as the template of both units.
      interaction_channels: channels of the interaction stream; default half the depth unit's tap channels
        (Sec. III-A: "the channel dimension is half of that of the depth stream").
      gates: learned gates (True) or none (False), Table IV "G".
      add_point: "R", "T" or None, Table IV.
      rgb_scale: RGB resolution / depth resolution (2 when the depth is shrunk, Sec. III-B; else 1).
      first: True for the first RFB, whose interaction input is zero and therefore not passed.
      gate_channels: hidden width of the gate networks (default interaction_channels // 4).
    """

    def __init__(
        self,
        residual_unit,
        interaction_channels=None,
        gates=True,
        add_point="R",
        rgb_scale=2,
        first=False,
        gate_channels=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if add_point not in ADD_POINTS:
            raise ValueError(f"add_point must be one of {ADD_POINTS}, received {add_point!r}")
        self.unit_config = _unit_config(residual_unit)
        self.rgb_unit = _make_unit(self.unit_config, "rgb_unit")
        self.depth_unit = _make_unit(self.unit_config, "depth_unit")
        if interaction_channels is None:
            interaction_channels = max(self.depth_unit.tap_channels // 2, 1)
        self.add_point = add_point
        self.first = bool(first)
        if add_point == "R":
            complement_channels = (self.rgb_unit.tap_channels, self.depth_unit.tap_channels)
        elif add_point in ("T", "T_input"):
            complement_channels = (self.rgb_unit.trunk_channels, self.depth_unit.trunk_channels)
        else:
            complement_channels = None
        self.gfu = GatedFusionUnit(
            interaction_channels,
            complement_channels=complement_channels,
            gates=gates,
            rgb_scale=rgb_scale,
            gate_channels=gate_channels,
            first=first,
            name="gfu",
        )

    def build(self, input_shape):
        expected = 2 if self.first else 3
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != expected:
            raise ValueError(
                f"ResidualFusionBlock(first={self.first}) takes {expected} inputs, received shapes {input_shape!r}"
            )
        rgb_shape, depth_shape = tuple(input_shape[0]), tuple(input_shape[1])
        self.rgb_unit.build(rgb_shape)
        self.depth_unit.build(depth_shape)
        taps = [rgb_shape[:-1] + (self.rgb_unit.tap_channels,), depth_shape[:-1] + (self.depth_unit.tap_channels,)]
        self.gfu.build(taps + [tuple(s) for s in input_shape[2:]])

    def compute_output_shape(self, input_shape):
        rgb_shape, depth_shape = tuple(input_shape[0]), tuple(input_shape[1])
        return [
            rgb_shape,
            depth_shape,
            depth_shape[:-1] + (self.gfu.interaction_channels,),
            depth_shape[:-1] + (4,),
        ]

    def call(self, inputs, training=None):
        expected = 2 if self.first else 3
        if len(inputs) != expected:
            raise ValueError(
                f"ResidualFusionBlock(first={self.first}) takes {expected} inputs, received {len(inputs)}"
            )
        x_rgb, x_depth = inputs[0], inputs[1]
        t_rgb = self.rgb_unit.tap(x_rgb, training=training)
        t_depth = self.depth_unit.tap(x_depth, training=training)
        fusion = self.gfu([t_rgb, t_depth, *inputs[2:]], training=training)
        out_rgb = advance_stream(self.rgb_unit, x_rgb, t_rgb, fusion.get("rgb"), self.add_point, training)
        out_depth = advance_stream(self.depth_unit, x_depth, t_depth, fusion.get("depth"), self.add_point, training)
        return [out_rgb, out_depth, fusion["interaction"], fusion["gates"]]

    def get_config(self):
        return {
            **super().get_config(),
            "residual_unit": self.unit_config,
            "interaction_channels": self.gfu.interaction_channels,
            "gates": self.gfu.gates,
            "add_point": self.add_point,
            "rgb_scale": self.gfu.rgb_scale,
            "first": self.first,
            "gate_channels": self.gfu.gate_channels,
        }
