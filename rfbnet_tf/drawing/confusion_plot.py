"""The row-normalised confusion matrix as an image, drawn with numpy and OpenCV (no matplotlib).

Rows are ground truth, columns predictions (as :func:`rfbnet_tf.metrics.confusion_matrix`); each
row is divided by its pixel count, so cell ``(i, j)`` is the fraction of class-``i`` pixels
predicted as ``j`` and the diagonal is the per-class recall.  Cells are coloured linearly from
white (0) to dark blue (1) (the end points of matplotlib's "Blues" map) and, when large enough,
show the percentage; rows of classes absent from the ground truth are light grey.
"""

from __future__ import annotations

import cv2
import numpy as np

from rfbnet_tf.utils.checks import int_at_least

LOW_COLOUR = np.array([255, 255, 255], np.float64)  # RGB at 0
HIGH_COLOUR = np.array([8, 48, 107], np.float64)  # RGB at 1 (matplotlib "Blues" end)
EMPTY_ROW_COLOUR = (220, 220, 220)
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_FONT_SCALE = 0.4
_MARGIN = 8


def row_normalize(confusion) -> np.ndarray:
    """float64 ``(K, K)``: each row divided by its sum; rows summing to 0 stay 0."""
    confusion = np.asarray(confusion, np.float64)
    if confusion.ndim != 2 or confusion.shape[0] != confusion.shape[1] or confusion.shape[0] == 0:
        raise ValueError(f"confusion must be a square (K, K) matrix, received shape {confusion.shape}")
    if not np.all(np.isfinite(confusion)) or np.any(confusion < 0):
        raise ValueError("confusion must hold finite non-negative counts")
    totals = confusion.sum(axis=1, keepdims=True)
    return np.divide(confusion, totals, out=np.zeros_like(confusion), where=totals > 0)


def cell_colour(value) -> np.ndarray:
    """uint8 RGB of a normalised value in [0, 1] (array-friendly: ``(..., 3)``)."""
    value = np.clip(np.asarray(value, np.float64), 0.0, 1.0)[..., None]
    return np.rint(LOW_COLOUR + (HIGH_COLOUR - LOW_COLOUR) * value).astype(np.uint8)


def _text_size(text):
    (width, height), baseline = cv2.getTextSize(text, _FONT, _FONT_SCALE, 1)
    return width, height + baseline


def _put_text(image, text, x, y, colour):
    """Text with its top-left corner at (x, y)."""
    _, height = _text_size(text)
    cv2.putText(image, text, (int(x), int(y + height - 3)), _FONT, _FONT_SCALE, colour, 1, cv2.LINE_AA)


def default_cell(num_classes: int) -> int:
    """Cell side of :func:`render_confusion` for ``num_classes`` classes: 32 up to 64 classes, then smaller, so that
    the matrix stays near 2048 pixels (4 at least: NYUv2's 894 classes give a 3576-pixel matrix)."""
    return 32 if num_classes <= 64 else max(4, 2048 // num_classes)


def render_confusion(confusion, class_names, cell: int | None = None) -> tuple[np.ndarray, tuple[int, int]]:
    """Draw the row-normalised confusion matrix.

    Args:
      confusion: ``(K, K)`` counts, rows = ground truth.
      class_names: K names (row labels on the left, column labels rotated on top; left out when a cell is lower
        than a line of text).
      cell: cell side in pixels (percentages are written when ``cell >= 24``); None = :func:`default_cell`.

    Returns:
      ``(image, origin)``: uint8 RGB image and the ``(y, x)`` pixel of the matrix's top-left
      corner; cell ``(i, j)`` covers rows ``y + i*cell .. y + (i+1)*cell - 1`` and columns
      ``x + j*cell ..``.
    """
    normalized = row_normalize(confusion)
    k = normalized.shape[0]
    names = [str(name) for name in class_names]
    if len(names) != k:
        raise ValueError(f"need {k} class names for a {k}x{k} confusion matrix, received {len(names)}: {names}")
    cell = default_cell(k) if cell is None else cell
    int_at_least("cell", cell, 4)
    empty_rows = np.asarray(confusion, np.float64).sum(axis=1) == 0

    line = _text_size("Ag")[1]
    if cell < line:  # names would overlap
        names = [""] * k
    name_width = max(_text_size(name)[0] for name in names)
    left = _MARGIN + line + _MARGIN + name_width + _MARGIN  # "ground truth" (rotated), names
    top = _MARGIN + line + _MARGIN + name_width + _MARGIN  # "prediction", rotated names
    height = top + k * cell + _MARGIN
    width = left + k * cell + _MARGIN
    image = np.full((height, width, 3), 255, np.uint8)

    colours = np.where(empty_rows[:, None, None], np.array(EMPTY_ROW_COLOUR, np.uint8), cell_colour(normalized))
    image[top: top + k * cell, left: left + k * cell] = np.repeat(np.repeat(colours, cell, axis=0), cell, axis=1)
    if cell >= 24:  # the percentages
        for i in np.flatnonzero(~empty_rows):
            for j in range(k):
                y, x = top + i * cell, left + j * cell
                text = f"{100.0 * normalized[i, j]:.0f}"
                text_w, text_h = _text_size(text)
                ink = (255, 255, 255) if normalized[i, j] > 0.5 else (0, 0, 0)
                _put_text(image, text, x + (cell - text_w) / 2, y + (cell - text_h) / 2, ink)

    black = (0, 0, 0)
    for i, name in enumerate(names):  # row names, right-aligned next to the matrix
        text_w, text_h = _text_size(name)
        _put_text(image, name, left - _MARGIN - text_w, top + i * cell + (cell - text_h) / 2, black)
    # Column names and the "ground truth" axis title are drawn on a transposed canvas and rotated
    # back (reading bottom-to-top).
    rotated = np.ascontiguousarray(np.rot90(image, k=-1))  # (width, height): image column x → row x
    for j, name in enumerate(names):
        text_w, text_h = _text_size(name)
        x_img = left + j * cell + (cell - text_h) / 2  # image x of the text line
        # In the rotated canvas the text runs along image y (upwards once rotated back).
        _put_text(rotated, name, height - top + _MARGIN, x_img, black)
    title_w, _ = _text_size("ground truth")
    _put_text(rotated, "ground truth", height - top - (k * cell + title_w) / 2, _MARGIN, black)
    image = np.ascontiguousarray(np.rot90(rotated, k=1))
    title_w, _ = _text_size("prediction")
    _put_text(image, "prediction", left + (k * cell - title_w) / 2, _MARGIN, black)
    return image, (top, left)
