"""Your own RGB-D data: a folder of image files and one ``dataset.json`` (``prepare_data --dataset=folder``).

Layout (``input_dir``)::

    DIR/dataset.json
    DIR/<split>/rgb/<stem>.png | .jpg        8-bit RGB
    DIR/<split>/depth/<stem>.png | .npy      16-bit PNG in depth units, or float32 .npy in metres; 0 or NaN = missing
    DIR/<split>/label/<stem>.png             8- or 16-bit raw ids (absent for an unlabelled split)
    DIR/<split>/intrinsics/<stem>.json       optional, per frame: {"fx", "fy", "cx", "cy"}

``dataset.json``::

    {"classes": [{"name": "floor", "id": 10, "color": [128, 64, 128]}, ...],
     "ignore_ids": [0],
     "depth_scale": 0.001,
     "intrinsics": {"fx": ..., "fy": ..., "cx": ..., "cy": ...},
     "max_depth": 10.0}

* ``depth_scale``: metres per unit of the depth PNGs (0.001 = millimetres); ``.npy`` depth is in metres already.
  16-bit value 65535 (a saturated sensor reading) counts as missing, like 0.
* ``intrinsics``: of the depth image, for every frame without a file of its own; principal point 0-based, pixel
  centres.  Optional when every frame has its own file.
* ``color`` (default: the VOC colour of train id + 1, as NYUv2's palette, so that no class is drawn black like
  void) and ``max_depth`` (metres, default 10) are optional.
* Raw label ids map to train ids 0..K−1 in the order of ``classes``; ids in ``ignore_ids`` become the ignore label;
  any other id is an error naming the file and the ids.

Splits are the sub-folders that hold ``rgb/`` (any name). Frames are matched by stem across ``rgb``, ``depth`` and
``label``: a split whose stems differ is refused, naming the first unmatched stems per folder.  Depth of another
size than its RGB image is resized to it (nearest) with the intrinsics scaled, as ``predict --resize_depth``
does; labels must have the RGB size.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os

import numpy as np

from rfbnet_tf.drawing import palettes
from rfbnet_tf.datasets import frame_resizing, records, sources
from rfbnet_tf.preprocessing import depth_plausibility
from rfbnet_tf.utils.files import read_image, read_image_unchanged
from rfbnet_tf.utils import checks

NAME = "folder"
DESCRIPTION_FILENAME = "dataset.json"
DEFAULT_MAX_DEPTH_M = 10.0
RGB_EXTENSIONS = (".png", ".jpg", ".jpeg")
DEPTH_EXTENSIONS = (".png", ".npy")
FOLDERS = {"rgb": RGB_EXTENSIONS, "depth": DEPTH_EXTENSIONS, "label": (".png",)}
_KEYS = {"classes": True, "ignore_ids": True, "depth_scale": True, "intrinsics": False, "max_depth": False}
"""Keys of dataset.json: required (True) or optional."""
_SHOWN = 5
"""Unmatched stems listed per folder."""


@dataclasses.dataclass(frozen=True)
class Description:
    """The checked content of ``dataset.json``."""

    path: str
    class_names: tuple
    class_ids: tuple
    colours: tuple
    ignore_ids: tuple
    depth_scale: float
    intrinsics: tuple | None
    """``(fx, fy, cx, cy)`` or None."""
    max_depth: float

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def _number(path, key, value, *, positive=False):
    if not checks.is_real(value) or not math.isfinite(value) or (
            positive and value <= 0):
        kind = "a finite number > 0" if positive else "a finite number"
        raise ValueError(f"{path}: {key} must be {kind}, got {value!r}")
    return float(value)


def _integer(path, key, value, upper=65535):
    if not checks.is_int(value) or not 0 <= value <= upper:
        raise ValueError(f"{path}: {key} must be an integer in 0..{upper}, got {value!r}")
    return value


def read_intrinsics(path, value, key="intrinsics") -> tuple:
    """``(fx, fy, cx, cy)`` from ``{"fx", "fy", "cx", "cy"}`` (fx, fy > 0), errors naming ``path`` and ``key``."""
    if not isinstance(value, dict) or set(value) != {"fx", "fy", "cx", "cy"}:
        found = sorted(value) if isinstance(value, dict) else value
        raise ValueError(f"{path}: {key} must be an object with exactly fx, fy, cx, cy, got {found!r}")
    return tuple(_number(path, f"{key}.{k}", value[k], positive=k in ("fx", "fy")) for k in ("fx", "fy", "cx", "cy"))


def _read_json(path):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: missing")
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None


def read_description(path) -> Description:
    """Read and check ``dataset.json`` (every error names the file and the key)."""
    path = os.fspath(path)
    content = _read_json(path)
    if not isinstance(content, dict):
        raise ValueError(f"{path}: must hold a JSON object, got {type(content).__name__}")
    missing = [key for key, required in _KEYS.items() if required and key not in content]
    if missing:
        raise ValueError(f"{path}: missing key {missing[0]!r} (required: {[k for k, r in _KEYS.items() if r]})")
    unknown = sorted(set(content) - set(_KEYS))
    if unknown:
        raise ValueError(f"{path}: unknown key {unknown[0]!r} (known: {sorted(_KEYS)})")
    ignore_ids = content["ignore_ids"]
    if not isinstance(ignore_ids, list):
        raise ValueError(f"{path}: ignore_ids must be a list of integers, got {ignore_ids!r}")
    ignore_ids = tuple(_integer(path, "ignore_ids[]", v) for v in ignore_ids)
    classes = content["classes"]
    if not isinstance(classes, list) or not classes:
        raise ValueError(f"{path}: classes must be a non-empty list of {{\"name\", \"id\"[, \"color\"]}} "
                         f"(label the frames first, then list their classes), got {classes!r}")
    names, ids, colours = [], [], []
    for index, entry in enumerate(classes):
        key = f"classes[{index}]"
        if not isinstance(entry, dict) or not {"name", "id"} <= set(entry) or set(entry) - {"name", "id", "color"}:
            raise ValueError(f"{path}: {key} must be {{\"name\", \"id\"[, \"color\"]}}, got {entry!r}")
        name = entry["name"]
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"{path}: {key}.name must be a non-empty string, got {name!r}")
        if name in names:
            raise ValueError(f"{path}: {key}.name {name!r} is listed twice")
        class_id = _integer(path, f"{key}.id", entry["id"])
        if class_id in ids or class_id in ignore_ids:
            where = "in ignore_ids" if class_id in ignore_ids else "listed twice"
            raise ValueError(f"{path}: {key}.id {class_id} is {where}")
        colour = entry.get("color")
        if colour is None:
            colour = tuple(int(v) for v in palettes.voc_colours(np.array([index + 1]))[0])  # never black
        elif (not isinstance(colour, list) or len(colour) != 3
              or not all(checks.is_int(v) and 0 <= v <= 255 for v in colour)):
            raise ValueError(f"{path}: {key}.color must be [r, g, b] of integers 0..255, got {colour!r}")
        names.append(name)
        ids.append(class_id)
        colours.append(tuple(colour))
    intrinsics = content.get("intrinsics")
    max_depth = _number(path, "max_depth", content.get("max_depth", DEFAULT_MAX_DEPTH_M), positive=True)
    if max_depth > 65.535:
        raise ValueError(f"{path}: max_depth must be at most 65.535 m (uint16 mm storage), got {max_depth}")
    return Description(path, tuple(names), tuple(ids), tuple(colours), ignore_ids,
                       _number(path, "depth_scale", content["depth_scale"], positive=True),
                       None if intrinsics is None else read_intrinsics(path, intrinsics), max_depth)


def description_path(input_dir, description=None) -> str:
    return os.fspath(description) if description else os.path.join(os.fspath(input_dir), DESCRIPTION_FILENAME)


def available_splits(input_dir) -> tuple:
    """The sub-folders of ``input_dir`` that hold ``rgb/``, sorted."""
    return tuple(sorted(name for name in os.listdir(input_dir)
                        if os.path.isdir(os.path.join(input_dir, name, "rgb"))))


def _stems(folder, extensions) -> dict:
    """``{stem: file name}`` of the files in ``folder`` with one of ``extensions`` (a stem twice is an error)."""
    found = {}
    for entry in sorted(os.listdir(folder)):
        stem, extension = os.path.splitext(entry)
        if extension.lower() not in extensions or not os.path.isfile(os.path.join(folder, entry)):
            continue
        if stem in found:
            raise ValueError(f"{folder}: stem {stem!r} has two files ({found[stem]}, {entry})")
        found[stem] = entry
    return found


def list_split(input_dir, split: str, description: Description) -> list[dict]:
    """Picklable frame descriptions of ``split``, matched by stem (errors name the split's folders)."""
    root = os.path.join(os.fspath(input_dir), split)
    if not os.path.isdir(os.path.join(root, "rgb")):
        present = available_splits(input_dir)
        raise FileNotFoundError(f"{root}: no such split (no rgb/ folder); {input_dir} holds the splits {list(present)}")
    folders = {"rgb": os.path.join(root, "rgb"), "depth": os.path.join(root, "depth")}
    if not os.path.isdir(folders["depth"]):
        raise FileNotFoundError(f"{folders['depth']}: missing (every split needs rgb/ and depth/)")
    if os.path.isdir(os.path.join(root, "label")):
        folders["label"] = os.path.join(root, "label")
    stems = {kind: _stems(folder, FOLDERS[kind]) for kind, folder in folders.items()}
    if not stems["rgb"]:
        raise ValueError(f"{folders['rgb']}: split {split!r} is empty (no {'/'.join(RGB_EXTENSIONS)} file)")
    common = set.intersection(*(set(found) for found in stems.values()))
    unmatched = {kind: sorted(set(found) - common) for kind, found in stems.items()}
    if any(unmatched.values()):
        parts = [f"{kind}/ has {len(names)} without partners: {', '.join(names[:_SHOWN])}"
                 + (" ..." if len(names) > _SHOWN else "") for kind, names in unmatched.items() if names]
        raise ValueError(f"{root}: stems do not match across {'/'.join(folders)}: " + "; ".join(parts))
    intrinsics_folder = os.path.join(root, "intrinsics")
    frames = []
    for stem in sorted(common):
        own = os.path.join(intrinsics_folder, stem + ".json")
        if os.path.isfile(own):
            intrinsics = read_intrinsics(own, _read_json(own), key="the file")
        elif description.intrinsics is not None:
            intrinsics = description.intrinsics
        else:
            raise ValueError(f"{description.path}: no intrinsics, and frame {split}/{stem} has no {own}")
        frames.append({
            "name": f"{split}/{stem}", "split": split,
            **{kind: os.path.join(folders[kind], found[stem]) for kind, found in stems.items()},
            "intrinsics": intrinsics, "depth_scale": description.depth_scale,
            "class_ids": description.class_ids, "ignore_ids": description.ignore_ids,
        })
    return frames


def camera_matrix(fx, fy, cx, cy) -> np.ndarray:
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


def read_depth(path, depth_scale) -> np.ndarray:
    """Depth in metres (float32; 0 = missing) from a 16-bit PNG in units of ``depth_scale`` metres (65535 =
    saturated = missing) or a float ``.npy`` in metres (NaN = missing)."""
    if path.lower().endswith(".npy"):
        try:
            depth = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as error:
            raise ValueError(f"{path}: not a readable .npy array ({error})") from None
        if depth.ndim != 2 or depth.dtype.kind != "f":
            raise ValueError(f"{path}: a .npy depth must be a 2-D float array in metres, got {depth.dtype} "
                             f"{depth.shape}")
        depth = np.where(np.isnan(depth), 0.0, depth).astype(np.float32)
        if np.any(depth < 0) or not np.all(np.isfinite(depth)):
            raise ValueError(f"{path}: depth must be >= 0 metres (NaN = missing), got values down to "
                             f"{float(np.min(depth))} or inf")
        return depth
    image = read_image_unchanged(path)
    if image.ndim != 2 or image.dtype != np.uint16:
        found = f"{image.dtype} with {1 if image.ndim == 2 else image.shape[2]} channel(s)"
        raise ValueError(f"{path}: a depth PNG must be 16-bit single-channel (depth units of depth_scale), got "
                         f"{found}; an 8-bit PNG cannot hold depth")
    return depth_plausibility.drop_saturated(image).astype(np.float32) * np.float32(depth_scale)


def train_ids(raw, frame: dict, num_classes: int) -> np.ndarray:
    """Raw label ids → train ids (uint8 / uint16 with the ignore label); an unknown id is an error naming the file."""
    ignore = records.ignore_label(num_classes)
    dtype = np.dtype(records.LABEL_DTYPES[records.label_bits(num_classes)])
    table = np.full(max(max(frame["class_ids"]), max(frame["ignore_ids"], default=0), int(raw.max())) + 1,
                    -1, np.int64)
    table[list(frame["ignore_ids"])] = ignore
    table[list(frame["class_ids"])] = np.arange(num_classes)
    mapped = table[raw.astype(np.int64)]
    if np.any(mapped < 0):
        bad = np.unique(raw[mapped < 0])
        shown = ", ".join(str(v) for v in bad[:10]) + (" ..." if bad.size > 10 else "")
        raise ValueError(f"{frame['label']}: label ids {shown} are neither a class id of dataset.json "
                         f"{list(frame['class_ids'])} nor in ignore_ids {list(frame['ignore_ids'])}")
    return mapped.astype(dtype)


def load_split_frame(frame: dict, image_size=None) -> dict:
    """Read one frame: ``{"rgb", "depth_m", "label", "intrinsics", "name", "notes"}``; ``notes`` says what was
    resized."""
    rgb = read_image(frame["rgb"], channels=3, dtype=np.uint8)
    depth = read_depth(frame["depth"], frame["depth_scale"])
    num_classes = len(frame["class_ids"])
    size = rgb.shape[:2]
    if "label" in frame:
        raw = read_image_unchanged(frame["label"])
        if raw.ndim != 2 or raw.dtype not in (np.uint8, np.uint16):
            raise ValueError(f"{frame['label']}: a label PNG must be 8- or 16-bit single-channel raw ids, got "
                             f"{raw.dtype} {raw.shape}")
        if raw.shape != size:
            raise ValueError(f"{frame['label']}: label is {raw.shape[0]}x{raw.shape[1]} (HxW), its RGB image "
                             f"{frame['rgb']} {size[0]}x{size[1]}: labels must have the RGB size")
        label = train_ids(raw, frame, num_classes)
    else:
        label = np.full(size, records.ignore_label(num_classes),
                        records.LABEL_DTYPES[records.label_bits(num_classes)])
    intrinsics = camera_matrix(*frame["intrinsics"])
    notes = []
    if depth.shape != size:
        notes.append(f"depth {depth.shape[0]}x{depth.shape[1]} resized to the RGB size {size[0]}x{size[1]} "
                     "(intrinsics scaled)")
        intrinsics = frame_resizing.scale_intrinsics(intrinsics, depth.shape, size)
        depth = frame_resizing.resize_nearest(depth, size)
    if image_size is not None and tuple(image_size) != tuple(size):
        intrinsics = frame_resizing.scale_intrinsics(intrinsics, size, image_size)
        rgb = frame_resizing.resize_rgb(rgb, image_size)
        depth = frame_resizing.resize_nearest(depth, image_size)
        label = frame_resizing.resize_nearest(label, image_size)
    return {"rgb": np.ascontiguousarray(rgb), "depth_m": np.ascontiguousarray(depth),
            "label": np.ascontiguousarray(label), "intrinsics": intrinsics, "name": frame["name"], "notes": notes}


@dataclasses.dataclass(frozen=True)
class FolderDataset(sources.Dataset):
    def source(self, input_dir, options):
        sources.check_input_dir(NAME, input_dir)
        description = read_description(description_path(input_dir, options.get("folder_description")))
        return sources.Source(NAME, description.class_names, description.max_depth, None, description.colours)

    def available_splits(self, input_dir, options):
        return available_splits(input_dir)

    def list_frames(self, input_dir, split, options):
        description = read_description(description_path(input_dir, options.get("folder_description")))
        return list_split(input_dir, split, description)

    def load_frame(self, frame, image_size):
        return load_split_frame(frame, image_size)


DATASET = FolderDataset(
    NAME, options=(sources.Option("folder_description", None,
                                  "--dataset=folder: the dataset.json to read (default <input_dir>/dataset.json)."),),
    splits=None, default_splits=(),
    input_help="dataset.json and one sub-folder per split with rgb/, depth/ (label/, intrinsics/): README "
               "'Your own RGB-D data'")
"""The registered dataset (:mod:`rfbnet_tf.datasets.sources`); ``default_splits`` () = every split present."""
