"""The binaries' quiet start: TensorFlow's start-up notices kept off the console.

Each TensorFlow process prints some twenty lines that say nothing about the run: the oneDNN notice, "Could not
find cuda drivers" (twice) and, on a machine without a GPU, the ``cuInit`` failure that follows it, the CPU-feature
notice, the XLA service lines, the SavedModel writer's INFO messages.  A binary (``python -m rfbnet_tf.<name>`` or
an ``rfbnet-*`` console script) hides them as it starts, before TensorFlow is imported (``rfbnet_tf/__init__``
wraps the import in :func:`quiet_start`):

* ``TF_CPP_MIN_LOG_LEVEL=2`` unless already set: TensorFlow's C++ INFO and WARNING lines (errors stay);
  child processes inherit it;
* TensorFlow's Python INFO lines (checkpoint sharding, SavedModel assets and fingerprint, renamed signature inputs):
  the logger ``tensorflow`` at WARNING, and INFO records of TensorFlow's modules that log through absl dropped
  (:class:`TensorFlowInfoFilter` on the ``absl`` logger); the binaries' own INFO lines stay;
* the notices TensorFlow writes before it reads its log level (:data:`NOTICES`): while TensorFlow is imported
  and finds its devices, the process's stderr (file descriptor 2) goes to a temporary file, and every other line
  in it is copied back to stderr afterwards (also when the import fails).

Numerics do not change (``TF_ENABLE_ONEDNN_OPTS`` is left alone).  ``RFBNET_VERBOSE_LOGS=1`` turns all of it off
(README "Binaries").
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile

from absl import logging as absl_logging

VERBOSE_ENV = "RFBNET_VERBOSE_LOGS"
"""Set to 1 to see TensorFlow's start-up notices and INFO logs again."""
LOG_LEVEL_ENV = "TF_CPP_MIN_LOG_LEVEL"
QUIET_LOG_LEVEL = "2"

NOTICES = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$"
    r"|[IW]\d{4} [^]]*\b(port|cudart_stub|cpu_feature_guard)\.cc:\d+\] "
    r"|To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags\.$")
"""Lines TensorFlow prints at import before its log level applies: oneDNN (``port.cc``), no CUDA driver
(``cudart_stub.cc``), CPU features (``cpu_feature_guard.cc`` and its second line)."""
NO_CUDA_DRIVER = re.compile(r"cudart_stub\.cc:\d+\] Could not find cuda drivers")
CUINIT_FAILURE = re.compile(r"^E\d{4} [^]]*\bcuda_platform\.cc:\d+\] failed call to cuInit")
"""Dropped only after :data:`NO_CUDA_DRIVER` (no driver: no GPU to initialise); otherwise a real error."""


def is_binary(argv=None, orig_argv=None) -> bool:
    """Whether this process runs a binary: ``python -m rfbnet_tf...`` or a console script ``rfbnet-...``."""
    argv = sys.argv if argv is None else argv
    orig_argv = getattr(sys, "orig_argv", []) if orig_argv is None else orig_argv
    if argv and os.path.basename(argv[0]).startswith("rfbnet-"):
        return True
    for index, argument in enumerate(orig_argv[1:-1], start=1):
        if argument == "-m":
            return orig_argv[index + 1].split(".")[0] == "rfbnet_tf"
        if not argument.startswith("-"):  # a script, or -c's code: no -m after it counts
            return False
    return False


def quiet() -> bool:
    """A binary, and ``RFBNET_VERBOSE_LOGS`` unset (or 0)."""
    return is_binary() and os.environ.get(VERBOSE_ENV, "0") in ("", "0")


def filter_notices(text: str) -> str:
    """``text`` without the :data:`NOTICES` lines (and a ``cuInit`` failure after "no CUDA driver")."""
    kept, no_driver = [], False
    for line in text.splitlines(keepends=True):
        stripped = line.rstrip("\r\n")
        if NOTICES.match(stripped):
            no_driver = no_driver or bool(NO_CUDA_DRIVER.search(stripped))
            continue
        if no_driver and CUINIT_FAILURE.match(stripped):
            continue
        kept.append(line)
    return "".join(kept)


class TensorFlowInfoFilter(logging.Filter):
    """Drops records below WARNING logged from TensorFlow's own files (``.../tensorflow/...``)."""

    def filter(self, record):
        return record.levelno >= logging.WARNING or f"{os.sep}tensorflow{os.sep}" not in record.pathname


def _write_fd(fd, data: bytes):
    while data:
        data = data[os.write(fd, data):]


@contextlib.contextmanager
def _stderr_filtered():
    """File descriptor 2 to a temporary file for the block; then its lines less the notices back to stderr."""
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all
        yield
        return
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
            if "tensorflow" in sys.modules:  # finding the devices prints the cuInit line
                sys.modules["tensorflow"].config.list_physical_devices()
        finally:
            if sys.stderr is not None:
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            _write_fd(2, filter_notices(capture.read().decode("utf-8", "replace")).encode("utf-8"))


@contextlib.contextmanager
def quiet_start():
    """Around the first TensorFlow import of a binary: the quiet start above; anything else: nothing."""
    if not quiet():
        yield
        return
    os.environ.setdefault(LOG_LEVEL_ENV, QUIET_LOG_LEVEL)
    logging.getLogger("tensorflow").setLevel(logging.WARNING)
    absl_logger = absl_logging.get_absl_logger()
    if not any(isinstance(f, TensorFlowInfoFilter) for f in absl_logger.filters):
        absl_logger.addFilter(TensorFlowInfoFilter())
    with _stderr_filtered():
        yield
