"""Draw the study report's chart (issue "study of Tables III and IV") with numpy/cv2 only.

Left panel: one bar per configuration (mean val mIoU over seeds) with a min-max
whisker, one dot per seed and a black diamond/tick at the paper's value.
Right panel: mean-over-seeds val mIoU vs training step, one coloured line per row.
"""

import os
import tempfile

import cv2
import numpy as np

WIDTH, HEIGHT = 1400, 600
PLOT_TOP, PLOT_BOTTOM = 100, 500         # pixel rows of the plot areas (both panels)
LEFT_X0, LEFT_X1 = 60, 680               # left panel plot area: y axis 0..100
RIGHT_X0, RIGHT_X1 = 770, 1200           # right panel plot area; its legend lies right of RIGHT_X1
BAR_COLOUR = (200, 150, 90)              # BGR steel blue, bar fill
DOT_COLOUR = (20, 110, 240)              # BGR orange, seed dots
GRID_COLOUR = (225, 225, 225)
BLACK, WHITE = (0, 0, 0), (255, 255, 255)
FONT = cv2.FONT_HERSHEY_SIMPLEX
PALETTE = [(180, 119, 31), (14, 127, 255), (44, 160, 44), (40, 39, 214), (189, 103, 148),
           (75, 86, 140), (194, 119, 227), (127, 127, 127), (34, 189, 188), (207, 190, 23),
           (0, 0, 128), (128, 128, 0)]  # BGR, tab10 plus two


def bar_top_y(value):
    """Pixel row of the top of a bar whose value is `value` percent (clipped to 0..100)."""
    v = min(max(float(value), 0.0), 100.0)
    return int(round(PLOT_BOTTOM - v / 100.0 * (PLOT_BOTTOM - PLOT_TOP)))


def bar_span(index, count):
    """(x_left, x_right) pixel columns, inclusive, of bar `index` among `count` bars."""
    slot = (LEFT_X1 - LEFT_X0) / count
    half = max(2, int(min(20, slot * 0.25)))
    centre = int(round(LEFT_X0 + slot * (index + 0.5)))
    return centre - half, centre + half


def _text(img, s, x, y, scale=0.4, colour=BLACK, align="left"):
    (w, h), _ = cv2.getTextSize(s, FONT, scale, 1)
    x = {"left": x, "centre": x - w // 2, "right": x - w}[align]
    cv2.putText(img, s, (int(x), int(y)), FONT, scale, colour, 1, cv2.LINE_AA)
    return w


def _fit(s, max_w, scale=0.4):
    while len(s) > 1 and cv2.getTextSize(s, FONT, scale, 1)[0][0] > max_w:
        s = s[:-3] + ".." if len(s) > 3 else s[:-1]
    return s


def _diamond(img, x, y, r):
    pts = [(x - r, y), (x, y - r), (x + r, y), (x, y + r)]
    for a, b in zip(pts, pts[1:] + pts[:1]):
        cv2.line(img, a, b, BLACK, 1, cv2.LINE_AA)
    cv2.line(img, (x - r - 2, y), (x + r + 2, y), BLACK, 1)


def _y_axis(img, x0, x1, lo, hi, step=10):
    def to_y(v):
        return int(round(PLOT_BOTTOM - (v - lo) / (hi - lo) * (PLOT_BOTTOM - PLOT_TOP)))
    for v in range(int(lo), int(hi) + 1, step):
        cv2.line(img, (x0, to_y(v)), (x1, to_y(v)), GRID_COLOUR, 1)
        _text(img, str(v), x0 - 6, to_y(v) + 4, 0.4, BLACK, "right")
    cv2.line(img, (x0, PLOT_TOP), (x0, PLOT_BOTTOM), BLACK, 1)
    cv2.line(img, (x0, PLOT_BOTTOM), (x1, PLOT_BOTTOM), BLACK, 1)
    return to_y


def _mean_curve(seed_curves):
    seed_curves = [c for c in seed_curves if c]
    if not seed_curves:
        return []
    common = sorted(set.intersection(*[{int(s) for s, _ in c} for c in seed_curves]))
    maps = [{int(s): float(v) for s, v in c} for c in seed_curves]
    return [(s, float(np.mean([m[s] for m in maps]))) for s in common]


def _left_panel(img, rows):
    n = len(rows)
    _text(img, "val mIoU (%) per configuration", LEFT_X0, 55, 0.55)
    x = LEFT_X0 + _text(img, "bar = mean over seeds, dots = seeds, whisker = min-max, ", LEFT_X0, 78)
    _diamond(img, x + 8, 74, 4)
    _text(img, " = paper", x + 14, 78)
    _y_axis(img, LEFT_X0, LEFT_X1, 0, 100)
    slot = (LEFT_X1 - LEFT_X0) / n
    names = [str(r["name"]) for r in rows]
    crowded = any(cv2.getTextSize(s, FONT, 0.35, 1)[0][0] > slot - 4 for s in names)
    for i, row in enumerate(rows):
        seeds = [float(s) for s in row["seeds"]]
        x0, x1 = bar_span(i, n)
        xc = (x0 + x1) // 2
        cv2.rectangle(img, (x0, bar_top_y(np.mean(seeds))), (x1, PLOT_BOTTOM), BAR_COLOUR, -1)
        lo_y, hi_y = bar_top_y(min(seeds)), bar_top_y(max(seeds))
        cap = max(1, (x1 - x0) // 4)
        cv2.line(img, (xc, lo_y), (xc, hi_y), BLACK, 1)
        for y in (lo_y, hi_y):
            cv2.line(img, (xc - cap, y), (xc + cap, y), BLACK, 1)
        for s in seeds:
            cv2.circle(img, (xc, bar_top_y(s)), 3, DOT_COLOUR, -1)
        if row.get("paper") is not None:
            _diamond(img, x1 + 7, bar_top_y(row["paper"]), 4)
        top = min(hi_y, bar_top_y(row["paper"]) if row.get("paper") is not None else hi_y)
        _text(img, f"{np.mean(seeds):.1f}", xc, top - 6, 0.36, BLACK, "centre")
        label = _fit(names[i], (2 * slot if crowded else slot) - 4, 0.35)
        _text(img, label, xc, PLOT_BOTTOM + 16 + (18 if crowded and i % 2 else 0), 0.35, BLACK, "centre")


def _right_panel(img, rows, curves):
    _text(img, "val mIoU vs step", RIGHT_X0, 55, 0.55)
    means = [(i, r["name"], _mean_curve(curves.get(r["name"], []))) for i, r in enumerate(rows)]
    means = [m for m in means if m[2]]
    values = [v for _, _, c in means for _, v in c]
    lo = 10 * np.floor(min(values) / 10) if values else 0
    hi = 10 * np.ceil(max(values) / 10) if values else 100
    hi = hi if hi > lo else lo + 10
    x_max = max([c[-1][0] for _, _, c in means] + [1])
    to_y = _y_axis(img, RIGHT_X0, RIGHT_X1, lo, hi)

    def to_x(step):
        return int(round(RIGHT_X0 + step / x_max * (RIGHT_X1 - RIGHT_X0)))
    for k in range(5):
        step = int(round(x_max * k / 4))
        cv2.line(img, (to_x(step), PLOT_BOTTOM), (to_x(step), PLOT_BOTTOM + 4), BLACK, 1)
        _text(img, str(step), to_x(step), PLOT_BOTTOM + 18, 0.4, BLACK, "centre")
    _text(img, "step", (RIGHT_X0 + RIGHT_X1) // 2, PLOT_BOTTOM + 40, 0.45, BLACK, "centre")
    if not means:
        _text(img, "no curves", (RIGHT_X0 + RIGHT_X1) // 2, (PLOT_TOP + PLOT_BOTTOM) // 2, 0.6,
              (128, 128, 128), "centre")
    for k, (i, name, curve) in enumerate(means):
        colour = PALETTE[i % len(PALETTE)]
        pts = [(to_x(s), to_y(v)) for s, v in curve]
        for a, b in zip(pts, pts[1:]):
            cv2.line(img, a, b, colour, 2, cv2.LINE_AA)
        for p in pts:
            cv2.circle(img, p, 3, colour, -1)
        y = PLOT_TOP + 8 + 18 * k
        cv2.rectangle(img, (RIGHT_X1 + 12, y - 5), (RIGHT_X1 + 30, y + 5), colour, -1)
        _text(img, _fit(str(name), WIDTH - RIGHT_X1 - 42), RIGHT_X1 + 36, y + 5)


def write_chart(path, rows, curves, title=""):
    """Write the two-panel study chart for `rows` and `curves` as a PNG at `path` (atomically)."""
    if not rows:
        raise ValueError("write_chart: no rows to draw")
    for row in rows:
        if not row.get("seeds"):
            raise ValueError(f"write_chart: row {row.get('name')!r} has no seeds")
    img = np.full((HEIGHT, WIDTH, 3), 255, np.uint8)
    if title:
        _text(img, _fit(title, WIDTH - 40, 0.8), WIDTH // 2, 30, 0.8, BLACK, "centre")
    _left_panel(img, rows)
    _right_panel(img, rows, curves or {})
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".png", dir=directory)
    os.close(fd)
    try:
        if not cv2.imwrite(tmp, img):
            raise OSError(f"write_chart: cv2.imwrite failed for {path}")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
