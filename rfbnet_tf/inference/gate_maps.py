"""``predict --gates``: the gate maps of every residual fusion block of an RFBNet run on one frame.

:class:`GateMaps` runs the network on the frame exactly as ``predict`` does (the serving preprocessing,
:mod:`rfbnet_tf.inference.serving`) and returns each block's ``(h, w, 4)`` gates ``[G_Rin, G_Din, G_Rout, G_Dout]``
at the depth stream's resolution of the model input (the model's own gate outputs, ``models.gate_maps_model``);
:func:`frame_maps` aligns them with the frame for drawing (:func:`rfbnet_tf.drawing.gate_figures.gate_figure`).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from rfbnet_tf.drawing import gate_figures
from rfbnet_tf.inference import serving, serving_ops
from rfbnet_tf.models import fusion_blocks, gate_maps_model


class GateMaps:
    """``gate_maps(images) -> (model input size (H_m, W_m), [(block name, (h, w, 4) float32), ...])`` of one frame.

    Raises:
      ValueError: the run's model has no residual fusion block (only RFBNet models have gates).
    """

    def __init__(self, module: serving.ServingModule, what: str):
        blocks = fusion_blocks(module.model)
        if not blocks:
            raise ValueError(f"--gates: {what} is a {module.model.name!r} model without residual fusion blocks; gate "
                             "maps exist for RFBNet models only")
        self.spec = module.spec
        self.names = [block.name for block in blocks]
        self.model = gate_maps_model(module.model)

    def __call__(self, images: dict):
        batch = serving_ops.check_images(images, self.spec)
        inputs = serving_ops.preprocess({key: tf.constant(value) for key, value in batch.items()}, self.spec)
        maps = self.model(serving_ops.model_call_inputs(inputs, self.spec), training=False)
        size = tuple(int(n) for n in inputs[self.spec.model_inputs[0]].shape[1:3])
        return size, [(name, np.asarray(m[0], np.float32)) for name, m in zip(self.names, maps)]


def frame_maps(maps, model_size, frame_size, size_policy) -> list:
    """The gates over the frame: under ``"resize"`` the model input is the whole frame (the maps as they are); under
    ``"pad"`` it is the frame padded at the bottom and right (the maps upsampled to the padded size, then cropped)."""
    if size_policy == "resize":
        return maps
    height, width = frame_size
    return [(name, gate_figures.upsample(m, model_size)[:height, :width]) for name, m in maps]
