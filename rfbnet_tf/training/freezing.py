"""``--freeze_encoders``: the fusion stage of the AdapNet++ protocol of SSMA [12] (RFBNet paper Sec. IV-B).

SSMA trains its fusion model with both experts taken from the unimodal runs and fixed (official
``models/SSMA.py``: ``expert(training=expert_not_fixed)`` with ``expert_not_fixed=False``: the experts' variables
are not trainable, their batch norms use the moving statistics, their dropout is off). Here:

* SSMA models: every layer of the two modality streams (names ``rgb_*`` / ``depth_*``: the stem, the residual
  units, the skip convolutions, the eASPP) is frozen; the SSMA fusion blocks and the decoder train;
* RFBNet models: the same layers, plus the two residual units inside every residual fusion block
  (``rfb_s{s}_u{i}/{rgb,depth}_unit``) — the streams' residual units; the GFUs, the interaction stream, the
  combination, the skip fusion and the decoder train.

A frozen layer is ``trainable = False``: its variables leave ``model.trainable_variables`` (no gradient, no
optimizer slot, no weight decay), Keras batch norm runs in inference mode, and ``PreActBottleneck`` drops
nothing. Freezing happens before the optimizer is built, in every session of a run (the optimizer's state
depends on it, so ``freeze_encoders`` cannot change when a run resumes from its checkpoint).
"""

from __future__ import annotations

from rfbnet_tf.layers.residual_fusion_block import ResidualFusionBlock
from rfbnet_tf.models import model_spec

STREAM_PREFIXES = ("rgb_", "depth_")


def freeze_encoders(model, model_name) -> list:
    """Freeze the modality streams of the multimodal ``model`` (module docstring); returns the frozen layers'
    names (``rfb_s0_u0/rgb_unit`` for units inside an RFB). ``ValueError`` for a unimodal model."""
    spec = model_spec(model_name)
    if not spec.multimodal:
        raise ValueError(f"--freeze_encoders: {model_name!r} is unimodal; only multimodal models have encoders "
                         "to freeze (the fusion stage)")
    frozen = []
    for layer in model.layers:
        if isinstance(layer, ResidualFusionBlock):
            for unit in (layer.rgb_unit, layer.depth_unit):
                unit.trainable = False
                frozen.append(f"{layer.name}/{unit.name}")
        elif layer.name.startswith(STREAM_PREFIXES) and layer.weights:
            layer.trainable = False
            frozen.append(layer.name)
    if not frozen:
        raise ValueError(f"--freeze_encoders: model {model.name!r} has no rgb_/depth_ stream layers")
    return frozen
