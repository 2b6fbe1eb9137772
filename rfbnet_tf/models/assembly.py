"""Functional assembly of the three model families on any ``Backbone``: unimodal, SSMA late fusion, RFBNet.

* unimodal (paper Tables II-III "ERFNetEnc", "AdapNet++"): one encoder + the backbone's decoder;
* SSMA (Valada et al.; paper Sec. IV-B "SSMA(ERFNetEnc)", "SSMA(AdapNet++)"): two independent encoders,
  an SSMA block on their outputs, skip features of the two streams fused by SSMA skip blocks, the decoder;
* RFBNet (Sec. III, Fig. 2): the paired units of the fusion stages become residual fusion blocks bridged by an
  interaction stream; the three streams are combined (``combination``) and decoded.

Multimodal models take ``{"rgb": (B,H,W,3), "depth": (B,H,W,C_d)}`` at full resolution; with ``shrink_depth``
the depth image is shrunk by 2 inside the model (2×2 average pooling = bilinear ×1/2 with half-pixel centres,
Sec. III-B). All models return float32 logits ``(B,H,W,num_classes)`` (or, when the backbone has auxiliary heads,
the list the backbone's decoder returns: ``[logits, aux_1, ...]``).
"""

import keras

from rfbnet_tf.layers.residual_fusion_block import ADD_POINTS, ResidualFusionBlock
from rfbnet_tf.layers.ssma_block import SSMABlock
from rfbnet_tf.layers.stream_resampling import downsampler, upsampler
from rfbnet_tf.models.backbone import rfb_name, unit_name
from rfbnet_tf.models.combination import check_combination, combine_streams
from rfbnet_tf.utils.checks import boolean

MODALITIES = ("rgb", "depth")


def _check_channels(depth_channels):
    if isinstance(depth_channels, bool) or depth_channels not in (1, 3):
        raise ValueError(f"depth_channels must be 3 (HHA) or 1 (raw depth), received {depth_channels!r}")
    return depth_channels



def _input(name, channels):
    return keras.Input(shape=(None, None, channels), name=name)


def _units(config, prefix, stage, index):
    config = {**config, "config": {**config["config"], "name": unit_name(prefix, stage, index)}}
    return keras.saving.deserialize_keras_object(config)


def encode_stream(backbone, x, prefix):
    """Run one full modality-specific encoder (stem, every stage's units, post). Returns ``(x, skips)``."""
    x, skips = backbone.stem(x, prefix)
    skips = dict(skips)
    for s, stage in enumerate(backbone.stages):
        x, entry_skips = backbone.stage_entry(x, prefix, s)
        skips.update(entry_skips)
        for i, config in enumerate(stage):
            x = _units(config, prefix, s, i)(x)
    return backbone.post(x, prefix), skips


def fuse_skips(rgb_skips, depth_skips, depth_scale):
    """SSMA skip fusion (Valada et al. Sec. 4.2; official ``conv513/514/552``) of same-named skip features."""
    fused = {}
    for key, rgb in rgb_skips.items():
        depth = depth_skips[key]
        if depth_scale > 1:
            depth = upsampler(depth_scale, f"skip_{key}_depth_up")(depth)
        fused[key] = SSMABlock(
            int(rgb.shape[-1]), reduction=6, output_kernel=3, output_bias=True, output_bn=False, name=f"skip_{key}_ssma"
        )([rgb, depth])
    return fused


def _multimodal_inputs(depth_channels, shrink_depth):
    rgb = _input("rgb", 3)
    depth = _input("depth", _check_channels(depth_channels))
    depth_in = downsampler(2, "depth_shrink")(depth) if boolean("shrink_depth", shrink_depth) else depth
    return {"rgb": rgb, "depth": depth}, depth_in


def build_unimodal(backbone, num_classes, modality="rgb", depth_channels=3, name=None):
    """One encoder + decoder on a single modality (``modality`` "rgb" or "depth")."""
    if modality not in MODALITIES:
        raise ValueError(f"modality must be one of {MODALITIES}, received {modality!r}")
    inp = _input(modality, 3 if modality == "rgb" else _check_channels(depth_channels))
    x, skips = encode_stream(backbone, inp, f"{modality}_")
    logits = backbone.decoder(x, skips, num_classes, multimodal=False)
    return keras.Model(inp, logits, name=name or f"{backbone.name}_{modality}")


def build_ssma(backbone, num_classes, depth_channels=3, shrink_depth=False, name=None):
    """Two independent encoders fused by an SSMA block at their outputs (and SSMA skip fusion)."""
    inputs, depth_in = _multimodal_inputs(depth_channels, shrink_depth)
    scale = 2 if shrink_depth else 1
    rgb, rgb_skips = encode_stream(backbone, inputs["rgb"], "rgb_")
    depth, depth_skips = encode_stream(backbone, depth_in, "depth_")
    fused = combine_streams([rgb, depth], [1, scale], "ssma", backbone.fused_channels)
    skips = fuse_skips(rgb_skips, depth_skips, scale)
    logits = backbone.decoder(fused, skips, num_classes, multimodal=True)
    return keras.Model(inputs, logits, name=name or f"ssma_{backbone.name}")


def build_rfbnet(
    backbone,
    num_classes,
    depth_channels=3,
    shrink_depth=True,
    gates=True,
    add_point="R",
    combination="ssma",
    name=None,
):
    """RFBNet (Sec. III): residual fusion blocks over the fusion stages, three streams combined, decoded."""
    if add_point not in ADD_POINTS:
        raise ValueError(f"add_point must be one of {ADD_POINTS}, received {add_point!r}")
    boolean("gates", gates)
    check_combination(combination)
    inputs, depth_in = _multimodal_inputs(depth_channels, shrink_depth)
    scale = 2 if shrink_depth else 1
    rgb, rgb_skips = backbone.stem(inputs["rgb"], "rgb_")
    depth, depth_skips = backbone.stem(depth_in, "depth_")
    rgb_skips, depth_skips = dict(rgb_skips), dict(depth_skips)
    interaction = None
    for s, stage in enumerate(backbone.stages):
        rgb, entry_skips = backbone.stage_entry(rgb, "rgb_", s)
        rgb_skips.update(entry_skips)
        depth, entry_skips = backbone.stage_entry(depth, "depth_", s)
        depth_skips.update(entry_skips)
        if interaction is not None:
            interaction = backbone.interaction_entry(interaction, s)
        for i, config in enumerate(stage):
            block = ResidualFusionBlock(
                config, gates=gates, add_point=add_point, rgb_scale=scale, first=interaction is None, name=rfb_name(s, i)
            )
            streams = [rgb, depth] if interaction is None else [rgb, depth, interaction]
            rgb, depth, interaction, _ = block(streams)
    rgb = backbone.post(rgb, "rgb_")
    depth = backbone.post(depth, "depth_")
    fused = combine_streams([rgb, depth, interaction], [1, scale, scale], combination, backbone.fused_channels)
    skips = fuse_skips(rgb_skips, depth_skips, scale)
    logits = backbone.decoder(fused, skips, num_classes, multimodal=True)
    return keras.Model(inputs, logits, name=name or f"rfbnet_{backbone.name}")


def fusion_blocks(model) -> list:
    """The residual fusion blocks of ``model`` in network order (empty for unimodal and SSMA models)."""
    return [layer for layer in model.layers if isinstance(layer, ResidualFusionBlock)]


def _checked_blocks(model) -> list:
    blocks = fusion_blocks(model)
    if not blocks:
        raise ValueError(f"model {model.name!r} has no ResidualFusionBlock")
    return blocks


def gate_model(model, block=None):
    """A model with the same inputs returning the gate maps ``(B,h,w,4)`` of one RFB (default: the first).

    Channels are ``[G_Rin, G_Din, G_Rout, G_Dout]`` (Sec. III-C).
    """
    blocks = _checked_blocks(model)
    if block is None:
        chosen = blocks[0]
    else:
        names = [b.name for b in blocks]
        if block not in names:
            raise ValueError(f"block must be one of {names}, received {block!r}")
        chosen = blocks[names.index(block)]
    return keras.Model(model.inputs, chosen.output[3], name=f"{model.name}_{chosen.name}_gates")


def gate_maps_model(model):
    """A model with the same inputs returning the gate maps ``(B,h,w,4)`` of every RFB, a list in the order of
    :func:`fusion_blocks` (their names label the maps); used for TensorBoard's gate images and ``predict --gates``.
    """
    blocks = _checked_blocks(model)
    return keras.Model(model.inputs, [block.output[3] for block in blocks], name=f"{model.name}_gate_maps")
