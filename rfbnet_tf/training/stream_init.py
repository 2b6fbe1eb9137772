"""Two-stage training (paper Sec. IV-B): ``--rgb_init`` / ``--depth_init`` initialise the encoder streams of a
model from trained unimodal models.

"We first train the unimodal models, then use the trained weights to initialize the encoders of the multimodal
models."  A source is a model_dir of a unimodal run (its latest checkpoint, else ``final.weights.h5``) or a
``.weights.h5`` file (with the ``flags.json`` of its directory when there is one; otherwise the file must hold
the unimodal model of the target's backbone for that stream, with the target's number of classes).  The
encoder layers are copied by :func:`rfbnet_tf.models.transfer_encoder_weights`; decoder layers are skipped.
"""

from __future__ import annotations

import os

from absl import logging

from rfbnet_tf import checkpoints
from rfbnet_tf.models import build_model, model_spec, transfer_encoder_weights


def load_source(path, stream, target_config):
    """The trained unimodal ``stream`` model at ``path`` (model_dir or .weights.h5), checked against the
    target run: unimodal family, same backbone, same modality.  Raises ``ValueError`` / ``FileNotFoundError``
    naming the flag (``--{stream}_init``) and the path."""
    flag = f"--{stream}_init"
    path = os.fspath(path)
    target = model_spec(target_config["model"])
    if os.path.isdir(path):
        model_dir, weights = path, None
    elif os.path.isfile(path) and path.endswith(".weights.h5"):
        model_dir, weights = os.path.dirname(path), path
    else:
        raise FileNotFoundError(f"{flag}={path!r} is neither a model_dir nor a .weights.h5 file")
    if os.path.isfile(os.path.join(model_dir, checkpoints.FLAGS_FILENAME)):
        config = checkpoints.load_run_config(model_dir)
        source = model_spec(config["model"])
        if source.multimodal:
            raise ValueError(
                f"{flag}={path!r} holds the multimodal model {config['model']!r}; it must be a unimodal model "
                f"({target.unimodal_model!r} trained on {stream!r})"
            )
        if source.backbone != target.backbone:
            raise ValueError(
                f"{flag}={path!r} holds a {source.backbone!r} model, the target "
                f"{target_config['model']!r} has backbone {target.backbone!r}"
            )
        modality = config["model_options"].get("modality", "rgb")
        if modality != stream:
            raise ValueError(f"{flag}={path!r} holds a {modality!r} model, not a {stream!r} one")
        model, _, step = checkpoints.restore_model(model_dir, weights)
        return model, f"{path} (step {step})"
    options = {"modality": stream}
    if stream == "depth":
        options["depth_channels"] = target_config["model_options"].get("depth_channels", 3)
    model = build_model(target.unimodal_model, int(target_config["num_classes"]), **options)
    try:
        model.load_weights(weights)
    except Exception as error:  # Keras raises several types for a mismatched file
        raise ValueError(
            f"{flag}={path!r} does not fit a {stream!r} {target.unimodal_model!r} model with "
            f"{target_config['num_classes']} classes ({error}); pass its model_dir instead"
        ) from error
    return model, path


def initialize_streams(model, target_config, sources: dict) -> dict:
    """Load ``sources`` (``{"rgb": path, "depth": path}``, None entries skipped) into ``model``'s encoders.

    Returns ``{stream: {"source": str, "loaded": [layer names], "skipped": [layer names]}}`` and logs it.
    """
    report = {}
    streams = model_spec(target_config["model"]).input_keys(target_config["model_options"])
    for stream, path in sources.items():
        if path in (None, ""):
            continue
        if stream not in streams:
            raise ValueError(
                f"--{stream}_init={path!r}: model {target_config['model']!r} has no {stream!r} stream "
                f"(streams: {list(streams)})"
            )
        source, description = load_source(path, stream, target_config)
        try:
            loaded, skipped = transfer_encoder_weights(source, model, stream)
        except ValueError as error:
            raise ValueError(f"--{stream}_init={path!r}: {error}") from error
        logging.info("%s encoder initialised from %s: %d layers loaded %s; %d skipped %s", stream, description,
                     len(loaded), loaded, len(skipped), skipped)
        report[stream] = {"source": description, "loaded": loaded, "skipped": skipped}
    return report
