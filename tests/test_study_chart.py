"""Tests for rfbnet_tf.study.chart: the study report's PNG chart (numpy/cv2 only)."""

import os

import cv2
import numpy as np
import pytest

from rfbnet_tf.reproduction import chart

ROWS = [
    {"name": "high", "seeds": [78.0, 80.0, 82.0], "paper": 81.5},
    {"name": "low", "seeds": [20.0], "paper": None},
    {"name": "no-curve row", "seeds": [50.0, 55.0], "paper": 40.0},
]
CURVES = {
    "high": [[(0, 30.0), (100, 60.0), (200, 80.0)], [(0, 34.0), (100, 62.0), (200, 82.0)]],
    "low": [[(0, 5.0), (50, 12.0), (100, 20.0)]],
    "no-curve row": [],
}


def _draw(tmp_path, rows=ROWS, curves=CURVES):
    path = str(tmp_path / "sub" / "chart.png")
    chart.write_chart(path, rows, curves, title="study of Tables III and IV")
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    assert img is not None
    return path, img


def _mask(img, colour):
    return np.all(img == np.array(colour, np.uint8), axis=-1)


def _bar_top(img, index, count):
    x0, x1 = chart.bar_span(index, count)
    column = _mask(img, chart.BAR_COLOUR)[:, x0 + 1]  # near the left edge: clear of whisker and dots
    ys = np.flatnonzero(column)
    assert ys.size, f"no bar pixels for bar {index}"
    return ys.min(), ys.max()


def test_png_written_atomically_with_expected_shape(tmp_path):
    path, img = _draw(tmp_path)
    assert img.shape == (chart.HEIGHT, chart.WIDTH, 3)
    assert (chart.WIDTH, chart.HEIGHT) == (1400, 600)
    assert os.listdir(os.path.dirname(path)) == ["chart.png"]  # no temp file left behind


def test_bar_heights_follow_means(tmp_path):
    _, img = _draw(tmp_path)
    top_high, bottom_high = _bar_top(img, 0, 3)
    top_low, bottom_low = _bar_top(img, 1, 3)
    assert bottom_high == bottom_low == chart.PLOT_BOTTOM
    assert bottom_high - top_high > bottom_low - top_low
    # Expected top computed independently from the panel geometry: y axis 0..100 over PLOT_BOTTOM..PLOT_TOP.
    span = chart.PLOT_BOTTOM - chart.PLOT_TOP
    for top, mean in ((top_high, 80.0), (top_low, 20.0), (_bar_top(img, 2, 3)[0], 52.5)):
        assert abs(top - (chart.PLOT_BOTTOM - mean / 100.0 * span)) <= 2
        assert abs(top - chart.bar_top_y(mean)) <= 2
    # Bars lie inside the left panel only.
    assert not _mask(img, chart.BAR_COLOUR)[:, chart.LEFT_X1 + 10:].any()


def test_curve_colours_in_right_panel(tmp_path):
    _, img = _draw(tmp_path)
    plot = img[chart.PLOT_TOP - 5:chart.PLOT_BOTTOM + 5, chart.RIGHT_X0:chart.RIGHT_X1 + 5]
    for i in (0, 1):
        assert _mask(plot, chart.PALETTE[i]).sum() > 20, f"curve of row {i} missing"
    assert not _mask(plot, chart.PALETTE[2]).any()  # row without curves draws no line
    assert len(set(chart.PALETTE)) >= 10


def test_single_row_without_curves(tmp_path):
    _, img = _draw(tmp_path, rows=[{"name": "only", "seeds": [42.0], "paper": None}], curves={})
    top, _ = _bar_top(img, 0, 1)
    assert abs(top - chart.bar_top_y(42.0)) <= 2


@pytest.mark.parametrize("rows", [[], [{"name": "x", "seeds": [], "paper": 1.0}]])
def test_value_error(tmp_path, rows):
    with pytest.raises(ValueError):
        chart.write_chart(str(tmp_path / "c.png"), rows, {})
    assert not (tmp_path / "c.png").exists()
