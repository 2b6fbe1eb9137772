"""Colour label maps for display (TensorBoard images, predict outputs).

The default palette is the PASCAL VOC colour map (``VOCdevkit/VOCcode/VOClabelcolormap.m``: the bits of the
class id spread over the high bits of R, G, B), 256 entries, except that the ignore label 255 is black.  A trained
run's predictions use its dataset's palette (:func:`run_palette`: Cityscapes' official colours, ScanNet's NYU40
colours, the synthetic classes' own; the ignore label black, no class black) with a legend (:func:`legend_image`).
"""

from __future__ import annotations

import cv2
import numpy as np

from rfbnet_tf.constants import IGNORE_LABEL


def voc_palette(size: int = 256) -> np.ndarray:
    """The PASCAL VOC colour map, ``(size, 3)`` uint8; entry 255 (the ignore label) is black here."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 1 <= size <= 256:
        raise ValueError(f"size must be an int in [1, 256], received {size!r}")
    palette = np.zeros((size, 3), np.uint8)
    for index in range(size):
        value, red, green, blue = index, 0, 0, 0
        for bit in range(8):
            red |= ((value >> 0) & 1) << (7 - bit)
            green |= ((value >> 1) & 1) << (7 - bit)
            blue |= ((value >> 2) & 1) << (7 - bit)
            value >>= 3
        palette[index] = (red, green, blue)
    if size > IGNORE_LABEL:
        palette[IGNORE_LABEL] = 0
    return palette


_DEFAULT_PALETTE = voc_palette()
PALETTES = {"voc": voc_palette}
"""Palettes by the name a run records (``palette`` of ``run_info.json``)."""


VOC_VOID = (224, 224, 192)
"""The VOC colour of its void label, used for the ignore label where class 0 is black (the VOC palette)."""
IGNORE_COLOUR = (0, 0, 0)
"""The ignore label's colour with a dataset palette (no dataset's class is black)."""


def run_palette(value) -> np.ndarray:
    """The ``(256, 3)`` uint8 palette of a run's ``palette`` entry (``run_info.json``): K class colours (entry 255,
    the ignore label, black) or a palette name ("voc": entry 255 is VOC's void colour, since class 0 is black).

    Raises:
      ValueError: an unknown name, colours outside 0..255, or a class colour equal to the ignore colour.
    """
    if isinstance(value, str):
        palette = named_palette(value).copy()
        palette[IGNORE_LABEL] = VOC_VOID
        return palette
    colours = np.asarray(value)
    if colours.ndim != 2 or colours.shape[1] != 3 or not 0 < colours.shape[0] <= IGNORE_LABEL:
        raise ValueError(f"palette must be up to {IGNORE_LABEL} [r, g, b] colours, received shape {colours.shape}")
    if np.any(colours < 0) or np.any(colours > 255):
        raise ValueError("palette colours must lie in 0..255")
    if np.any(np.all(colours == IGNORE_COLOUR, axis=1)):
        raise ValueError(f"palette colours must differ from the ignore label's {IGNORE_COLOUR}")
    palette = np.zeros((256, 3), np.uint8)
    palette[: colours.shape[0]] = colours
    palette[IGNORE_LABEL] = IGNORE_COLOUR
    return palette


def legend_image(class_names, palette, row_height: int = 20, width: int = 260) -> np.ndarray:
    """uint8 RGB ``(rows * row_height, width, 3)``: one row per class (swatch + "k name"), then the ignore label."""
    palette = np.asarray(palette, np.uint8)
    entries = [(k, f"{k} {name}") for k, name in enumerate(class_names)] + [(IGNORE_LABEL, f"{IGNORE_LABEL} ignore")]
    image = np.full((row_height * len(entries), width, 3), 255, np.uint8)
    for row, (label, text) in enumerate(entries):
        top = row * row_height
        image[top + 2: top + row_height - 2, 2: row_height * 2] = palette[label]
        cv2.putText(image, text, (row_height * 2 + 6, top + row_height - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (0, 0, 0), 1, cv2.LINE_AA)
    return image


def named_palette(name: str) -> np.ndarray:
    """The ``(256, 3)`` palette called ``name`` (one of :data:`PALETTES`)."""
    if name not in PALETTES:
        raise ValueError(f"unknown palette {name!r}; available: {sorted(PALETTES)}")
    return PALETTES[name]()


def colorize(label_map, palette=None) -> np.ndarray:
    """Colour an integer label map ``(..., H, W)`` into uint8 RGB ``(..., H, W, 3)``.

    Args:
      label_map: integer array (numpy or anything ``np.asarray`` accepts, e.g. an eager tensor).
      palette: ``(N, 3)`` colours (0..255) indexed by label; default :func:`voc_palette` (ignore 255 → black).
        With a custom palette, label 255 is black unless the palette has an entry 255.

    Raises:
      ValueError: non-integer labels, a label < 0, or a label without a colour in the palette.
    """
    labels = np.asarray(label_map)
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"label_map must hold integers, received dtype {labels.dtype}")
    if palette is None:
        colours = _DEFAULT_PALETTE
    else:
        colours = np.asarray(palette)
        if colours.ndim != 2 or colours.shape[1] != 3 or colours.shape[0] == 0:
            raise ValueError(f"palette must have shape (N, 3), received {colours.shape}")
        if np.any(colours < 0) or np.any(colours > 255):
            raise ValueError("palette colours must lie in 0..255")
        colours = colours.astype(np.uint8)
    size = colours.shape[0]
    bad = (labels < 0) | ((labels >= size) & (labels != IGNORE_LABEL))
    if bad.any():
        raise ValueError(
            f"labels must lie in [0, {size}) or equal {IGNORE_LABEL}, received values {np.unique(labels[bad])[:10].tolist()}"
        )
    if size <= IGNORE_LABEL:  # custom short palette: the ignore label is black
        colours = np.concatenate([colours, np.zeros((IGNORE_LABEL + 1 - size, 3), np.uint8)])
    return colours[labels]

