"""The one progress bar of the binaries (prepare_data, evaluate, predict): one line on stderr.

``keras.utils.Progbar`` was considered and not used: it writes to stdout (where evaluate prints its
result table), not stderr, and its line (``2/2 ━━━━ 0s 10ms/step``) has no frame rate, elapsed time or
ETA in ``h:mm:ss``.  This bar draws ``label: count/total [pct] rate frames/s, elapsed mm:ss, ETA mm:ss``
at most every ``interval`` seconds, and accepts a total that grows while counting (evaluate sets
``bar.total`` as it goes when the split's size is unknown).
"""

from __future__ import annotations

import math
import sys
import time


class Progress:
    """A one-line progress bar on stderr: ``label count/total [pct] rate frames/s ETA``."""

    def __init__(self, label: str, total: int, enabled: bool = True, stream=None, interval=0.25):
        self.label, self.total, self.enabled = label, total, enabled
        self.stream = stream or sys.stderr
        self.interval, self.count, self.start, self.last = interval, 0, time.monotonic(), 0.0

    @staticmethod
    def _clock(seconds: float) -> str:
        if not math.isfinite(seconds):
            return "--:--"
        minutes, secs = divmod(int(round(seconds)), 60)
        hours, minutes = divmod(minutes, 60)
        return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.start, 1e-9)
        rate = self.count / elapsed
        eta = (self.total - self.count) / rate if rate > 0 else float("inf")
        percent = 100.0 * self.count / self.total if self.total else 100.0
        return (f"{self.label}: {self.count}/{self.total} [{percent:3.0f}%] {rate:.2f} frames/s, "
                f"elapsed {self._clock(elapsed)}, ETA {self._clock(eta)}")

    def update(self, count: int = 1):
        self.count += count
        now = time.monotonic()
        if self.enabled and (now - self.last >= self.interval or self.count == self.total):
            self.last = now
            self.stream.write("\r" + self.line())
            self.stream.flush()

    def close(self):
        if self.enabled:
            self.stream.write("\r" + self.line() + "\n")
            self.stream.flush()
