"""Colour label maps for display (TensorBoard images, predict outputs).

The default palette is the PASCAL VOC colour map (``VOCdevkit/VOCcode/VOClabelcolormap.m``: the bits of the
class id spread over the high bits of R, G, B), 256 entries, except that the ignore label 255 is black.  A trained
run's predictions use its dataset's palette (:func:`run_palette`: Cityscapes' official colours, ScanNet's NYU40
colours, the synthetic classes' own; the ignore label black, no class black) with a legend (:func:`legend_image`).
Labels of datasets of more than 255 classes have the ignore label 65535 (NYUv2's 894 classes): every function here
takes the ignore label as ``ignore_label`` (default 255).
"""

from __future__ import annotations

import cv2
import numpy as np

from rfbnet_tf.constants import IGNORE_LABEL
from rfbnet_tf.utils import checks


def voc_colours(ids) -> np.ndarray:
    """The PASCAL VOC colours of integer ``ids`` in [0, 2^24) (any shape → shape + (3,), uint8): bit 3b, 3b + 1,
    3b + 2 of an id become bit 7 − b of R, G, B.  Distinct ids get distinct colours; only id 0 is black."""
    ids = np.asarray(ids)
    if not np.issubdtype(ids.dtype, np.integer) or np.any(ids < 0) or np.any(ids >= 1 << 24):
        raise ValueError(f"ids must be integers in [0, 2**24), received {ids!r}")
    value = ids.astype(np.int64)
    colours = np.zeros(ids.shape + (3,), np.int64)
    for bit in range(8):
        for channel in range(3):
            colours[..., channel] |= ((value >> channel) & 1) << (7 - bit)
        value = value >> 3
    return colours.astype(np.uint8)


def voc_palette(size: int = 256) -> np.ndarray:
    """The PASCAL VOC colour map, ``(size, 3)`` uint8; entry 255 (the ignore label) is black here."""
    size = checks.int_in("size", size, 1, 256)
    palette = voc_colours(np.arange(size))
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


def run_palette(value, ignore_label: int = IGNORE_LABEL) -> np.ndarray:
    """The ``(ignore_label + 1, 3)`` uint8 palette of a run's ``palette`` entry (``run_info.json``; ``(256, 3)`` by
    default): K class colours (entry ``ignore_label`` black) or a palette name ("voc": the ignore entry is VOC's void
    colour, since class 0 is black; only with the ignore label 255).

    Raises:
      ValueError: an unknown name, colours outside 0..255, more than ``ignore_label`` colours, or a class colour
        equal to the ignore colour.
    """
    if isinstance(value, str):
        if ignore_label != IGNORE_LABEL:
            raise ValueError(f"the named palette {value!r} has 256 entries: it needs the ignore label {IGNORE_LABEL}, "
                             f"received {ignore_label!r}")
        palette = named_palette(value).copy()
        palette[IGNORE_LABEL] = VOC_VOID
        return palette
    colours = np.asarray(value)
    if colours.ndim != 2 or colours.shape[1] != 3 or not 0 < colours.shape[0] <= ignore_label:
        raise ValueError(f"palette must be up to {ignore_label} [r, g, b] colours, received shape {colours.shape}")
    if np.any(colours < 0) or np.any(colours > 255):
        raise ValueError("palette colours must lie in 0..255")
    if np.any(np.all(colours == IGNORE_COLOUR, axis=1)):
        raise ValueError(f"palette colours must differ from the ignore label's {IGNORE_COLOUR}")
    palette = np.zeros((ignore_label + 1, 3), np.uint8)
    palette[: colours.shape[0]] = colours
    palette[ignore_label] = IGNORE_COLOUR
    return palette


def legend_image(class_names, palette, row_height: int = 20, width: int = 260,
                 ignore_label: int = IGNORE_LABEL) -> np.ndarray:
    """uint8 RGB ``(rows * row_height, width, 3)``: one row per class (swatch + "k name"), then the ignore label
    (``palette[ignore_label]``)."""
    palette = np.asarray(palette, np.uint8)
    entries = [(k, f"{k} {name}") for k, name in enumerate(class_names)] + [(ignore_label, f"{ignore_label} ignore")]
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


def colorize(label_map, palette=None, ignore_label: int = IGNORE_LABEL) -> np.ndarray:
    """Colour an integer label map ``(..., H, W)`` into uint8 RGB ``(..., H, W, 3)``.

    Args:
      label_map: integer array (numpy or anything ``np.asarray`` accepts, e.g. an eager tensor).
      palette: ``(N, 3)`` colours (0..255) indexed by label; default :func:`voc_palette` (ignore 255 → black; with
        another ``ignore_label``, :func:`voc_colours` of every label and the ignore label black).
        With a custom palette, the ignore label is black unless the palette has an entry for it.
      ignore_label: the label value of unlabelled pixels (255; 65535 for datasets of more than 255 classes).

    Raises:
      ValueError: non-integer labels, a label < 0, or a label without a colour in the palette.
    """
    labels = np.asarray(label_map)
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"label_map must hold integers, received dtype {labels.dtype}")
    if palette is None:
        colours = _DEFAULT_PALETTE
        if ignore_label != IGNORE_LABEL:
            classes = labels[(labels != ignore_label) & (labels >= 0)]
            colours = voc_colours(np.arange(max(256, int(classes.max(initial=0)) + 1)))
    else:
        colours = np.asarray(palette)
        if colours.ndim != 2 or colours.shape[1] != 3 or colours.shape[0] == 0:
            raise ValueError(f"palette must have shape (N, 3), received {colours.shape}")
        if np.any(colours < 0) or np.any(colours > 255):
            raise ValueError("palette colours must lie in 0..255")
        colours = colours.astype(np.uint8)
    size = colours.shape[0]
    bad = (labels < 0) | ((labels >= size) & (labels != ignore_label))
    if bad.any():
        raise ValueError(f"labels must lie in [0, {size}) or equal {ignore_label}, received values "
                         f"{np.unique(labels[bad])[:10].tolist()}")
    if size <= ignore_label:  # a palette without an ignore entry: the ignore label is black
        ignored = labels == ignore_label
        out = colours[np.where(ignored, 0, labels)]
        out[ignored] = 0
        return out
    return colours[labels]

