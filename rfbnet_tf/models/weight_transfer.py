"""Two-stage training (paper Sec. IV-B): initialise the streams of a multimodal model from unimodal models.

"We first train the unimodal models, then use the trained weights to initialize the encoders of the
multimodal models." Every encoder layer of a unimodal model built for modality ``m`` is named ``m_...``
(``backbone.unit_name``); the multimodal models use the same names for their ``m`` stream, except that a unit
paired into a residual fusion block lives at ``rfb_s{s}_u{i}`` as its ``{m}_unit`` sublayer. Decoder layers are
not transferred (they differ between unimodal and multimodal models).
"""

from rfbnet_tf.layers.residual_fusion_block import ResidualFusionBlock

STREAMS = ("rgb", "depth")


def _weight_layers(model):
    """Yield ``(name, layer)`` for layers that own weights, looking inside RFBs as ``rfb.../{stream}_unit``."""
    for layer in model.layers:
        if isinstance(layer, ResidualFusionBlock):
            for stream in STREAMS:
                yield f"{stream}_{layer.name[len('rfb_'):]}", getattr(layer, f"{stream}_unit")
        elif layer.weights:
            yield layer.name, layer


named_weight_layers = _weight_layers  # public name (ImageNet transfer, freezing)


def transfer_encoder_weights(source, target, stream):
    """Copy the ``stream`` encoder of ``source`` (a unimodal model) into ``target``.

    Returns ``(loaded, skipped)``: names of layers copied, and of source layers with no counterpart (its
    decoder). Raises ``ValueError`` if ``stream`` is unknown, if a layer's weights do not match in shape (e.g.
    a depth model trained on raw depth loaded into an HHA model), or if nothing was loaded.
    """
    if stream not in STREAMS:
        raise ValueError(f"stream must be one of {STREAMS}, received {stream!r}")
    targets = dict(_weight_layers(target))
    loaded, skipped = [], []
    for name, layer in _weight_layers(source):
        if not name.startswith(f"{stream}_"):
            skipped.append(name)
            continue
        if name not in targets:
            skipped.append(name)
            continue
        src = layer.get_weights()
        dst = targets[name].get_weights()
        shapes_src = [w.shape for w in src]
        shapes_dst = [w.shape for w in dst]
        if shapes_src != shapes_dst:
            raise ValueError(
                f"cannot load {source.name}/{name} into {target.name}: weight shapes {shapes_src} != {shapes_dst}"
            )
        targets[name].set_weights(src)
        loaded.append(name)
    if not loaded:
        raise ValueError(
            f"no {stream!r} encoder layer of {source.name!r} matches a layer of {target.name!r}; "
            f"source layers: {[n for n, _ in _weight_layers(source)][:10]}..."
        )
    return loaded, skipped
