"""Per-class loss weights for ``--class_weights``: an explicit list, or median frequency balancing.

Median frequency balancing (Eigen & Fergus, ICCV 2015, Sec. 4): ``w_c = median(f) / f_c``.  Eigen & Fergus
define ``f_c`` as the pixels of class ``c`` divided by the pixels of the images where ``c`` occurs; the records'
``dataset_info.json`` keeps only the split's class histogram, so here ``f_c`` is the class's share of all
labelled training pixels (the common approximation).  Classes absent from the training split get weight 0
(they never occur in a training label, so the weight only matters for reporting) and are left out of the
median: every weight is finite (no ``median / 0``), whatever classes the split lacks.
"""

from __future__ import annotations

import numpy as np

MEDIAN_FREQUENCY = "median_frequency"


def median_frequency_weights(histogram) -> np.ndarray:
    """``median(f) / f_c`` from a pixel histogram (K,), float32; 0 for classes with no pixels."""
    counts = np.asarray(histogram, np.float64)
    if counts.ndim != 1 or counts.size == 0 or np.any(counts < 0) or not np.all(np.isfinite(counts)):
        raise ValueError(f"histogram must be a non-empty list of pixel counts >= 0, received {histogram!r}")
    present = counts > 0
    if not present.any():
        raise ValueError("histogram has no labelled pixel: median frequency weights are undefined")
    frequency = counts / counts.sum()
    weights = np.zeros_like(frequency)
    weights[present] = np.median(frequency[present]) / frequency[present]
    return weights.astype(np.float32)


def parse_class_weights(spec, num_classes, histogram=None):
    """``None`` (no weighting), a list of ``num_classes`` non-negative numbers (or a comma string of them), or
    ``"median_frequency"`` (needs the training split's ``histogram``). Returns a float32 array or None."""
    if spec is None or (isinstance(spec, (list, tuple)) and len(spec) == 0) or spec == "":
        return None
    if isinstance(spec, str):
        if spec.strip() == MEDIAN_FREQUENCY:
            if histogram is None:
                raise ValueError("class_weights='median_frequency' needs the dataset's train class_histogram")
            if len(histogram) != num_classes:
                raise ValueError(
                    f"class histogram has {len(histogram)} entries but the dataset has {num_classes} classes"
                )
            return median_frequency_weights(histogram)
        spec = spec.split(",")
    if isinstance(spec, (list, tuple)) and len(spec) == 1 and str(spec[0]).strip() == MEDIAN_FREQUENCY:
        return parse_class_weights(MEDIAN_FREQUENCY, num_classes, histogram)
    try:
        weights = np.array([float(v) for v in spec], np.float32)
    except (TypeError, ValueError):
        raise ValueError(
            f"class_weights must be {MEDIAN_FREQUENCY!r} or a comma list of numbers, received {spec!r}"
        ) from None
    if weights.size != num_classes:
        raise ValueError(f"class_weights needs {num_classes} values (one per class), received {weights.size}: {spec!r}")
    if not np.all(np.isfinite(weights)) or np.any(weights < 0) or not np.any(weights > 0):
        raise ValueError(f"class_weights must be finite, >= 0 and not all 0, received {spec!r}")
    return weights
