"""AdapNet++ backbone (Valada et al., IJCV 2019 "Self-Supervised Model Adaptation for Multimodal Semantic
Segmentation", Sec. 3) with its decoder; the SSMA(AdapNet++) multi-level fusion decoder (ibid. Sec. 4.2, Fig. 7)
and the RFBNet(AdapNet++) pairing (RFBNet paper Sec. III-A, IV-B).

Every width, kernel, stride and dilation was checked against the official TensorFlow code
(``DeepSceneSeg/AdapNet-pp`` ``models/AdapNet_pp.py``, ``models/network_base.py``; ``DeepSceneSeg/SSMA``
``models/SSMA.py``, ``models/ssma_helper.py``). BN ε = 1e-5, momentum 0.99; no convolution followed by a BN has a
bias. Layer names ``{prefix}...`` below are per stream (``rgb_``/``depth_``).

Encoder (full pre-activation ResNet-50, 3/4/6/3 bottleneck units, output stride 16):

* stem (``stem``): BN on the input image (official ``conv0``) → 7×7/2 conv 64 → BN → ReLU → 3×3/2 max pool →
  block 1: unit 1 (projection 64→256, its input already activated) and units 2–3 (identity), 256 channels, 1/4.
* stage entries (``stage_entry``): before fusion stage 0, the block-1 output BN-ReLU, read (as in the official
  code) both by the 24-channel skip ``stride4 = BN(conv1×1(·))`` and by block 2 unit 1 (projection, 3×3 stride
  2, 512 ch, 1/8); before stage 1, the block-2 output BN-ReLU, the skip ``stride8`` and block 3 unit 1
  (projection, stride 2, 1024 ch, 1/16); before stage 2, block 4 unit 1 (projection with its own
  pre-activation, stride 1, 2048 ch).
* fusion stages (``stages``, unit ``i`` of stage ``s`` named ``{prefix}s{s}_u{i}``) — every identity-shortcut unit
  from 1/8 of the input on (after the third downsampling, RFBNet Sec. III-A):
  stage 0 = block 2 units 2–4 (512 ch), stage 1 = block 3 units 2–6 (1024 ch), stage 2 = block 4 units 2–3
  (2048 ch).
* ``post``: the block-4 output BN-ReLU, then the eASPP (``easpp.py``) → 256 channels, 1/16.

Multiscale residual units (3×3 layer split into two halves with dilations ``(r1, r2)``) sit where the official
code puts them — block 2 unit 4, block 3 units 3–6, block 4 units 1–3. Their rates are the backbone option
``dilations``:

* ``"official"`` (the default): the released code's rates, ``(1, 2)`` in block 2 unit 4 and block 3 units 3–6,
  ``(2, 2)`` (one convolution dilated by 2) in every block-4 unit (``DeepSceneSeg/SSMA`` commit 7066905 and issue
  #5: "The checkpoints provided were trained with the stride 2 configurations"; ``DeepSceneSeg/AdapNet-pp``
  ``models/network_base.py`` ``unit_3`` / ``unit_4`` has had them since its first release). The published
  AdapNet++ / SSMA numbers come from these rates.
* ``"paper"``: the AdapNet++ paper's rates (Sec. 3.1, Fig. 3), the second rate growing: ``(1, 2)`` in block 2,
  ``(1, 2), (1, 4), (1, 8), (1, 16)`` in block 3 units 3–6 and ``(2, 4), (2, 8), (2, 16)`` in block 4 (the code
  before commit 7066905).

Dilations do not change parameter counts.
Dropout: as in the official code, on the residual of block 4 unit 3 only, keep probability 0.3 (rate 0.7).

Decoder (``decoder``; official ``conv41 … conv5``): 4×4/2 transposed conv 256 → BN (``up1``, 1/8) → concat
the 1/8 skip → two 3×3 conv 256 BN-ReLU → 4×4/2 transposed conv 256 → BN (``up2``, 1/4) → concat the 1/4 skip
→ two 3×3 conv 256 BN-ReLU → 1×1 conv ``K`` BN-ReLU → 8×8/4 transposed conv ``K`` → BN = logits (×2, ×2, ×4).
With ``multimodal=True`` (SSMA decoder, official ``SSMA.py`` ``conv550/conv551``) each fused skip is first weighted
by a channel attention computed from the transposed-conv output it is concatenated with: global average pool →
1×1 conv 24 → BN → ReLU → multiply — the top-down multi-level fusion of RFBNet Fig. 5. Auxiliary heads
(``aux_losses=True``, official ``conv911``/``conv912``, loss weights ``AUX_LOSS_WEIGHTS`` = 0.6, 0.5): 1×1 conv
``K`` → BN on ``up2`` (×4 bilinear) and on ``up1`` (×8 bilinear); the model then returns
``[logits, aux_1, aux_2]``, each float32 ``(B, H, W, K)``. Bilinear resizing uses half-pixel centres
(``BilinearUpsample``) where the official TF1 code used ``resize_images`` without them.

RFBNet(AdapNet++): the RFB units' tap is the output of their first 1×1 conv (after the pre-activation BN-ReLU)
and the complementary feature enters the input of their 3×3 layer (``PreActBottleneck.tap``). The interaction
stream (half the depth tap channels: 64, 128, 256 in stages 0, 1, 2) crosses a stage boundary through
``interaction_entry``: 2×2 average pooling where the stage entry has stride 2 (stage 1), then 1×1 conv to the new
width → BN → ReLU. The depth trunk of a model with the depth shrunk runs at half the RGB size, so inputs must be
multiples of 32 there (16 otherwise).

Parameter counts (tests pin them), with 12 classes (the official default ``num_classes=12``: 11 Cityscapes
classes + void, as in the AdapNet++ paper's experiments), trainable, without the auxiliary heads: AdapNet++
30,145,366 (published 30.20 M: −0.18 %; with the 52,886 BN moving statistics it is 30,198,252, i.e. the
published figure evidently counts every variable), SSMA(AdapNet++) 56,182,428 (published 56.44 M: −0.46 %),
RFBNet(AdapNet++) 61,762,052. Each auxiliary head adds ``258 K``.
"""

import keras
from keras import layers

from rfbnet_tf.layers.easpp import EASPP, EASPP_BRANCH_CHANNELS, EASPP_CHANNELS
from rfbnet_tf.layers.preact_bottleneck import PreActBottleneck, batch_norm
from rfbnet_tf.layers.stream_resampling import BilinearUpsample
from rfbnet_tf.models.backbone import Backbone
from rfbnet_tf.utils.checks import boolean, is_int

STEM_CHANNELS = 64
BLOCK_CHANNELS = (256, 512, 1024, 2048)  # official filters
BLOCK_STRIDES = (1, 2, 2, 1)  # official strides (of each block's unit 1)
# (r1, r2) of the 3×3 layer of every unit, per block, per ``dilations`` option (see the module docstring).
DILATIONS = {
    "official": (
        ((1, 1), (1, 1), (1, 1)),
        ((1, 1), (1, 1), (1, 1), (1, 2)),
        ((1, 1), (1, 1), (1, 2), (1, 2), (1, 2), (1, 2)),
        ((2, 2), (2, 2), (2, 2)),
    ),
    "paper": (
        ((1, 1), (1, 1), (1, 1)),
        ((1, 1), (1, 1), (1, 1), (1, 2)),
        ((1, 1), (1, 1), (1, 2), (1, 4), (1, 8), (1, 16)),
        ((2, 4), (2, 8), (2, 16)),
    ),
}
BLOCK_UNITS = tuple(len(block) for block in DILATIONS["official"])  # 3, 4, 6, 3
BLOCK_DROPOUT = {(3, 2): 0.7}  # (block index, unit index) -> rate; official keep_prob 0.3 in block 4 unit 3
SKIP_CHANNELS = 24  # official conv32 / conv174
SKIP_KEYS = {0: "stride4", 1: "stride8"}  # stage whose entry emits the skip -> skip name
DECODER_CHANNELS = 256


def _conv_bn(x, filters, kernel, name, relu=True):
    x = layers.Conv2D(filters, kernel, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = batch_norm(f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x) if relu else x


def _bn_relu(x, name):
    return layers.ReLU(name=f"{name}_relu")(batch_norm(f"{name}_bn")(x))


def _deconv_bn(x, filters, kernel, stride, name):
    x = layers.Conv2DTranspose(
        filters, kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_deconv"
    )(x)
    return batch_norm(f"{name}_bn")(x)


class AdapNetPPBackbone(Backbone):
    """The AdapNet++ backbone description (see the module docstring).

    Args:
      aux_losses: add the two auxiliary heads; the decoder then returns ``[logits, aux_1, aux_2]``.
      dilations: ``"official"`` (default) or ``"paper"`` rates of the multiscale units (module docstring).
      width_divisor: TESTS ONLY (no train flag sets it): divide every width (stem, blocks, eASPP, decoder; not
        the 24-channel skips) by this, so that end-to-end tests can train an AdapNet++ of the same structure in
        seconds. 1 is AdapNet++.
      units: TESTS ONLY (no train flag sets it): units per block, at most ``(3, 4, 6, 3)`` (AdapNet++, the
        default), at least 2 in blocks 2-4; a block keeps its first (projection) unit and its *last* identity
        units (their dilations and dropout), named by position.
    """

    name = "adapnet_pp"
    output_stride = 16

    def __init__(self, aux_losses=False, dilations="official", width_divisor=1, units=BLOCK_UNITS):
        boolean("aux_losses", aux_losses)
        if dilations not in DILATIONS:
            raise ValueError(f"dilations must be one of {sorted(DILATIONS)}, received {dilations!r}")
        if isinstance(width_divisor, bool) or width_divisor not in (1, 2, 4, 8, 16):
            raise ValueError(f"width_divisor must be 1, 2, 4, 8 or 16, received {width_divisor!r}")
        units = tuple(units) if isinstance(units, (list, tuple)) else ()
        if len(units) != 4 or not all(is_int(n) and low <= n <= high
                                      for n, low, high in zip(units, (1, 2, 2, 2), BLOCK_UNITS)):
            raise ValueError(f"units must be 4 ints, 1-3, 2-4, 2-6, 2-3 per block, received {units!r}")
        self.units = tuple(int(n) for n in units)
        self.aux_losses = aux_losses
        self.dilations = dilations
        self.width_divisor = width_divisor
        self.fused_channels = EASPP_CHANNELS // width_divisor

    def _width(self, channels):
        return channels // self.width_divisor

    def _unit(self, block, index, **kwargs):
        """Unit ``index`` (0-based) of block ``block`` (0-based) with its official width, dilations and dropout."""
        return PreActBottleneck(
            self._width(BLOCK_CHANNELS[block]),
            dilations=DILATIONS[self.dilations][block][index],
            dropout=BLOCK_DROPOUT.get((block, index), 0.0),
            **kwargs,
        )

    def _identity_units(self, block):
        """Indices (0-based, in the full block) of the identity units block ``block`` keeps: its last ones."""
        return range(BLOCK_UNITS[block] - self.units[block] + 1, BLOCK_UNITS[block])

    @property
    def stages(self):
        return [
            [keras.saving.serialize_keras_object(self._unit(block, i)) for i in self._identity_units(block)]
            for block in (1, 2, 3)
        ]

    def stem(self, x, prefix):
        x = batch_norm(f"{prefix}conv0_bn")(x)
        x = layers.Conv2D(self._width(STEM_CHANNELS), 7, strides=2, padding="same", use_bias=False,
                          name=f"{prefix}conv1_conv")(x)
        x = _bn_relu(x, f"{prefix}conv1")
        x = layers.MaxPooling2D(3, strides=2, padding="same", name=f"{prefix}pool1")(x)
        x = self._unit(0, 0, preactivate=False, projection=True, name=f"{prefix}block1_unit1")(x)
        for position, i in enumerate(self._identity_units(0), start=2):
            x = self._unit(0, i, name=f"{prefix}block1_unit{position}")(x)
        return x, {}

    def stage_entry(self, x, prefix, stage):
        block = stage + 1
        if BLOCK_STRIDES[block] == 1:
            return self._unit(block, 0, projection=True, name=f"{prefix}block{block + 1}_unit1")(x), {}
        x = _bn_relu(x, f"{prefix}block{block}_out")
        key = SKIP_KEYS[stage]
        skip = _conv_bn(x, SKIP_CHANNELS, 1, f"{prefix}skip_{key}", relu=False)
        name = f"{prefix}block{block + 1}_unit1"
        x = self._unit(block, 0, stride=BLOCK_STRIDES[block], preactivate=False, projection=True, name=name)(x)
        return x, {key: skip}

    def interaction_entry(self, x_rd, stage):
        block = stage + 1
        if BLOCK_STRIDES[block] > 1:
            x_rd = layers.AveragePooling2D(BLOCK_STRIDES[block], name=f"interaction_entry{stage}_pool")(x_rd)
        interaction_channels = self._unit(block, 1).tap_channels // 2  # = the stage's RFB default (half the depth tap)
        return _conv_bn(x_rd, interaction_channels, 1, f"interaction_entry{stage}")

    def post(self, x, prefix):
        x = _bn_relu(x, f"{prefix}block4_out")
        return EASPP(self.fused_channels, self._width(EASPP_BRANCH_CHANNELS), name=f"{prefix}easpp")(x)

    def decoder(self, x, skips, num_classes, multimodal):
        width = self._width(DECODER_CHANNELS)
        up1 = _deconv_bn(x, width, 4, 2, "dec_up1")
        x = self._refine(up1, skips["stride8"], multimodal, "dec_refine1", width)
        up2 = _deconv_bn(x, width, 4, 2, "dec_up2")
        x = self._refine(up2, skips["stride4"], multimodal, "dec_refine2", width)
        x = _conv_bn(x, num_classes, 1, "dec_classifier")
        x = _deconv_bn(x, num_classes, 8, 4, "dec_up3")
        logits = layers.Activation("linear", dtype="float32", name="logits")(x)
        if not self.aux_losses:
            return logits
        aux = []
        for i, (features, scale) in enumerate(((up2, 4), (up1, 8)), start=1):
            y = _conv_bn(features, num_classes, 1, f"dec_aux{i}", relu=False)
            y = BilinearUpsample(scale, name=f"dec_aux{i}_upsample")(y)
            aux.append(layers.Activation("linear", dtype="float32", name=f"aux_{i}")(y))
        return [logits, *aux]

    @staticmethod
    def _refine(upsampled, skip, multimodal, name, width):
        """Skip refinement: (attention-weighted, multimodal) skip ⊕ upsampled → two 3×3 conv BN-ReLU."""
        if multimodal:
            pooled = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_attention_pool")(upsampled)
            weights = _conv_bn(pooled, int(skip.shape[-1]), 1, f"{name}_attention")
            skip = layers.Multiply(name=f"{name}_attention_mul")([weights, skip])
        x = layers.Concatenate(name=f"{name}_concat")([upsampled, skip])
        x = _conv_bn(x, width, 3, f"{name}_conv1")
        return _conv_bn(x, width, 3, f"{name}_conv2")
