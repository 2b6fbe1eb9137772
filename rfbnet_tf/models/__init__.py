"""Models of rfbnet_tf, each buildable by name: ``build_model(name, num_classes, **options)``."""

from rfbnet_tf.models.assembly import fusion_blocks, gate_maps_model, gate_model
from rfbnet_tf.models.rgbd_segmenter import RGBDSegmenter
from rfbnet_tf.models.imagenet_transfer import transfer_imagenet_weights
from rfbnet_tf.models.registry import MODEL_NAMES, build_model, is_multimodal, model_options
from rfbnet_tf.models.spec import ModelSpec, model_spec
from rfbnet_tf.models.weight_transfer import transfer_encoder_weights

__all__ = [
    "MODEL_NAMES", "ModelSpec", "RGBDSegmenter", "build_model", "fusion_blocks", "gate_maps_model", "gate_model", "is_multimodal", "model_options", "model_spec",
    "transfer_encoder_weights", "transfer_imagenet_weights",
]
