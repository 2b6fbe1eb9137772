"""The one progress bar of the binaries (prepare_data, train, evaluate, predict): stderr, readable in a log file.

``keras.utils.Progbar`` was considered and not used: it writes to stdout (where evaluate prints its
result table), not stderr, redraws with ``\\b``/``\\r`` and colours with ANSI escapes even when the output is a
file (it treats every POSIX process as a terminal), and its line (``2/2 ━━━━ 0s 10ms/step``) has no rate,
elapsed time or ETA in ``h:mm:ss``.  This bar draws ``label: count/total [pct] rate unit/s, elapsed mm:ss, ETA
mm:ss[, name value ...]`` and accepts a total that grows while counting (evaluate sets ``bar.total`` as it goes
when the split's size is unknown).

* On a terminal the line is redrawn in place (``\\r``) at most every ``interval`` seconds.
* Anywhere else (a log file, a pipe) it prints plain lines, no ``\\r`` and no escape codes: the first count, then
  one when the count enters a new quarter of the total (so 5 for a short job) or ``plain_interval`` seconds after
  the last line, and the last line at :meth:`close`.

Values (``loss=...``) are shown with 4 significant digits.
"""

from __future__ import annotations

import math
import sys
import time


def is_terminal(stream) -> bool:
    """Whether ``stream`` is an interactive terminal (False for files, pipes, ``io.StringIO``)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False


class Progress:
    """A progress bar on stderr: ``label count/total [pct] rate unit/s, elapsed, ETA``."""

    def __init__(self, label: str, total: int, enabled: bool = True, stream=None, interval=0.25, *,
                 unit="frames", initial=0, plain_interval=60.0):
        self.label, self.total, self.enabled, self.unit = label, total, enabled, unit
        self.stream = stream or sys.stderr
        self.terminal = is_terminal(self.stream)
        self.interval, self.plain_interval = interval, plain_interval
        self.count = self.initial = initial
        self.values = {}
        self.start = time.monotonic()
        self.last = 0.0  # time of the last redraw or line
        self.shown = None  # (count, quarter) of the last plain line
        self.width = 0  # length of the last terminal line (cleared by the next)
        self.finished = False

    @staticmethod
    def _clock(seconds: float) -> str:
        if not math.isfinite(seconds):
            return "--:--"
        minutes, secs = divmod(int(round(seconds)), 60)
        hours, minutes = divmod(minutes, 60)
        return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.start, 1e-9)
        rate = (self.count - self.initial) / elapsed
        eta = (self.total - self.count) / rate if rate > 0 else float("inf")
        percent = 100.0 * self.count / self.total if self.total else 100.0
        text = (f"{self.label}: {self.count}/{self.total} [{percent:3.0f}%] {rate:.2f} {self.unit}/s, "
                f"elapsed {self._clock(elapsed)}, ETA {self._clock(eta)}")
        return text + "".join(f", {name} {value:.4g}" for name, value in self.values.items())

    def _quarter(self) -> int:
        return min(4, 4 * self.count // self.total) if self.total > 0 else 4

    def _draw(self, final=False):
        now = time.monotonic()
        if self.terminal:
            if final or now - self.last >= self.interval or self.count == self.total:
                text = self.line()
                self.stream.write("\r" + text.ljust(self.width) + ("\n" if final else ""))
                self.width = len(text)
                self.last = now
                self.stream.flush()
            return
        quarter = self._quarter()
        if self.shown is not None and self.shown[0] == self.count and final:
            return  # the last line already shows the final count
        if final or self.shown is None or quarter > self.shown[1] or now - self.last >= self.plain_interval:
            self.stream.write(self.line() + "\n")
            self.shown, self.last = (self.count, quarter), now
            self.stream.flush()

    def update(self, count: int = 1, **values):
        """Count ``count`` more (and show ``values``, e.g. ``loss=0.93``)."""
        self.set(self.count + count, **values)

    def set(self, count: int, **values):
        """The count is now ``count`` (e.g. the training step), and ``values`` shown."""
        self.count = count
        self.values.update(values)
        if self.enabled and not self.finished:
            self._draw()

    def close(self):
        """The final line (once)."""
        if self.enabled and not self.finished:
            self._draw(final=True)
        self.finished = True
