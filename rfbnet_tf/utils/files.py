"""Files: atomic writes (a reader never sees a half-written file) and the one checked image decode.

* :func:`write_bytes_atomically` / :func:`write_text_atomically` / :func:`write_json_atomically`: write ``path.tmp-<pid>`` in the same
  directory, then ``os.replace`` it onto ``path`` (atomic on POSIX and Windows); on an error the temporary
  file is removed and ``path`` is left as it was.  JSON is indented by 2 with a trailing newline.
* :func:`read_image_unchanged`: ``cv2.imread(IMREAD_UNCHANGED)`` (BGR channel order, native bit depth)
  that raises ``FileNotFoundError`` naming a missing file and ``ValueError`` naming a file that does not
  decode; :func:`read_image` (the converters' source images) and ``inference.image_files`` check channels and
  dtype on top.
"""

from __future__ import annotations

import json
import os

import cv2
import numpy as np


def write_bytes_atomically(path, data: bytes) -> str:
    """Write ``data`` to ``path`` via a temporary file and ``os.replace``; returns ``path``."""
    path = os.fspath(path)
    temporary = f"{path}.tmp-{os.getpid()}"
    try:
        with open(temporary, "wb") as handle:
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
