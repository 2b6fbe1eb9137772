"""Paired differences over seeds: mean, sample std, a t-based 95 % interval, sign counts and the verdict.

The study's design is paired: every row runs with the same seeds on the same data, so a claim "A beats B" is
judged on the per-seed differences ``A_k - B_k`` (their spread excludes the seed-to-seed variation that both
rows share).  With n differences the 95 % interval is ``mean ± t_{0.975, n-1} · s / sqrt(n)``.
"""

from __future__ import annotations

import math

import numpy as np

# Two-sided 95 % quantiles of Student's t, t_{0.975, df}, df = 1..30 (standard tables); larger df use the
# normal-approximation series below (error < 1e-3 for df > 30).
_T975 = (12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281, 2.2010, 2.1788,
         2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860, 2.0796, 2.0739, 2.0687, 2.0639,
         2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423)

REPRODUCED, CONTRADICTED, INCONCLUSIVE = "reproduced", "contradicted", "inconclusive"


def t_quantile_975(df: int) -> float:
    """``t_{0.975, df}`` (two-sided 95 %)."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, received {df}")
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959964
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def describe(values) -> dict:
    """``mean``, ``std`` (sample, ddof 1; 0 for one value), ``min``, ``max`` and ``n`` of ``values``."""
    values = np.asarray(values, np.float64)
    if values.size == 0:
        raise ValueError("no values to describe")
    return {"n": int(values.size), "mean": float(values.mean()),
            "std": float(values.std(ddof=1)) if values.size > 1 else 0.0,
            "min": float(values.min()), "max": float(values.max())}


def paired_difference(a, b) -> dict:
    """Statistics of ``a_k - b_k``: the differences, mean, std, 95 % interval (None with one pair) and the
    counts of positive, negative and zero differences."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError(f"paired values need two equal-length non-empty lists, received {a.shape} and {b.shape}")
    differences = a - b
    stats = describe(differences)
    n = differences.size
    interval = None
    if n > 1:
        half = t_quantile_975(n - 1) * stats["std"] / math.sqrt(n)
        interval = [stats["mean"] - half, stats["mean"] + half]
    return {"differences": differences.tolist(), "mean": stats["mean"], "std": stats["std"], "n": n,
            "ci95": interval, "positive": int((differences > 0).sum()), "negative": int((differences < 0).sum()),
            "zero": int((differences == 0).sum())}


def verdict(interval, expected_sign: int) -> str:
    """``reproduced`` when the 95 % interval lies wholly on the paper's side of 0 (``expected_sign`` +1: A > B;
    -1: A < B), ``contradicted`` when it lies wholly on the other side, otherwise (or with no interval)
    ``inconclusive``.  An interval that touches or spans 0 is never called reproduced."""
    if expected_sign not in (1, -1):
        raise ValueError(f"expected_sign must be +1 or -1, received {expected_sign!r}")
    if interval is None:
        return INCONCLUSIVE
    low, high = (expected_sign * v for v in interval)
    low, high = min(low, high), max(low, high)
    if low > 0:
        return REPRODUCED
    if high < 0:
        return CONTRADICTED
    return INCONCLUSIVE
