"""Files: atomic writes (a reader never sees a half-written file) and the one checked image decode.

* :func:`write_bytes_atomically` / :func:`write_text_atomically` / :func:`write_json_atomically`: write ``path.tmp-<pid>`` in the same
  directory, then ``os.replace`` it onto ``path`` (atomic on POSIX and Windows); on an error the temporary
  file is removed and ``path`` is left as it was.  JSON is indented by 2 with a trailing newline.
  A write that fails for a reason of the disk (full, quota, read-only, no permission) raises
  :class:`WriteError` naming the file (one line, exit 1 in the binaries); :func:`naming_failed_writes` does the
  same around other writers (TensorFlow checkpoints and SavedModels, Keras files).
* :func:`check_writable_directory`: before any slow work, a binary checks that it can create files where it
  will write (a probe file created and removed, then ``os.access``: root passes permission bits, not a read-only
  file system) and names the directory and the flag that moves it.
* :func:`read_json`: ``json.load`` that names an empty / truncated / damaged file and says what to do.
* :func:`read_image_unchanged`: ``cv2.imread(IMREAD_UNCHANGED)`` (BGR channel order, native bit depth)
  that raises ``FileNotFoundError`` naming a missing file and ``ValueError`` naming a file that does not
  decode; :func:`read_image` (the converters' source images) and ``inference.image_files`` check channels and
  dtype on top.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile

import cv2
import numpy as np

DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM)
"""Errors of a write the user fixes (free space, another directory, permissions), not bugs."""


class WriteError(OSError):
    """A write that failed for a reason of the disk (:data:`DISK_ERRNOS`); the message names the file."""


def disk_error_reason(error: BaseException) -> str | None:
    """The ``strerror`` of :data:`DISK_ERRNOS` that ``error`` reports (an ``OSError``'s errno, or the text of a
    TensorFlow / h5py error that carries only a message), None for any other error."""
    if isinstance(error, OSError) and error.errno in DISK_ERRNOS:
        return error.strerror or os.strerror(error.errno)
    text = str(error)
    return next((os.strerror(code) for code in DISK_ERRNOS if os.strerror(code) in text), None)


@contextlib.contextmanager
def naming_failed_writes(path, kept: str = "the previous file is kept"):
    """``with naming_failed_writes(path): <write path>``: a disk error inside (:func:`disk_error_reason`) becomes
    ``WriteError("could not write '<path>' (No space left on device): <kept>")``; other errors pass unchanged."""
    try:
        yield
    except WriteError:
        raise
    except Exception as error:  # noqa: BLE001 - re-raised unless it is a disk error
        reason = disk_error_reason(error)
        if reason is None:
            raise
        failed = WriteError(f"could not write {os.fspath(path)!r} ({reason}): {kept}")
        failed.errno = getattr(error, "errno", None)
        raise failed from None


def check_writable_directory(directory, flag: str, value=None) -> str:
    """The absolute ``directory`` if files can be created in it — or, when it does not exist yet, in the nearest
    existing directory above it, where it will be made.  ``flag`` (with its ``value``, default ``directory``) is
    what moves the writes elsewhere; the errors name it:

    Raises:
      NotADirectoryError: a component of the path is a file.
      PermissionError: the directory is read-only, not writable or full of inodes (the probe file fails).
    """
    directory = os.path.abspath(os.fspath(directory))
    value = directory if value is None else os.fspath(value)
    existing = directory
    while not os.path.exists(existing) and os.path.dirname(existing) != existing:
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise NotADirectoryError(f"{flag}={value!r} cannot be created: {existing!r} is a file, not a directory")
    try:
        handle, probe = tempfile.mkstemp(prefix=f".tmp-{os.getpid()}-write-probe-", dir=existing)  # the real error
        os.close(handle)
        os.remove(probe)
        if not os.access(existing, os.W_OK | os.X_OK):  # the probe passed; access() may still refuse (ACLs)
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
    except OSError as error:
        where = "" if existing == directory else f"{existing!r}: "
        raise PermissionError(f"cannot write to {directory!r} ({where}{error.strerror or error}): pass "
                              f"{flag}=DIR to write elsewhere") from None
    return directory


def read_json(path, remedy: str):
    """The JSON content of the file at ``path``; ``ValueError("'<path>' is damaged (empty): <remedy>")`` for an
    empty, truncated or otherwise unreadable file (``json``'s own message names no file)."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        what = "empty" if os.path.getsize(path) == 0 else f"not valid JSON: {error}"
        raise ValueError(f"{path!r} is damaged ({what}): {remedy}") from None


def write_bytes_atomically(path, data: bytes) -> str:
    """Write ``data`` to ``path`` via a temporary file and ``os.replace``; returns ``path``.  A disk error (full,
    read-only) raises :class:`WriteError` naming ``path``, which keeps its previous content."""
    path = os.fspath(path)
    temporary = f"{path}.tmp-{os.getpid()}"
    try:
        with naming_failed_writes(path), open(temporary, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return path


def write_text_atomically(path, text: str) -> str:
    """Write ``text`` (UTF-8) to ``path`` via a temporary file and ``os.replace``; returns ``path``."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, received {type(text).__name__}")
    return write_bytes_atomically(path, text.encode("utf-8"))


def write_json_atomically(path, content, *, sort_keys: bool = True, default=None) -> str:
    """Write ``content`` as JSON (indent 2, trailing newline) to ``path`` atomically; returns ``path``.

    ``default`` converts values ``json`` cannot (as :func:`json.dumps`); the text is built before the
    temporary file is opened, so an unserialisable value leaves no file behind.
    """
    text = json.dumps(content, indent=2, sort_keys=sort_keys, default=default) + "\n"
    return write_text_atomically(path, text)


def read_image_unchanged(path) -> np.ndarray:
    """The image file at ``path`` as ``cv2.imread(..., IMREAD_UNCHANGED)`` decodes it (BGR order).

    Raises:
      FileNotFoundError: no file at ``path``.
      ValueError: the bytes do not decode as an image.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"missing image file {path!r}")
    image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError(f"could not decode image {path!r} (corrupt or not an image)")
    return image


def read_image(path: str, *, channels: int, dtype) -> np.ndarray:
    """Read a source PNG/JPEG as ``dtype`` with ``channels`` channels (3 → RGB order).

    Raises ``FileNotFoundError`` naming a missing file and ``ValueError`` naming a file whose
    bytes do not decode or whose channel count / bit depth is not the expected one.
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    image = read_image_unchanged(path)
    found = 1 if image.ndim == 2 else image.shape[2]
    if found != channels:
        raise ValueError(f"image {path!r} has {found} channels, expected {channels}")
    if image.dtype != np.dtype(dtype):
        raise ValueError(f"image {path!r} has dtype {image.dtype}, expected {np.dtype(dtype).name}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if channels == 3 else image
