"""The interface every backbone exposes, so that unimodal, SSMA and RFBNet assembly is written once.

A backbone describes one modality-specific encoder and its decoder as functions that apply named layers
to a stream (``prefix`` is ``"rgb_"`` or ``"depth_"``; the same function serves both modalities):

* ``stem(x, prefix) -> (x, skips)`` — everything before the residual units that RFBNet pairs into RFBs
  (Sec. III-A: up to the third downsampling, 1/8 of the input); ``skips`` is a dict ``{name: tensor}`` of
  features the decoder reads (empty for ERFNetEnc).
* ``stages`` — a list of fusion stages; each is a list of serialized ``ResidualUnit`` configs. A unimodal
  encoder runs them one after another; RFBNet replaces each by an RFB (pairs of units, one per stream).
  Unit ``i`` of stage ``s`` is named ``{prefix}s{s}_u{i}`` in every model and its RFB ``rfb_s{s}_u{i}``:
  ``weight_transfer`` relies on these names.
* ``stage_entry(x, prefix, stage) -> (x, skips)`` — per-stream layers at the start of stage ``stage`` that are
  not paired (e.g. a strided projection unit), and the skip features taken there (a dict like ``stem``'s, empty
  by default; AdapNet++ takes its 1/4 and 1/8 skips at the entries of its first two fusion stages);
  ``interaction_entry(x_rd, stage) -> x_rd`` — what the interaction stream does there (identity when nothing
  changes).
* ``post(x, prefix) -> x`` — per-stream layers after the last stage (e.g. AdapNet++'s eASPP).
* ``fused_channels`` — channels of the combined representation the decoder expects (SSMA/sum output).
* ``decoder(x, skips, num_classes, multimodal) -> logits`` at the input resolution (a backbone built with
  auxiliary heads, e.g. ``AdapNetPPBackbone(aux_losses=True)``, returns ``[logits, aux_1, ...]``).
* ``output_stride`` — spatial divisor of the encoder output; input sizes must be multiples of
  ``2 * output_stride`` for multimodal models with the depth shrunk.
"""


class Backbone:
    """Base class of the backbone descriptions (see the module docstring)."""

    name = "backbone"
    output_stride = 8
    fused_channels = 128

    @property
    def stages(self):
        raise NotImplementedError

    def stem(self, x, prefix):
        raise NotImplementedError

    def stage_entry(self, x, prefix, stage):
        return x, {}

    def interaction_entry(self, x_rd, stage):
        return x_rd

    def post(self, x, prefix):
        return x

    def decoder(self, x, skips, num_classes, multimodal):
        raise NotImplementedError


def unit_name(prefix, stage, index):
    """Name of unit ``index`` of fusion stage ``stage`` in the stream ``prefix``."""
    return f"{prefix}s{stage}_u{index}"


def rfb_name(stage, index):
    """Name of the RFB that pairs unit ``index`` of fusion stage ``stage`` of both streams."""
    return f"rfb_s{stage}_u{index}"
