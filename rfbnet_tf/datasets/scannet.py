"""ScanNet v2 2-D frames reader: official layout → frames for ``prepare_data``.

Layout (``input_dir``): the scene folders as exported by the official SensReader
(``reader.py --export_color_images --export_depth_images --export_intrinsics``, frame files
named by their unpadded index) plus the unzipped ``{scene}_2d-label-filt.zip``::

    scans/{scene}/color/{frame}.jpg                    1296×968 RGB
    scans/{scene}/depth/{frame}.png                    640×480 uint16 millimetres (0 = missing)
    scans/{scene}/label-filt/{frame}.png               1296×968 uint16 ScanNet label ids
    scans/{scene}/intrinsic/intrinsic_depth.txt        4×4 depth camera matrix
    scannetv2-labels.combined.tsv                      columns ``id`` … ``nyu40id`` …
    scannetv2_train.txt, scannetv2_val.txt, scannetv2_test.txt   scene lists (Tasks/Benchmark)

Or the ``scannet_frames_25k`` download (the paper's 19,466 / 5,436 frames: every 100th frame, labels already
converted to NYU40 ids by ``BenchmarkScripts/2d_helpers/convert_scannet_label_image.py``) and, for the test split,
``scannet_frames_test`` (no labels), each frame named by its zero-padded index::

    scannet_frames_25k/{scene}/color/{frame:06d}.jpg      RGB
    scannet_frames_25k/{scene}/depth/{frame:06d}.png      uint16 millimetres
    scannet_frames_25k/{scene}/label/{frame:06d}.png      8-bit NYU40 ids (0 = unannotated)
    scannet_frames_25k/{scene}/intrinsics_depth.txt       4×4 depth camera matrix
    scannet_frames_test/{scene}/color|depth/..., intrinsics_depth.txt
    scannetv2_train.txt, scannetv2_val.txt (scannetv2_test.txt optional: every scene of scannet_frames_test)

It gives the same records as the SensReader export of the same frames (frame names ``{scene}/{index}``; every
frame of the download is kept, it is subsampled already).  A scene without labels (a test split) is converted
unlabelled: every pixel ignore (255).

Labels: ScanNet id (label-filt) → NYU40 id (``scannetv2-labels.combined.tsv``) → the 20
ScanNet benchmark classes (``NYU40_TO_SCANNET20``, the benchmark's ``VALID_CLASS_IDS``); 0
(unannotated) and every other NYU40 class → 255.  An id missing from the tsv is an error.

Following the paper (Sec. IV-B) every frame is resized to 640×480: RGB by area averaging,
labels and depth nearest-neighbour; the intrinsics are the depth camera's (3×3 part), scaled
from the depth image's native size if another ``image_size`` is asked for.  The paper's 19,466
train / 5,436 val frames are ScanNet's ``scannet_frames_25k`` subset, every 100th frame:
``frame_skip=100`` keeps frames whose index is a multiple of 100.
"""

from __future__ import annotations

import csv
import functools
import glob
import os

import numpy as np

from rfbnet_tf.constants import IGNORE_LABEL
from rfbnet_tf.datasets import frame_resizing, sources
from rfbnet_tf.utils import files
from rfbnet_tf.utils import checks

NAME = "scannet"
SPLITS = ("train", "val", "test")
MAX_DEPTH_M = 10.0
"""Default ``--max_depth``: the Structure sensor's useful range; farther depth is dropped."""
DEFAULT_IMAGE_SIZE = (480, 640)
"""(height, width) the paper resizes ScanNet to (Sec. IV-B)."""
DEFAULT_FRAME_SKIP = 100
LABEL_MAP_FILENAME = "scannetv2-labels.combined.tsv"
ASPECT_TOLERANCE = 0.02
"""Colour (1296/968 = 1.339) and depth (640/480 = 1.333) aspect ratios may differ this much."""
DEPTH_INTRINSICS = os.path.join("intrinsic", "intrinsic_depth.txt")
FRAMES_25K_DIRNAME = "scannet_frames_25k"
FRAMES_TEST_DIRNAME = "scannet_frames_test"
FRAMES_INTRINSICS = "intrinsics_depth.txt"

CLASS_NAMES = (
    "wall", "floor", "cabinet", "bed", "chair", "sofa", "table", "door", "window", "bookshelf",
    "picture", "counter", "desk", "curtain", "refrigerator", "shower curtain", "toilet", "sink",
    "bathtub", "otherfurniture",
)
NUM_CLASSES = len(CLASS_NAMES)
BENCHMARK_NYU40_IDS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 24, 28, 33, 34, 36, 39)
"""Train id k → NYU40 id (the benchmark's ``VALID_CLASS_IDS``): what a 2-D label submission holds."""
NYU40_PALETTE = (
    (0, 0, 0), (174, 199, 232), (152, 223, 138), (31, 119, 180), (255, 187, 120), (188, 189, 34), (140, 86, 75),
    (255, 152, 150), (214, 39, 40), (197, 176, 213), (148, 103, 189), (196, 156, 148), (23, 190, 207), (178, 76, 76),
    (247, 182, 210), (66, 188, 102), (219, 219, 141), (140, 57, 197), (202, 185, 52), (51, 176, 203), (200, 54, 131),
    (92, 193, 61), (78, 71, 183), (172, 114, 82), (255, 127, 14), (91, 163, 138), (153, 98, 156), (140, 153, 101),
    (158, 218, 229), (100, 125, 154), (178, 127, 135), (120, 185, 128), (146, 111, 194), (44, 160, 44),
    (112, 128, 144), (96, 207, 209), (227, 119, 194), (213, 92, 176), (94, 106, 211), (82, 84, 163), (100, 85, 144),
)
"""NYU40 id → RGB: ``create_color_palette()`` of the ScanNet repository's ``BenchmarkScripts/util.py`` (0 =
unannotated, black)."""
PALETTE = tuple(NYU40_PALETTE[nyu40] for nyu40 in BENCHMARK_NYU40_IDS)
"""RGB colour per train id (the NYU40 colour of its class)."""
NYU40_TO_SCANNET20 = {
    nyu40: BENCHMARK_NYU40_IDS.index(nyu40) if nyu40 in BENCHMARK_NYU40_IDS else IGNORE_LABEL
    for nyu40 in range(41)
}
"""NYU40 id (0 = unannotated, 1..40) → ScanNet-20 train id, 255 = ignore."""


def split_file(input_dir: str, split: str) -> str:
    """Path of the official scene list ``scannetv2_{split}.txt``."""
    if split not in SPLITS:
        raise ValueError(f"ScanNet split must be one of {SPLITS}, got {split!r}")
    return os.path.join(input_dir, f"scannetv2_{split}.txt")


def _frame_index(path: str) -> int:
    stem = os.path.splitext(os.path.basename(path))[0]
    if not stem.isdigit():
        raise ValueError(f"ScanNet frame file {path!r} is not named by its frame index")
    return int(stem)


def _scene_frames(scene_dir, intrinsics_name, label_folder, frame_skip, padded, listed_in):
    """``(intrinsics path, [(index, {"color", "depth", "label"?: path}), ...])`` of one scene folder: frames whose
    index is a multiple of ``frame_skip``, each with all its partners (a scene without ``label_folder`` is
    unlabelled).  ``FileNotFoundError`` naming a missing scene, intrinsics file or partner."""
    if not os.path.isdir(scene_dir):
        raise FileNotFoundError(f"scene directory {scene_dir!r} ({listed_in}) is missing")
    intrinsics = os.path.join(scene_dir, intrinsics_name)
    if not os.path.isfile(intrinsics):
        raise FileNotFoundError(f"missing depth intrinsics {intrinsics!r}")
    sources = {"color": ("color", ".jpg"), "depth": ("depth", ".png"), "label": (label_folder, ".png")}
    labelled = os.path.isdir(os.path.join(scene_dir, label_folder))
    found = {}
    for key, (folder, extension) in sources.items():
        for path in glob.glob(os.path.join(scene_dir, folder, "*" + extension)):
            found.setdefault(_frame_index(path), {})[key] = path
    if not found:
        raise FileNotFoundError(f"no frames in {os.path.join(scene_dir, 'color')!r}")
    frames = []
    for index in sorted(found):
        if index % frame_skip:
            continue
        paths = found[index]
        for key, (folder, extension) in sources.items():
            if key not in paths and (labelled or key != "label"):
                present = next(iter(paths.values()))
                missing = os.path.join(scene_dir, folder, f"{index:06d}{extension}" if padded else f"{index}{extension}")
                raise FileNotFoundError(f"missing {missing!r} (the partner of {present!r})")
        frames.append((index, paths))
    return intrinsics, frames


def _read_scenes(path: str) -> list[str]:
    with open(path, encoding="utf-8") as handle:
        scenes = [line.strip() for line in handle if line.strip()]
    if not scenes:
        raise ValueError(f"split file {path!r} lists no scenes")
    return scenes


def _frames_root(input_dir: str, split: str) -> str | None:
    """The ``scannet_frames_25k`` (``scannet_frames_test`` for the test split) folder of ``input_dir``, or None."""
    names = (FRAMES_TEST_DIRNAME, FRAMES_25K_DIRNAME) if split == "test" else (FRAMES_25K_DIRNAME,)
    for name in names:
        if os.path.isdir(os.path.join(input_dir, name)):
            return os.path.join(input_dir, name)
    return None


def list_frames_25k(input_dir: str, split: str) -> list[dict]:
    """Frames of ``split`` of the ``scannet_frames_25k`` / ``scannet_frames_test`` layout (module docstring)."""
    root = _frames_root(input_dir, split)
    scenes_path = split_file(input_dir, split)
    if os.path.isfile(scenes_path):
        scenes = _read_scenes(scenes_path)
    elif split == "test" and os.path.basename(root) == FRAMES_TEST_DIRNAME:
        scenes = sorted(name for name in os.listdir(root) if os.path.isdir(os.path.join(root, name)))
    else:
        raise FileNotFoundError(f"missing ScanNet split file {scenes_path!r}")
    frames = []
    for scene in scenes:
        intrinsics, scene_frames = _scene_frames(os.path.join(root, scene), FRAMES_INTRINSICS, "label", 1, True,
                                                 f"split {split!r}")
        for index, paths in scene_frames:
            frames.append({"name": f"{scene}/{index}", **paths, "intrinsics": intrinsics, "label_format": "nyu40"})
    if not frames:
        raise FileNotFoundError(f"no ScanNet frames for split {split!r} under {root!r}")
    return frames


def list_frames(input_dir: str, split: str, frame_skip: int = DEFAULT_FRAME_SKIP) -> list[dict]:
    """Frames of ``split`` as ``{"name", "color", "depth", "label", "intrinsics", "label_map"}``.

    Reads the SensReader export (``scans/``) when ``input_dir`` has it, else ``scannet_frames_25k`` /
    ``scannet_frames_test`` (:func:`list_frames_25k`; ``frame_skip`` does not apply there).

    Scenes come from ``scannetv2_{split}.txt`` (``FileNotFoundError`` naming it if missing).
    Each color frame must have its depth and label-filt partner and vice versa
    (``FileNotFoundError`` naming the missing file).  No frames → ``FileNotFoundError``.
    """
    frame_skip = _check_frame_skip(frame_skip)
    if not os.path.isdir(os.path.join(input_dir, "scans")):
        if _frames_root(input_dir, split) is None:
            raise FileNotFoundError(
                f"{input_dir!r} holds neither the SensReader export (scans/{{scene}}/color, depth, label-filt, "
                f"intrinsic) nor {FRAMES_25K_DIRNAME}/ (or {FRAMES_TEST_DIRNAME}/ for the test split)")
        return list_frames_25k(input_dir, split)
    scenes_path = split_file(input_dir, split)
    if not os.path.isfile(scenes_path):
        raise FileNotFoundError(f"missing ScanNet split file {scenes_path!r}")
    label_map = os.path.join(input_dir, LABEL_MAP_FILENAME)
    if not os.path.isfile(label_map):
        raise FileNotFoundError(f"missing ScanNet label map {label_map!r}")
    scenes = _read_scenes(scenes_path)
    frames = []
    for scene in scenes:
        intrinsics, scene_frames = _scene_frames(os.path.join(input_dir, "scans", scene), DEPTH_INTRINSICS,
                                                 "label-filt", frame_skip, False, f"listed in {scenes_path!r}")
        for index, paths in scene_frames:
            frames.append({"name": f"{scene}/{index}", **paths, "intrinsics": intrinsics, "label_map": label_map})
    if not frames:
        raise FileNotFoundError(
            f"no ScanNet frames (frame_skip={frame_skip}) for split {split!r} under {input_dir!r}"
        )
    return frames


@functools.lru_cache(maxsize=4)
def scannet_id_lookup(label_map_path: str) -> tuple[np.ndarray, np.ndarray]:
    """``(lookup, valid)`` arrays indexed by ScanNet id: train id (uint8) and "id is in the tsv".

    Built from the ``id`` and ``nyu40id`` columns of ``scannetv2-labels.combined.tsv``;
    id 0 (unannotated) is valid and maps to 255.  Cached per process (workers read it once).
    """
    try:
        with open(label_map_path, encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
    except FileNotFoundError:
        raise FileNotFoundError(f"missing ScanNet label map {label_map_path!r}") from None
    if not rows or "id" not in rows[0] or "nyu40id" not in rows[0]:
        raise ValueError(f"{label_map_path!r} needs tab-separated columns 'id' and 'nyu40id'")
    mapping = {0: IGNORE_LABEL}
    for line, row in enumerate(rows, start=2):
        try:
            scannet_id = int(row["id"])
            nyu40 = int(row["nyu40id"]) if row["nyu40id"].strip() else 0
        except (ValueError, AttributeError):
            raise ValueError(f"{label_map_path!r} line {line}: bad id/nyu40id {row!r}") from None
        if scannet_id < 0 or scannet_id > 65535 or nyu40 not in NYU40_TO_SCANNET20:
            raise ValueError(f"{label_map_path!r} line {line}: id {scannet_id}, nyu40id {nyu40} out of range")
        mapping[scannet_id] = NYU40_TO_SCANNET20[nyu40]
    size = max(mapping) + 1
    lookup = np.full(size, IGNORE_LABEL, dtype=np.uint8)
    valid = np.zeros(size, dtype=bool)
    for scannet_id, train_id in mapping.items():
        lookup[scannet_id] = train_id
        valid[scannet_id] = True
    return lookup, valid


def scannet_ids_to_train_ids(ids: np.ndarray, label_map_path: str, source: str = "label image"):
    """Map uint16 ScanNet ids to train ids; ``ValueError`` naming ``source`` for ids not in the tsv."""
    lookup, valid = scannet_id_lookup(label_map_path)
    in_range = ids < lookup.size
    known = np.zeros(ids.shape, dtype=bool)
    known[in_range] = valid[ids[in_range]]
    if not known.all():
        unknown = np.unique(ids[~known])
        raise ValueError(
            f"{source!r} has label ids not in {label_map_path!r}: {unknown[:20].tolist()}"
        )
    return lookup[ids]


NYU40_LOOKUP = np.array([NYU40_TO_SCANNET20[nyu40] for nyu40 in range(41)], np.uint8)


def nyu40_ids_to_train_ids(ids: np.ndarray, source: str = "label image") -> np.ndarray:
    """Map 8-bit NYU40 ids (``scannet_frames_25k`` labels) to train ids; ``ValueError`` naming ``source`` for ids
    above 40."""
    unknown = np.unique(ids[ids > 40])
    if unknown.size:
        raise ValueError(f"{source!r} has NYU40 ids above 40: {unknown[:20].tolist()}")
    return NYU40_LOOKUP[ids]


def read_intrinsics(path: str) -> np.ndarray:
    """3×3 part of a SensReader ``intrinsic_depth.txt`` (4×4, whitespace separated)."""
    try:
        matrix = np.loadtxt(path, dtype=np.float64)
    except FileNotFoundError:
        raise FileNotFoundError(f"missing intrinsics file {path!r}") from None
    except ValueError as error:
        raise ValueError(f"bad intrinsics file {path!r}: {error}") from None
    if matrix.shape not in ((4, 4), (3, 3)) or not np.all(np.isfinite(matrix)):
        raise ValueError(f"intrinsics file {path!r} must hold a 4x4 matrix, got shape {matrix.shape}")
    if not (matrix[0, 0] > 0 and matrix[1, 1] > 0):
        raise ValueError(f"intrinsics file {path!r} has non-positive focal lengths")
    return matrix[:3, :3].copy()


def load_frame(frame: dict, image_size=None) -> dict:
    """Read one frame resized to ``image_size`` (default 480×640, the paper's):
    ``{"rgb", "depth_m", "label", "intrinsics", "name"}``.

    Color and label-filt must have the same size and depth about the same aspect ratio
    (``ValueError`` naming the files otherwise); the depth image sets the intrinsics' native
    size.
    """
    size = tuple(DEFAULT_IMAGE_SIZE if image_size is None else image_size)
    rgb = files.read_image(frame["color"], channels=3, dtype=np.uint8)
    depth_mm = files.read_image(frame["depth"], channels=1, dtype=np.uint16)
    nyu40 = frame.get("label_format") == "nyu40"
    if "label" in frame:
        ids = files.read_image(frame["label"], channels=1, dtype=np.uint8 if nyu40 else np.uint16)
    else:  # unlabelled (test) frame: unannotated everywhere, i.e. ignore
        ids, nyu40 = np.zeros(rgb.shape[:2], np.uint8), True
    if ids.shape != rgb.shape[:2]:
        raise ValueError(
            f"size mismatch: {frame['label']!r} is {ids.shape}, {frame['color']!r} is {rgb.shape[:2]}"
        )
    rgb_aspect, depth_aspect = rgb.shape[1] / rgb.shape[0], depth_mm.shape[1] / depth_mm.shape[0]
    if abs(rgb_aspect / depth_aspect - 1.0) > ASPECT_TOLERANCE:
        raise ValueError(
            f"size mismatch: {frame['depth']!r} is {depth_mm.shape} (aspect {depth_aspect:.3f}), "
            f"{frame['color']!r} is {rgb.shape[:2]} (aspect {rgb_aspect:.3f})"
        )
    intrinsics = frame_resizing.scale_intrinsics(read_intrinsics(frame["intrinsics"]), depth_mm.shape, size)
    if nyu40:
        label = nyu40_ids_to_train_ids(ids, frame.get("label", frame["color"]))
    else:
        label = scannet_ids_to_train_ids(ids, frame["label_map"], frame["label"])
    return {
        "rgb": frame_resizing.resize_rgb(rgb, size),
        "depth_m": frame_resizing.resize_nearest(depth_mm, size).astype(np.float32) / np.float32(1000.0),
        "label": frame_resizing.resize_nearest(label, size),
        "intrinsics": intrinsics,
        "name": frame["name"],
    }


def _check_frame_skip(value):
    if not checks.is_int(value) or value < 1:
        raise ValueError(f"frame_skip must be a positive int, got {value!r}")
    return int(value)


DATASET = sources.ModuleDataset(
    NAME, options=(sources.Option("frame_skip", DEFAULT_FRAME_SKIP,
                                  "ScanNet: keep every n-th frame of the SensReader export.",
                                  _check_frame_skip, flag="scannet_frame_skip"),),
    splits=SPLITS, default_splits=("train", "val"), module=__name__,
    input_help="scannet_frames_25k (+ scannet_frames_test) or the SensReader export of the scans, with "
               "scannetv2-labels.combined.tsv and scannetv2_{train,val,test}.txt")
"""The registered dataset (:mod:`rfbnet_tf.datasets.sources`)."""
