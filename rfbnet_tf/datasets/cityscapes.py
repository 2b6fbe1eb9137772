"""Cityscapes reader: official download layout → frames for ``prepare_data``.

Layout (the official ``leftImg8bit_trainvaltest``, ``disparity_trainvaltest``,
``camera_trainvaltest`` and ``gtFine_trainvaltest`` archives unpacked into one ``input_dir``)::

    leftImg8bit/{split}/{city}/{city}_{seq}_{frame}_leftImg8bit.png   RGB, 8 bit
    disparity/{split}/{city}/{city}_{seq}_{frame}_disparity.png       16 bit
    camera/{split}/{city}/{city}_{seq}_{frame}_camera.json            baseline, fx, fy, u0, v0
    gtFine/{split}/{city}/{city}_{seq}_{frame}_gtFine_labelIds.png    8 bit label ids

Disparity (Cityscapes README): for a pixel value ``p > 0`` the disparity is
``d = (p - 1) / 256``; ``p = 0`` is an invalid measurement.  Depth is ``baseline * fx / d``
(``extrinsic.baseline`` in metres, ``intrinsic.fx`` in pixels, from the camera json); ``d <= 0``
(p ∈ {0, 1}) is treated as missing (0).

A split without any ``gtFine`` file (the test split as downloaded without its placeholder annotations) is
converted without labels: every pixel is stored as ignore (255), for predictions and benchmark submissions.

Label ids → train ids follow the official ``cityscapesscripts/helpers/labels.py`` table (the
paper's 19 evaluated classes, Cityscapes benchmark).  ``license plate`` has id −1; it is never
drawn into ``*_labelIds.png`` by the official tools, but if its uint8 wrap-around value 255
appears it maps to ignore as well.  Any other id outside 0..33 is an error.
"""

from __future__ import annotations

import glob
import json
import os

import numpy as np

from rfbnet_tf.constants import IGNORE_LABEL
from rfbnet_tf.datasets import frame_resizing, sources
from rfbnet_tf.utils import files

NAME = "cityscapes"
SPLITS = ("train", "val", "test")
MAX_DEPTH_M = 65.0
"""Default ``--max_depth``: farther (and sky) disparities are treated as missing.  65 m is just
below the 65.535 m that a uint16 millimetre PNG can hold."""
DEFAULT_IMAGE_SIZE = None
"""Records keep the native 1024×2048 by default (evaluation at full resolution, Sec. IV-B);
``--image_size=512,1024`` stores the paper's training scale instead."""

CLASS_NAMES = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
    "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
    "motorcycle", "bicycle",
)
NUM_CLASSES = len(CLASS_NAMES)
PALETTE = (
    (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153), (153, 153, 153),
    (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152), (70, 130, 180), (220, 20, 60), (255, 0, 0),
    (0, 0, 142), (0, 0, 70), (0, 60, 100), (0, 80, 100), (0, 0, 230), (119, 11, 32),
)
"""RGB colour per train id: the ``color`` column of cityscapesScripts' ``helpers/labels.py``."""
# Official table (labels.py): id → trainId, 255 = ignored in evaluation.
LABEL_ID_TO_TRAIN_ID = {
    0: 255,   # unlabeled
    1: 255,   # ego vehicle
    2: 255,   # rectification border
    3: 255,   # out of roi
    4: 255,   # static
    5: 255,   # dynamic
    6: 255,   # ground
    7: 0,     # road
    8: 1,     # sidewalk
    9: 255,   # parking
    10: 255,  # rail track
    11: 2,    # building
    12: 3,    # wall
    13: 4,    # fence
    14: 255,  # guard rail
    15: 255,  # bridge
    16: 255,  # tunnel
    17: 5,    # pole
    18: 255,  # polegroup
    19: 6,    # traffic light
    20: 7,    # traffic sign
    21: 8,    # vegetation
    22: 9,    # terrain
    23: 10,   # sky
    24: 11,   # person
    25: 12,   # rider
    26: 13,   # car
    27: 14,   # truck
    28: 15,   # bus
    29: 255,  # caravan
    30: 255,  # trailer
    31: 16,   # train
    32: 17,   # motorcycle
    33: 18,   # bicycle
    -1: 255,  # license plate (trainId -1 in labels.py, ignored)
}
TRAIN_ID_TO_LABEL_ID = tuple(
    next(label_id for label_id, train_id in LABEL_ID_TO_TRAIN_ID.items() if train_id == k) for k in range(NUM_CLASSES)
)
"""Train id k → Cityscapes label id: what the benchmark server reads (``*_labelIds``-style PNGs)."""


def _lookup_table():
    table = np.full(256, IGNORE_LABEL, dtype=np.uint8)
    valid = np.zeros(256, dtype=bool)
    for label_id, train_id in LABEL_ID_TO_TRAIN_ID.items():
        table[label_id & 0xFF] = train_id
        valid[label_id & 0xFF] = True
    return table, valid


LABEL_LOOKUP, VALID_LABEL_IDS = _lookup_table()
"""256-entry uint8 array: ``LABEL_LOOKUP[label_ids]`` gives train ids; ``VALID_LABEL_IDS`` marks
the ids in the table (0..33 and 255 = license plate's −1)."""

_SOURCES = {
    # key: (top directory, file suffix)
    "image": ("leftImg8bit", "_leftImg8bit.png"),
    "disparity": ("disparity", "_disparity.png"),
    "camera": ("camera", "_camera.json"),
    "label": ("gtFine", "_gtFine_labelIds.png"),
}


def list_frames(input_dir: str, split: str) -> list[dict]:
    """Frames of ``split`` as ``{"name", "image", "disparity", "camera", "label"}`` (paths).

    Every frame must exist in all four sources: a file without its partners (e.g. a disparity
    without its image) raises ``FileNotFoundError`` naming the missing file.  A split without any
    label file gives frames without ``"label"`` (unlabelled).  No frame at all raises
    ``FileNotFoundError`` naming the directory searched.
    """
    if split not in SPLITS:
        raise ValueError(f"Cityscapes split must be one of {SPLITS}, got {split!r}")
    found = {}
    for key, (top, suffix) in _SOURCES.items():
        pattern = os.path.join(input_dir, top, split, "*", "*" + suffix)
        for path in glob.glob(pattern):
            stem = os.path.basename(path)[: -len(suffix)]
            city = os.path.basename(os.path.dirname(path))
            found.setdefault((city, stem), {})[key] = path
    if not found:
        raise FileNotFoundError(
            f"no Cityscapes frames for split {split!r} under {input_dir!r} "
            f"(expected {os.path.join(input_dir, 'leftImg8bit', split, '{city}', '*_leftImg8bit.png')})"
        )
    labelled = any("label" in paths for paths in found.values())
    frames = []
    for (city, stem), paths in sorted(found.items()):
        for key, (top, suffix) in _SOURCES.items():
            if key not in paths and (labelled or key != "label"):
                present = next(iter(paths.values()))
                missing = os.path.join(input_dir, top, split, city, stem + suffix)
                raise FileNotFoundError(f"missing {missing!r} (the partner of {present!r})")
        frames.append({"name": stem, **paths})
    return frames


def read_camera(path: str) -> tuple[np.ndarray, float]:
    """``(K 3×3, baseline in metres)`` from a Cityscapes ``*_camera.json``."""
    try:
        with open(path, encoding="utf-8") as handle:
            camera = json.load(handle)
        intrinsic = camera["intrinsic"]
        fx, fy = float(intrinsic["fx"]), float(intrinsic["fy"])
        u0, v0 = float(intrinsic["u0"]), float(intrinsic["v0"])
        baseline = float(camera["extrinsic"]["baseline"])
    except FileNotFoundError:
        raise FileNotFoundError(f"missing camera file {path!r}") from None
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"bad camera file {path!r}: {error!r}") from None
    if not (fx > 0 and fy > 0 and baseline > 0):
        raise ValueError(f"camera file {path!r} needs fx, fy, baseline > 0, got {fx}, {fy}, {baseline}")
    matrix = np.array([[fx, 0.0, u0], [0.0, fy, v0], [0.0, 0.0, 1.0]])
    return matrix, baseline


def disparity_to_depth(disparity_png: np.ndarray, baseline: float, fx: float) -> np.ndarray:
    """Depth in metres (float32, 0 = missing) from a raw uint16 Cityscapes disparity image."""
    disparity = (disparity_png.astype(np.float64) - 1.0) / 256.0
    valid = (disparity_png > 0) & (disparity > 0)
    depth = np.zeros(disparity.shape, dtype=np.float64)
    depth[valid] = baseline * fx / disparity[valid]
    return depth.astype(np.float32)


def label_ids_to_train_ids(label_ids: np.ndarray, source: str = "label image") -> np.ndarray:
    """Map a uint8 labelIds image to train ids; ``ValueError`` naming ``source`` for unknown ids."""
    unknown = np.unique(label_ids[~VALID_LABEL_IDS[label_ids]])
    if unknown.size:
        raise ValueError(f"{source!r} has label ids outside the Cityscapes table: {unknown.tolist()}")
    return LABEL_LOOKUP[label_ids]


def load_frame(frame: dict, image_size=None) -> dict:
    """Read one frame: ``{"rgb", "depth_m", "label", "intrinsics", "name"}``.

    ``image_size=(height, width)`` resizes it (RGB area/bilinear, depth and labels nearest,
    intrinsics scaled); ``None`` keeps the native size.  Image, disparity and label must
    have the same size (``ValueError`` naming the files otherwise).
    """
    rgb = files.read_image(frame["image"], channels=3, dtype=np.uint8)
    disparity = files.read_image(frame["disparity"], channels=1, dtype=np.uint16)
    if "label" in frame:
        label_ids = files.read_image(frame["label"], channels=1, dtype=np.uint8)
    else:  # unlabelled split: label id 0 (unlabeled) everywhere, i.e. ignore
        label_ids = np.zeros(rgb.shape[:2], np.uint8)
    for key, array in (("disparity", disparity), ("label", label_ids)):
        if key in frame and array.shape[:2] != rgb.shape[:2]:
            raise ValueError(
                f"size mismatch: {frame[key]!r} is {array.shape[:2]}, "
                f"{frame['image']!r} is {rgb.shape[:2]}"
            )
    intrinsics, baseline = read_camera(frame["camera"])
    depth = disparity_to_depth(disparity, baseline, intrinsics[0, 0])
    label = label_ids_to_train_ids(label_ids, frame.get("label", frame["image"]))
    if image_size is not None and tuple(image_size) != rgb.shape[:2]:
        intrinsics = frame_resizing.scale_intrinsics(intrinsics, rgb.shape[:2], image_size)
        rgb = frame_resizing.resize_rgb(rgb, image_size)
        depth = frame_resizing.resize_nearest(depth, image_size)
        label = frame_resizing.resize_nearest(label, image_size)
    return {"rgb": rgb, "depth_m": depth, "label": label, "intrinsics": intrinsics,
            "name": frame["name"]}


DATASET = sources.ModuleDataset(
    NAME, splits=SPLITS, default_splits=("train", "val"), module=__name__,
    input_help="the packages leftImg8bit_trainvaltest, disparity_trainvaltest, camera_trainvaltest and "
               "gtFine_trainvaltest unpacked into one folder")
"""The registered dataset (:mod:`rfbnet_tf.datasets.sources`)."""
