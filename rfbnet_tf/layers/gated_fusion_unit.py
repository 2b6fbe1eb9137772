"""Gated fusion unit (GFU) of the residual fusion block — paper Sec. III-C, Fig. 3, the G of Eq. (1).

Given the taps of the two residual units (``t_R`` at the RGB resolution, ``t_D`` at the depth resolution) and
the interaction stream ``x_RD^l`` (``C_i`` channels at the depth resolution):

1. ``t_R`` is brought to the depth resolution (``stream_resampling.downsampler``).
2. Input gates ``G_Rin, G_Din ∈ [0,1]^{B×h×w×1}``: one gate network — conv3×3 → ReLU → conv3×3 → sigmoid —
   whose first convolution is shared by the two gates (the paper shares it "to reduce the computational
   cost"); input ``concat(t_R↓, t_D)``.
3. ``x_RD^{l+1} = Sconv(conv1×1(concat(G_Rin·t_R↓, G_Din·t_D)) + x_RD^l)`` with ``x_RD^l = 0`` for the first
   RFB (``first=True`` skips the addition). Sconv is a depthwise separable 3×3 convolution → BN → ReLU.
4. Output gates ``G_Rout, G_Dout`` (each its own gate network of the same form, input ``x_RD^{l+1}``) weight
   the complementary features: ``x_Dcom = G_Dout · conv1×1_D(x_RD^{l+1})`` and
   ``x_Rcom = up(G_Rout · conv1×1_R(x_RD^{l+1}))`` (bilinear to the RGB resolution, gated before upsampling
   so the gate is applied at the resolution it is learned at).

Switches (Table IV): ``gates=False`` removes all four gates (every gate is 1); ``complement_channels=None``
(the RFB's ``add_point=None``) computes no complementary features: the interaction stream only aggregates.

``call([t_R, t_D])`` (first block) or ``call([t_R, t_D, x_RD])`` returns a dict with ``"interaction"``
``(B,h,w,C_i)``, ``"rgb"`` ``(B,H,W,c_R)`` and ``"depth"`` ``(B,h,w,c_D)`` when complementary features are
computed, and ``"gates"`` ``(B,h,w,4)``: ``[G_Rin, G_Din, G_Rout, G_Dout]`` (1 where a gate is absent).
"""

import keras
from keras import layers, ops

from rfbnet_tf.layers.stream_resampling import check_scale, downsampler, upsampler
from rfbnet_tf.utils.checks import boolean, is_int, positive_int

BN_EPSILON = 1e-3


def _gate_head(name):
    return layers.Conv2D(1, 3, padding="same", activation="sigmoid", name=name)


def _gate_hidden(channels, name):
    return layers.Conv2D(channels, 3, padding="same", activation="relu", name=name)


@keras.saving.register_keras_serializable(package="rfbnet_tf")
class GatedFusionUnit(keras.layers.Layer):
    """The GFU (Sec. III-C, Fig. 3); see the module docstring for the exact computation and shapes."""

    def __init__(
        self,
        interaction_channels,
        complement_channels=None,
        gates=True,
        rgb_scale=2,
        gate_channels=None,
        first=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        interaction_channels = positive_int("interaction_channels", interaction_channels)
        if complement_channels is not None:
            complement_channels = tuple(complement_channels)
            if len(complement_channels) != 2 or not all(is_int(c) and c > 0 for c in complement_channels):
                raise ValueError(
                    "complement_channels must be None or two positive ints (rgb, depth), "
                    f"received {complement_channels!r}"
                )
            complement_channels = (int(complement_channels[0]), int(complement_channels[1]))
        boolean("gates", gates)
        if gate_channels is None:
            gate_channels = max(interaction_channels // 4, 1)
        gate_channels = positive_int("gate_channels", gate_channels)
        self.interaction_channels = interaction_channels
        self.complement_channels = complement_channels
        self.gates = gates
        self.rgb_scale = check_scale(rgb_scale)
        self.gate_channels = gate_channels
        self.first = bool(first)

        self.rgb_down = downsampler(self.rgb_scale, "rgb_down")
        self.fuse = layers.Conv2D(interaction_channels, 1, name="fuse")
        self.sconv = layers.SeparableConv2D(interaction_channels, 3, padding="same", use_bias=False, name="sconv")
        self.sconv_bn = layers.BatchNormalization(epsilon=BN_EPSILON, name="sconv_bn")
        if gates:
            self.in_gate_hidden = _gate_hidden(gate_channels, "in_gate_shared")
            self.in_gate_rgb = _gate_head("in_gate_rgb")
            self.in_gate_depth = _gate_head("in_gate_depth")
        if complement_channels is not None:
            self.out_rgb = layers.Conv2D(complement_channels[0], 1, name="out_rgb")
            self.out_depth = layers.Conv2D(complement_channels[1], 1, name="out_depth")
            self.rgb_up = upsampler(self.rgb_scale, "rgb_up")
            if gates:
                self.out_gate_rgb_hidden = _gate_hidden(gate_channels, "out_gate_rgb_hidden")
                self.out_gate_rgb = _gate_head("out_gate_rgb")
                self.out_gate_depth_hidden = _gate_hidden(gate_channels, "out_gate_depth_hidden")
                self.out_gate_depth = _gate_head("out_gate_depth")

    def build(self, input_shape):
        expected = 2 if self.first else 3
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != expected:
            raise ValueError(
                f"GatedFusionUnit(first={self.first}) takes {expected} inputs, received shapes {input_shape!r}"
            )
        rgb_shape, depth_shape = tuple(input_shape[0]), tuple(input_shape[1])
        at_depth = lambda channels: depth_shape[:-1] + (channels,)  # noqa: E731
        both = rgb_shape[-1] + depth_shape[-1]
        ci, cg = self.interaction_channels, self.gate_channels
        self.fuse.build(at_depth(both))
        self.sconv.build(at_depth(ci))
        self.sconv_bn.build(at_depth(ci))
        if self.gates:
            self.in_gate_hidden.build(at_depth(both))
            self.in_gate_rgb.build(at_depth(cg))
            self.in_gate_depth.build(at_depth(cg))
        if self.complement_channels is not None:
            self.out_rgb.build(at_depth(ci))
            self.out_depth.build(at_depth(ci))
            if self.gates:
                for hidden, head in (
                    (self.out_gate_rgb_hidden, self.out_gate_rgb),
                    (self.out_gate_depth_hidden, self.out_gate_depth),
                ):
                    hidden.build(at_depth(ci))
                    head.build(at_depth(cg))

    def call(self, inputs, training=None):
        expected = 2 if self.first else 3
        if len(inputs) != expected:
            raise ValueError(
                f"GatedFusionUnit(first={self.first}) takes {expected} inputs, received {len(inputs)}"
            )
        t_rgb = self.rgb_down(inputs[0])
        t_depth = inputs[1]
        one = ops.ones_like(t_depth[..., :1])
        gate_rgb_in = gate_depth_in = gate_rgb_out = gate_depth_out = one
        if self.gates:
            hidden = self.in_gate_hidden(ops.concatenate([t_rgb, t_depth], axis=-1))
            gate_rgb_in = self.in_gate_rgb(hidden)
            gate_depth_in = self.in_gate_depth(hidden)
        fused = self.fuse(ops.concatenate([gate_rgb_in * t_rgb, gate_depth_in * t_depth], axis=-1))
        if not self.first:
            fused = fused + inputs[2]
        interaction = ops.relu(self.sconv_bn(self.sconv(fused), training=training))
        result = {"interaction": interaction}
        if self.complement_channels is not None:
            if self.gates:
                gate_rgb_out = self.out_gate_rgb(self.out_gate_rgb_hidden(interaction))
                gate_depth_out = self.out_gate_depth(self.out_gate_depth_hidden(interaction))
            result["rgb"] = self.rgb_up(gate_rgb_out * self.out_rgb(interaction))
            result["depth"] = gate_depth_out * self.out_depth(interaction)
        result["gates"] = ops.concatenate([gate_rgb_in, gate_depth_in, gate_rgb_out, gate_depth_out], axis=-1)
        return result

    def get_config(self):
        return {
            **super().get_config(),
            "interaction_channels": self.interaction_channels,
            "complement_channels": None if self.complement_channels is None else list(self.complement_channels),
            "gates": self.gates,
            "rgb_scale": self.rgb_scale,
            "gate_channels": self.gate_channels,
            "first": self.first,
        }
