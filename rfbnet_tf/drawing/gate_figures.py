"""Figures of RFBNet's gate maps (paper Sec. III-C): where each residual fusion block trusts depth over RGB.

Every RFB has four one-channel gates in [0, 1] at the depth stream's resolution, ``[G_Rin, G_Din, G_Rout, G_Dout]``
(:data:`GATE_NAMES`). A block's figure (:func:`block_figure`) shows, under a title naming the block, the RGB image
and each gate upsampled to it (bilinear, half-pixel centres: ``cv2.resize``'s ``INTER_LINEAR``) and drawn over it in
the colour map :func:`gate_colours` (viridis, :data:`GATE_ALPHA` opaque), a label above each panel, and a colour bar
0 → 1 at the right: in one row (:data:`ROW`; :func:`gate_figure` stacks the rows of every block, ``predict --gates``)
or, without the RGB panel, in two (:data:`GRID`: TensorBoard's image of each block, ``rfbnet_tf.training.summaries``).
Panels are the frame scaled to between :data:`MIN_PANEL_WIDTH` and :data:`MAX_PANEL_WIDTH` pixels wide;
:func:`block_layout` gives where each panel lies.
"""

from __future__ import annotations

import cv2
import numpy as np

GATE_NAMES = ("G_Rin", "G_Din", "G_Rout", "G_Dout")
"""The gate channels of a block's gate map, in order."""
GATE_ALPHA = 0.6
"""Opacity of the gate colours over the RGB image."""
MIN_PANEL_WIDTH, MAX_PANEL_WIDTH = 96, 320
TITLE_HEIGHT, LABEL_HEIGHT, GAP, BAR_WIDTH = 22, 18, 4, 48
_FONT, _WHITE, _BLACK = cv2.FONT_HERSHEY_SIMPLEX, 255, (0, 0, 0)


def gate_colours(values) -> np.ndarray:
    """uint8 RGB ``values.shape + (3,)``: the viridis colours of gate values in [0, 1] (clipped; 256 levels)."""
    levels = np.rint(np.clip(np.asarray(values, np.float32), 0.0, 1.0) * 255).astype(np.uint8)
    bgr = cv2.applyColorMap(levels.reshape(-1, 1), cv2.COLORMAP_VIRIDIS)
    return bgr[:, 0, ::-1].reshape(levels.shape + (3,))


def upsample(maps, size) -> np.ndarray:
    """float32 ``(H, W, C)``: the maps ``(h, w, C)`` resized bilinearly to ``size = (H, W)``."""
    maps = np.asarray(maps, np.float32)
    out = cv2.resize(maps, (int(size[1]), int(size[0])), interpolation=cv2.INTER_LINEAR)
    return out.reshape(int(size[0]), int(size[1]), maps.shape[-1])


def panel_size(image_size) -> tuple:
    """``(height, width)`` of a panel showing a frame of ``image_size``."""
    height, width = int(image_size[0]), int(image_size[1])
    scale = min(max(width, MIN_PANEL_WIDTH), MAX_PANEL_WIDTH) / width
    return max(1, round(height * scale)), max(1, round(width * scale))


ROW = (("RGB",) + GATE_NAMES, 5)
"""Panels and columns of a block's figure in ``predict --gates``: the RGB and the four gates in one row."""
GRID = (GATE_NAMES, 2)
"""Panels and columns of a block's figure in TensorBoard (a card's width): the input gates above the output gates."""


def block_layout(image_size, layout=ROW) -> dict:
    """Where a block figure's panels lie: ``{"size": (H, W) of the figure, "RGB" / "G_Rin" / ...: (top, left,
    height, width)}`` (``layout``: :data:`ROW` or :data:`GRID`)."""
    names, columns = layout
    height, width = panel_size(image_size)
    rows = -(-len(names) // columns)
    boxes = {name: (TITLE_HEIGHT + (index // columns) * (LABEL_HEIGHT + height + GAP) + LABEL_HEIGHT,
                    GAP + (index % columns) * (width + GAP), height, width) for index, name in enumerate(names)}
    boxes["size"] = (TITLE_HEIGHT + rows * (LABEL_HEIGHT + height + GAP), GAP + columns * (width + GAP) + BAR_WIDTH)
    return boxes


def _text(image, text, left, bottom, scale=0.45):
    cv2.putText(image, text, (int(left), int(bottom)), _FONT, scale, _BLACK, 1, cv2.LINE_AA)


def colour_bar(height) -> np.ndarray:
    """uint8 RGB ``(height, BAR_WIDTH, 3)``: the gate colours from 1 (top) to 0 (bottom), ticks 1, 0.5, 0."""
    bar = np.full((height, BAR_WIDTH, 3), _WHITE, np.uint8)
    bar[:, 2:16] = gate_colours(np.linspace(1.0, 0.0, height))[:, None]
    for value in (1.0, 0.5, 0.0):
        row = round((1.0 - value) * (height - 1))
        bar[row, 16:20] = 0
        _text(bar, f"{value:g}", 22, min(max(row + 4, 10), height - 1), 0.35)
    return bar


def block_figure(rgb, gates, block: str, layout=ROW) -> np.ndarray:
    """uint8 RGB figure of one block (:func:`block_layout`): its name, each panel under its label, the colour bar.

    Args:
      rgb: uint8 ``(H, W, 3)`` frame.
      gates: ``(h, w, 4)`` gate maps of the block over that frame (values in [0, 1]), any resolution.
      block: the block's name (the title).
      layout: :data:`ROW` or :data:`GRID`.
    """
    rgb = np.asarray(rgb, np.uint8)
    boxes = block_layout(rgb.shape[:2], layout)
    figure = np.full(boxes["size"] + (3,), _WHITE, np.uint8)
    height, width = panel_size(rgb.shape[:2])
    shrink = width < rgb.shape[1]
    panel_rgb = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    maps = upsample(np.clip(np.asarray(gates, np.float32), 0.0, 1.0), (height, width))
    panels = {"RGB": panel_rgb}
    for index, name in enumerate(GATE_NAMES):
        blend = (1.0 - GATE_ALPHA) * panel_rgb + GATE_ALPHA * gate_colours(maps[..., index]).astype(np.float32)
        panels[name] = np.rint(blend).astype(np.uint8)
    _text(figure, block, GAP, TITLE_HEIGHT - 6, 0.5)
    for name in layout[0]:
        top, left = boxes[name][:2]
        figure[top: top + height, left: left + width] = panels[name]
        _text(figure, name, left + 2, top - 5)
    top, bottom = TITLE_HEIGHT + LABEL_HEIGHT, boxes["size"][0] - GAP
    figure[top: bottom, -BAR_WIDTH:] = colour_bar(bottom - top)
    return figure


def gate_figure(rgb, block_gates) -> np.ndarray:
    """uint8 RGB figure of every block: the :data:`ROW` figures of ``block_gates = [(name, (h, w, 4) gates), ...]``
    one under the other (block ``i`` starts at row ``i * block_layout(...)["size"][0]``)."""
    return np.concatenate([block_figure(rgb, gates, name) for name, gates in block_gates], axis=0)
