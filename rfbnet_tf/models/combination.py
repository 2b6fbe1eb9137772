"""Combination of the streams at the end of the encoders (paper Sec. III-A, Fig. 2 "F"; Sec. III-B).

The depth and interaction streams are first brought to the RGB stream's size (bilinear, by the depth
shrink factor). Then one of:

* ``"concat"`` — channel concatenation (``C_R + C_D + C_i`` channels);
* ``"sum"`` — element-wise sum; streams whose channel count differs from ``fused_channels`` (the interaction
  stream, ``C_i = C_D / 2``) first pass a 1×1 convolution to ``fused_channels``;
* ``"ssma"`` — one ``SSMABlock`` over all streams (η = 16) to ``fused_channels`` — the SSMA baseline's
  combination, and RFBNet's default since the paper builds RFBNet on the SSMA framework (Sec. IV-B).
"""

from keras import layers

from rfbnet_tf.layers.ssma_block import SSMABlock
from rfbnet_tf.layers.stream_resampling import upsampler

COMBINATIONS = ("concat", "sum", "ssma")


def check_combination(combination):
    if combination not in COMBINATIONS:
        raise ValueError(f"combination must be one of {COMBINATIONS}, received {combination!r}")
    return combination


def combine_streams(streams, scales, combination, fused_channels, name="combine"):
    """Combine ``streams`` (NHWC tensors; stream ``i`` at 1/``scales[i]`` of the first one's size)."""
    check_combination(combination)
    aligned = [
        s if scale == 1 else upsampler(scale, f"{name}_up{i}")(s) for i, (s, scale) in enumerate(zip(streams, scales))
    ]
    if combination == "concat":
        return layers.Concatenate(name=name)(aligned)
    if combination == "ssma":
        return SSMABlock(fused_channels, reduction=16, name=name)(aligned)
    projected = [
        s if s.shape[-1] == fused_channels else layers.Conv2D(fused_channels, 1, name=f"{name}_proj{i}")(s)
        for i, s in enumerate(aligned)
    ]
    return layers.Add(name=name)(projected)
