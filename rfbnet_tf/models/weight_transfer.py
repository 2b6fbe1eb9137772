"""Two-stage training (paper Sec. IV-B): initialise the streams of a multimodal model from unimodal models.

"We first train the unimodal models, then use the trained weights to initialize the encoders of the
multimodal models." Every encoder layer of a unimodal model built for modality ``m`` is named ``m_...``
(``backbone.unit_name``); the multimodal models use the same names for their ``m`` stream, except that a unit
paired into a residual fusion block lives at ``rfb_s{s}_u{i}`` as its ``{m}_unit`` sublayer. Decoder layers are
not transferred (they differ between unimodal and multimodal models).

Fine-tuning a whole model (``--init_model``, :func:`transfer_model_weights`) copies every layer by name; layers
whose weights differ in shape only where the class count differs — found structurally, by comparing the two
built models (ERFNetEnc's ``head``; AdapNet++'s ``dec_classifier``, ``dec_up3`` and auxiliary heads) — keep the
target's fresh initialisation.
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


def num_classes_of(model) -> int:
    """The class count of a segmentation model: the channels of its (first) logits output."""
    return int(model.outputs[0].shape[-1])


def _differs_only_in_classes(source_shapes, target_shapes, source_classes, target_classes) -> bool:
    """True when two layers' weight shapes differ, and only in dimensions holding the two class counts."""
    if len(source_shapes) != len(target_shapes) or source_shapes == target_shapes:
        return False
    for a, b in zip(source_shapes, target_shapes):
        if len(a) != len(b) or any(x != y and (x, y) != (source_classes, target_classes) for x, y in zip(a, b)):
            return False
    return True


def transfer_model_weights(source, target) -> dict:
    """Copy every layer of ``source`` into the layer of the same name in ``target`` (the same architecture,
    possibly with another class count).

    Returns ``{"loaded", "reinitialized", "not_in_source", "not_in_target"}`` (layer names): ``reinitialized``
    are the layers whose weights depend on the class count (their shapes differ exactly where the two models'
    class counts do), which keep ``target``'s initialisation; ``not_in_source`` keep it too (e.g. auxiliary
    heads the source was built without). Raises ``ValueError`` naming the first layer whose shapes differ in
    any other way, before any weight is copied."""
    source_classes, target_classes = num_classes_of(source), num_classes_of(target)
    sources = dict(_weight_layers(source))
    plan = {"loaded": [], "reinitialized": [], "not_in_source": [], "not_in_target": []}
    pairs = []
    for name, layer in _weight_layers(target):
        if name not in sources:
            plan["not_in_source"].append(name)
            continue
        weights = sources.pop(name).get_weights()
        shapes = [tuple(w.shape) for w in weights]
        target_shapes = [tuple(w.shape) for w in layer.weights]
        if shapes == target_shapes:
            pairs.append((layer, weights))
            plan["loaded"].append(name)
        elif _differs_only_in_classes(shapes, target_shapes, source_classes, target_classes):
            plan["reinitialized"].append(name)
        else:
            raise ValueError(f"layer {name!r} has weight shapes {shapes} in {source.name!r}, {target_shapes} in "
                             f"{target.name!r}: the models differ in more than their class count ({source_classes} "
                             f"and {target_classes} classes)")
    plan["not_in_target"] = list(sources)
    for layer, weights in pairs:
        layer.set_weights(weights)
    return plan
