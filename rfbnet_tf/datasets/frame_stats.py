"""Per-frame sums for the normalisation statistics and the class histogram of a split (:class:`FrameStats`).

Imports no TensorFlow (it runs in the spawned workers of ``prepare``).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from rfbnet_tf.datasets import records


@dataclasses.dataclass
class FrameStats:
    """Sums for the normalisation statistics and the class histogram of some frames."""

    num_classes: int
    pixels: int = 0
    rgb_sum: np.ndarray = None
    rgb_sq: np.ndarray = None
    hha_sum: np.ndarray = None
    hha_sq: np.ndarray = None
    depth_sum: float = 0.0
    depth_sq: float = 0.0
    depth_count: int = 0
    histogram: np.ndarray = None

    def __post_init__(self):
        for key in ("rgb_sum", "rgb_sq", "hha_sum", "hha_sq"):
            if getattr(self, key) is None:
                setattr(self, key, np.zeros(3, np.float64))
        if self.histogram is None:
            self.histogram = np.zeros(self.num_classes, np.int64)

    @classmethod
    def of_frame(cls, rgb, hha, depth_m, label, num_classes):
        rgb64, hha64 = rgb.reshape(-1, 3).astype(np.float64), hha.reshape(-1, 3).astype(np.float64)
        valid_depth = depth_m[depth_m > 0].astype(np.float64)
        labels = label[label != records.ignore_label(num_classes)]
        return cls(
            num_classes, rgb64.shape[0], rgb64.sum(0), (rgb64**2).sum(0), hha64.sum(0),
            (hha64**2).sum(0), float(valid_depth.sum()), float((valid_depth**2).sum()),
            int(valid_depth.size), np.bincount(labels, minlength=num_classes).astype(np.int64),
        )

    def add(self, other: "FrameStats"):
        self.pixels += other.pixels
        self.depth_sum += other.depth_sum
        self.depth_sq += other.depth_sq
        self.depth_count += other.depth_count
        for key in ("rgb_sum", "rgb_sq", "hha_sum", "hha_sq", "histogram"):
            setattr(self, key, getattr(self, key) + getattr(other, key))

    def normalization(self) -> dict:
        def mean_std(total, squares, count):
            mean = np.asarray(total, np.float64) / max(count, 1)
            var = np.maximum(np.asarray(squares, np.float64) / max(count, 1) - mean**2, 0.0)
            return {"mean": np.atleast_1d(mean).tolist(), "std": np.atleast_1d(np.sqrt(var)).tolist()}

        return {
            "rgb": mean_std(self.rgb_sum, self.rgb_sq, self.pixels),
            "hha": mean_std(self.hha_sum, self.hha_sq, self.pixels),
            "depth": mean_std(self.depth_sum, self.depth_sq, self.depth_count),
        }
