"""The image files ``predict`` is given: pairing RGB, depth and label files, reading them, intrinsics.

Paths are files or directories.  Directories are matched by file stem (``rgb/0042.jpg`` pairs with
``depth/0042.png`` and ``label/0042.png``); two single files always pair.  Image files are
``.png``, ``.jpg`` and ``.jpeg``; depth files also ``.npy`` and ``.exr`` (float metres), camera files ``.json``.
The Cityscapes suffixes (``_leftImg8bit``, ``_disparity``, ``_camera``, ``_gtFine_labelIds``) are no part of
the stem, so the official folders pair as they are (``aachen_000000_000019_leftImg8bit.png`` with
``aachen_000000_000019_disparity.png`` and ``aachen_000000_000019_camera.json``).
"""

from __future__ import annotations

import os

import cv2
import numpy as np

from rfbnet_tf.constants import IGNORE_LABEL
from rfbnet_tf.utils import checks
from rfbnet_tf.utils.files import read_image_unchanged

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
EXTENSIONS = {"rgb": IMAGE_EXTENSIONS, "label": IMAGE_EXTENSIONS, "depth": IMAGE_EXTENSIONS + (".npy", ".exr"),
              "camera": (".json",)}
"""File extensions per kind of input."""
CITYSCAPES_SUFFIXES = ("_leftImg8bit", "_disparity", "_camera", "_gtFine_labelIds")


def frame_stem(stem: str) -> str:
    """The pairing stem of a file stem: without a Cityscapes suffix."""
    for suffix in CITYSCAPES_SUFFIXES:
        if stem.endswith(suffix):
            return stem[: -len(suffix)]
    return stem


def list_images(path, extensions=IMAGE_EXTENSIONS) -> dict:
    """``{stem: path}`` of an image file or of the image files in a directory (sorted by stem).

    Raises:
      FileNotFoundError: ``path`` does not exist, or the directory holds no image file.
      ValueError: a file that is not an image, or two files of one stem in a directory.
    """
    path = os.fspath(path)
    if os.path.isfile(path):
        stem, extension = os.path.splitext(os.path.basename(path))
        if extension.lower() not in extensions:
            raise ValueError(f"{path!r} is not a {'/'.join(extensions)} file")
        return {frame_stem(stem): path}
    if not os.path.isdir(path):
        raise FileNotFoundError(f"{path!r} is neither an image file nor a directory")
    found = {}
    for name in sorted(os.listdir(path)):
        stem, extension = os.path.splitext(name)
        stem = frame_stem(stem)
        if extension.lower() not in extensions or not os.path.isfile(os.path.join(path, name)):
            continue
        if stem in found:
            raise ValueError(f"two image files with the stem {stem!r} in {path!r}: {found[stem]!r} and {name!r}")
        found[stem] = os.path.join(path, name)
    if not found:
        raise FileNotFoundError(f"no {'/'.join(extensions)} file in directory {path!r}")
    return dict(sorted(found.items()))


def pair_files(rgb, depth=None, label=None, camera=None) -> list:
    """``[(stem, {"rgb": path, "depth": path?, "label": path?, "camera": path?}), ...]`` in stem order.

    With directories every RGB stem needs a depth (and label) file of the same stem; files
    without an RGB partner are ignored.  A single RGB file pairs with single depth/label files.

    Raises:
      ValueError: a file given with a directory, or RGB stems lacking a partner (listed).
    """
    rgb_files = list_images(rgb)
    others = {key: value for key, value in (("depth", depth), ("label", label), ("camera", camera))
              if value is not None}
    single = os.path.isfile(os.fspath(rgb))
    pairs = {stem: {"rgb": path} for stem, path in rgb_files.items()}
    for key, value in others.items():
        files = list_images(value, EXTENSIONS[key])
        if single != os.path.isfile(os.fspath(value)):
            raise ValueError(
                f"--rgb and --{key} must both be files or both be directories, received {os.fspath(rgb)!r} "
                f"and {os.fspath(value)!r}"
            )
        if single:
            (only_pair,) = pairs.values()
            (only_pair[key],) = files.values()
            continue
        missing = [stem for stem in pairs if stem not in files]
        if missing:
            raise ValueError(f"no {key} file in {os.fspath(value)!r} for the RGB stem(s) {missing[:10]}"
                             + (f" and {len(missing) - 10} more" if len(missing) > 10 else ""))
        for stem in pairs:
            pairs[stem][key] = files[stem]
    return list(pairs.items())


def read_rgb(path) -> np.ndarray:
    """uint8 ``(H, W, 3)`` RGB of an 8-bit colour (or grey, replicated) image file."""
    image = read_image_unchanged(path)
    if image.dtype != np.uint8:
        raise ValueError(f"RGB image {os.fspath(path)!r} must be 8-bit, received dtype {image.dtype}")
    if image.ndim == 2:
        return np.repeat(image[..., None], 3, axis=-1)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_label(path, ignore_label: int = IGNORE_LABEL, num_classes: int | None = None) -> np.ndarray:
    """``(H, W)`` train ids of a single-channel label PNG: uint8 (ignore 255), or uint16 for a run whose ignore label
    does not fit in 8 bits (65535: more than 255 classes), as the records store them.

    Raises:
      ValueError: not such a PNG, or (given ``num_classes``) a value that is neither a class id below
        ``num_classes`` nor ``ignore_label``; the message names the file and the values.
    """
    image = read_image_unchanged(path)
    bits = 8 if ignore_label <= IGNORE_LABEL else 16
    if image.ndim != 2 or image.dtype != (np.uint8 if bits == 8 else np.uint16):
        channels = 1 if image.ndim == 2 else image.shape[2]
        raise ValueError(
            f"label {os.fspath(path)!r} must be a{'n' if bits == 8 else ''} {bits}-bit single-channel train-id PNG "
            f"(ignore label {ignore_label}), received {channels} channel(s) of dtype {image.dtype}"
        )
    if num_classes is not None:
        values = np.unique(image)
        bad = values[(values >= num_classes) & (values != ignore_label)]
        if bad.size:
            shown = ", ".join(str(v) for v in bad[:10]) + (f", ... ({bad.size} values)" if bad.size > 10 else "")
            raise ValueError(f"label {os.fspath(path)!r} holds {shown}: not a class id of this {num_classes}-class "
                             f"run (0..{num_classes - 1}) nor its ignore label {ignore_label}")
    return image


def parse_intrinsics(value) -> np.ndarray:
    """A 3×3 camera matrix from ``"fx,fy,cx,cy"``, nine comma-separated numbers (row major), or a text
    file of 9 or 16 numbers (ScanNet's 4×4 ``intrinsic_depth.txt``: its top-left 3×3)."""
    text = os.fspath(value) if isinstance(value, os.PathLike) else value
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"intrinsics must be 'fx,fy,cx,cy', 9 numbers or a file path, received {value!r}")
    if os.path.isfile(text):
        with open(text, encoding="utf-8") as handle:
            numbers_text = handle.read().replace(",", " ").split()
    else:
        numbers_text = [part for part in text.replace(",", " ").split() if part]
    try:
        values = np.array([float(v) for v in numbers_text], np.float64)
    except ValueError:
        raise ValueError(f"intrinsics must be numbers, received {value!r}") from None
    if values.size == 4:
        fx, fy, cx, cy = values
        matrix = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    elif values.size == 9:
        matrix = values.reshape(3, 3)
    elif values.size == 16:
        matrix = values.reshape(4, 4)[:3, :3]
    else:
        raise ValueError(f"intrinsics need 4, 9 or 16 numbers, received {values.size} from {value!r}")
    if not checks.is_camera_matrix(matrix):
        raise ValueError(f"intrinsics must be finite with positive focal lengths, received {matrix.tolist()}")
    return matrix
