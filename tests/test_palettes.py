"""rfbnet_tf.drawing.palettes.colorize: PASCAL VOC colours, 255 -> black, custom palettes."""

import numpy as np
import pytest

from rfbnet_tf.drawing.palettes import colorize, voc_palette


def test_voc_colours_and_ignore_black():
    image = colorize(np.array([[0, 1, 2], [3, 15, 255]]))
    assert image.dtype == np.uint8 and image.shape == (2, 3, 3)
    # VOC: 1 = (128,0,0), 2 = (0,128,0), 3 = (128,128,0), 15 (person) = (192,128,128); 255 here black.
    np.testing.assert_array_equal(image[0], [[0, 0, 0], [128, 0, 0], [0, 128, 0]])
    np.testing.assert_array_equal(image[1], [[128, 128, 0], [192, 128, 128], [0, 0, 0]])
    assert voc_palette()[20].tolist() == [0, 64, 128]  # tvmonitor


def test_custom_palette():
    palette = [[10, 20, 30], [40, 50, 60]]
    image = colorize(np.array([[1, 255, 0]]), palette)
    np.testing.assert_array_equal(image[0], [[40, 50, 60], [0, 0, 0], [10, 20, 30]])


@pytest.mark.parametrize(
    "labels, palette, match",
    [
        (np.array([[2]]), [[0, 0, 0], [1, 1, 1]], r"\[2\]"),
        (np.array([[-1]]), None, r"\[-1\]"),
        (np.array([[0.5]]), None, "float"),
        (np.array([[0]]), [[0, 0]], r"\(1, 2\)"),
    ],
)
def test_rejects_bad_input(labels, palette, match):
    with pytest.raises(ValueError, match=match):
        colorize(labels, palette)
