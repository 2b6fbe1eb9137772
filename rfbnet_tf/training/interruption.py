"""SIGINT / SIGTERM during training (Ctrl-C; a cluster's pre-emption): finish the step in flight, save it, stop.

:class:`SignalCatcher` (a context manager around one training call) replaces the handlers of both signals.  Until
the loop starts (:meth:`SignalCatcher.defer`) a signal raises :class:`TrainingInterrupted` at once — nothing is
trained yet, so nothing is lost.  From then on it is only recorded: the trainer looks at :attr:`received` between
steps, saves a checkpoint at the step it reached and raises :class:`TrainingInterrupted` with that step; the run
lock is released on the way out, and the binary prints :attr:`TrainingInterrupted.message` (one line) and exits
with :attr:`TrainingInterrupted.exit_status` (130 for SIGINT, 143 for SIGTERM: 128 + the signal number, as a shell
reports a process the signal ended).  Handlers are installed only from the main thread (Python's rule); the
previous ones come back when the context ends.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class TrainingInterrupted(BaseException):
    """Training stopped by a signal (a ``BaseException``, as ``KeyboardInterrupt``: no ``except Exception`` of the
    code it passes through swallows it).  ``step`` is where the saved checkpoint is, None if training had not
    started."""

    def __init__(self, signum: int, step: int | None = None):
        self.signum, self.step = int(signum), step
        super().__init__(self.message)

    @property
    def exit_status(self) -> int:
        return 128 + self.signum

    @property
    def message(self) -> str:
        name = signal.Signals(self.signum).name
        if self.step is None:
            return f"interrupted by {name} before training started: nothing to save, rerun the same command to start"
        return f"interrupted by {name} at step {self.step}: checkpoint saved, rerun the same command to resume"


class SignalCatcher:
    """``with SignalCatcher() as signals:`` — SIGINT / SIGTERM raise :class:`TrainingInterrupted` until
    :meth:`defer`, then only set :attr:`received` (the first signal's number) for the training loop to act on."""

    def __init__(self):
        self.received = None
        self.deferring = False
        self._previous = {}

    def defer(self):
        """From now on a signal waits for the loop (see the module docstring)."""
        self.deferring = True

    def install(self):
        """(Re)install the handlers.  Call it again once a ``MultiWorkerMirroredStrategy`` is made: its coordination
        service replaces the SIGTERM handler by its own pre-emption notifier (TensorFlow's C++ ``SigtermNotifier``),
        which would swallow the signal."""
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                previous = signal.signal(signum, self._handle)
                self._previous.setdefault(signum, previous)

    def _handle(self, signum, frame):
        if self.received is None:
            self.received = signum
        if not self.deferring:
            raise TrainingInterrupted(signum)

    def __enter__(self):
        self.install()
        return self

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}


@contextlib.contextmanager
def exits_when_interrupted():
    """``with exits_when_interrupted(): train(...)`` — a binary's way out of :class:`TrainingInterrupted`: its one
    line on stderr and ``sys.exit(exit_status)``."""
    try:
        yield
    except TrainingInterrupted as interrupted:
        print(interrupted.message, file=sys.stderr, flush=True)
        sys.exit(interrupted.exit_status)
