"""SUN RGB-D V1 reader (10,335 frames, 37 classes): the official download and toolbox → frames for ``prepare_data``.

Layout (``input_dir``: ``SUNRGBD.zip`` and ``SUNRGBDtoolbox.zip`` unpacked side by side)::

    SUNRGBD/{kv1,kv2,realsense,xtion}/.../{frame}/
        image/{name}.jpg            RGB
        depth_bfx/{name}.png        the toolbox's filled depth, 16-bit (encoding below)
        depth/{name}.png            raw depth, same encoding, 0 = missing
        intrinsics.txt              3×3 camera matrix of this frame (MATLAB 1-based pixel coordinates)
    SUNRGBDtoolbox/Metadata/SUNRGBDMeta.mat        v5: struct array SUNRGBDMeta (1×10335); its rgbpath / depthpath
                                                   (``/n/fs/sun3d/data/SUNRGBD/{frame}/image/{name}.jpg``) give the
                                                   frame of each index
    SUNRGBDtoolbox/Metadata/SUNRGBD2Dseg.mat       v7.3 (HDF5): SUNRGBD2Dseg(i).seglabel, the H×W 37-class label
                                                   image of frame i (0 = unlabelled, 1..37)
    SUNRGBDtoolbox/Metadata/seg37list.mat          v5: seg37list, the 37 class names (checked: 37 of them)
    SUNRGBDtoolbox/traintestSUNRGBD/allsplit.mat   v5: alltrain (5,285) / alltest (5,050), cells of frame folders
                                                   (``/n/fs/sun3d/data/SUNRGBD/{frame}``)

Splits: ``train`` (alltrain) and ``test`` (alltest), the official split every SUN RGB-D segmentation paper uses;
frames are named by their folder below ``SUNRGBD/`` (``kv1/NYUdata/NYU0001``).  The toolbox paths are matched
from the last ``/SUNRGBD/`` on, so the Princeton prefix does not matter.

Depth (``depth_source``): ``"toolbox"`` (default) ``depth_bfx``, ``"raw"`` ``depth`` (completed by ``prepare``).
Both decode as ``read3dPoints.m`` does: the 16-bit value rotated right by 3 bits
(``bitor(bitshift(d, -3), bitshift(d, 16 - 3))``), then millimetres → metres.  The toolbox clamps beyond 8 m to
8 m; ``prepare`` drops depth beyond ``max_depth`` (default 8 m, :data:`MAX_DEPTH_M`) and completes it instead.

Labels: seglabel k ∈ 1..37 → train id k − 1, 0 → 255; seglabel must have the RGB image's size.

Intrinsics: per frame from ``intrinsics.txt``; the toolbox back-projects with 1-based pixel coordinates
(``meshgrid(1:w, 1:h)`` in ``read_3d_pts_general``), so the principal point is shifted by −1 to this project's
0-based pixel centres, then scaled with the resize.  Frames (sizes differ per sensor: 640×480, 561×427, 730×530,
681×531, ...) are resized to :data:`DEFAULT_IMAGE_SIZE` (RGB area / bilinear, depth and labels nearest).
"""

from __future__ import annotations

import functools
import os

import numpy as np

from rfbnet_tf.constants import IGNORE_LABEL
from rfbnet_tf.datasets import frame_resizing, matlab_files, nyuv2, scannet, sources
from rfbnet_tf.utils import files

NAME = "sunrgbd"
SPLITS = ("train", "test")
MAX_DEPTH_M = 8.0
"""Default ``--max_depth``: read3dPoints.m caps depth at 8 m."""
DEFAULT_IMAGE_SIZE = (480, 640)
"""(height, width) frames are resized to (the size RGB-D codebases train SUN RGB-D at)."""

IMAGES_DIR = "SUNRGBD"
META_PATH = os.path.join("SUNRGBDtoolbox", "Metadata", "SUNRGBDMeta.mat")
SEG_PATH = os.path.join("SUNRGBDtoolbox", "Metadata", "SUNRGBD2Dseg.mat")
SEG37_PATH = os.path.join("SUNRGBDtoolbox", "Metadata", "seg37list.mat")
SPLIT_PATH = os.path.join("SUNRGBDtoolbox", "traintestSUNRGBD", "allsplit.mat")
SPLIT_VARIABLES = {"train": "alltrain", "test": "alltest"}
DEPTH_FOLDERS = {"toolbox": "depth_bfx", "raw": "depth"}
DEFAULT_DEPTH_SOURCE = "toolbox"

CLASS_NAMES = (
    "wall", "floor", "cabinet", "bed", "chair", "sofa", "table", "door", "window", "bookshelf", "picture",
    "counter", "blinds", "desk", "shelves", "curtain", "dresser", "pillow", "mirror", "floor mat", "clothes",
    "ceiling", "books", "fridge", "tv", "paper", "towel", "shower curtain", "box", "whiteboard", "person",
    "night stand", "toilet", "sink", "lamp", "bathtub", "bag",
)
"""Train ids 0..36: seg37list.mat's names (``floor_mat`` etc. with spaces).  They are NYU40's classes 1..37."""
NUM_CLASSES = len(CLASS_NAMES)
PALETTE = nyuv2.PALETTE_40[:NUM_CLASSES]
"""(37, 3) uint8 RGB: the NYU40 colours of the same classes (``nyuv2.PALETTE_40``: the PASCAL VOC map shifted by
one id, as the nyuv2-python-toolkit colours NYUv2), so a class looks the same in both datasets."""


def _check_depth_source(depth_source):
    if depth_source not in DEPTH_FOLDERS:
        raise ValueError(f"depth_source must be one of {tuple(DEPTH_FOLDERS)}, got {depth_source!r}")
    return depth_source


def frame_folder(toolbox_path: str, source: str) -> str:
    """A toolbox path (``/n/fs/sun3d/data/SUNRGBD/kv1/NYUdata/NYU0001[/...]``) → ``kv1/NYUdata/NYU0001[/...]``."""
    path = toolbox_path.replace("\\", "/").rstrip("/")
    marker = f"/{IMAGES_DIR}/"
    cut = ("/" + path).rfind(marker)
    if cut < 0:
        raise ValueError(f"{source!r}: path {toolbox_path!r} has no {marker!r} part")
    return ("/" + path)[cut + len(marker):]


@functools.lru_cache(maxsize=2)
def meta_paths(meta_path: str) -> tuple:
    """``((frame folder, rgb name, depth name), ...)`` of every SUNRGBDMeta index (0-based order)."""
    meta = matlab_files.load_v5(meta_path, ["SUNRGBDMeta"])["SUNRGBDMeta"]
    for field in ("rgbpath", "depthpath"):
        if meta.dtype.names is None or field not in meta.dtype.names:
            raise ValueError(f"{meta_path!r}: SUNRGBDMeta has no field {field!r}")
    rgb_paths = matlab_files.strings(meta["rgbpath"], f"{meta_path}:rgbpath")
    depth_paths = matlab_files.strings(meta["depthpath"], f"{meta_path}:depthpath")
    out = []
    for rgb_path, depth_path in zip(rgb_paths, depth_paths):
        rgb_rel = frame_folder(rgb_path, meta_path).split("/")
        depth_rel = frame_folder(depth_path, meta_path).split("/")
        if len(rgb_rel) < 3 or rgb_rel[-2] != "image" or depth_rel[:-2] != rgb_rel[:-2]:
            raise ValueError(f"{meta_path!r}: rgbpath {rgb_path!r} / depthpath {depth_path!r} are not "
                             "{frame}/image/{name} and {frame}/depth/{name} of one frame")
        out.append(("/".join(rgb_rel[:-2]), rgb_rel[-1], depth_rel[-1]))
    return tuple(out)


@functools.lru_cache(maxsize=2)
def _seg_labels(seg_path: str):
    """``(handle, references)``: the v7.3 file and its ``SUNRGBD2Dseg.seglabel`` object references, flattened (the
    1×N struct array is stored N × 1)."""
    handle = matlab_files.open_v73(seg_path)
    if "SUNRGBD2Dseg" not in handle or "seglabel" not in handle["SUNRGBD2Dseg"]:
        raise ValueError(f"{seg_path!r} has no SUNRGBD2Dseg.seglabel")
    return handle, handle["SUNRGBD2Dseg"]["seglabel"][()].ravel()


def check_class_list(input_dir: str):
    """``seg37list.mat`` must list 37 names (the classes this module's ``CLASS_NAMES`` holds)."""
    path = os.path.join(input_dir, SEG37_PATH)
    names = matlab_files.strings(matlab_files.load_v5(path, ["seg37list"])["seg37list"], f"{path}:seg37list")
    if len(names) != NUM_CLASSES:
        raise ValueError(f"{path!r}: seg37list has {len(names)} names, expected {NUM_CLASSES}")


def list_frames(input_dir: str, split: str, depth_source: str = DEFAULT_DEPTH_SOURCE) -> list[dict]:
    """Frames of ``split`` as ``{"name", "image", "depth", "intrinsics", "seg", "seg_index"}``, in allsplit's order.

    Raises ``FileNotFoundError`` naming a missing toolbox file or frame file, ``ValueError`` for a split entry that
    SUNRGBDMeta does not hold, or label and meta files of different lengths.
    """
    if split not in SPLITS:
        raise ValueError(f"SUN RGB-D split must be one of {SPLITS}, got {split!r}")
    depth_folder = DEPTH_FOLDERS[_check_depth_source(depth_source)]
    for relative in (META_PATH, SEG_PATH, SEG37_PATH, SPLIT_PATH):
        if not os.path.isfile(os.path.join(input_dir, relative)):
            raise FileNotFoundError(f"missing SUN RGB-D toolbox file {os.path.join(input_dir, relative)!r}")
    check_class_list(input_dir)
    meta_path, seg_path = os.path.join(input_dir, META_PATH), os.path.join(input_dir, SEG_PATH)
    metas = meta_paths(meta_path)
    _, seglabel = _seg_labels(seg_path)
    if seglabel.size != len(metas):
        raise ValueError(f"{seg_path!r} holds {seglabel.size} label images, {meta_path!r} {len(metas)} frames")
    index_of = {folder: index for index, (folder, _, _) in enumerate(metas)}
    split_path = os.path.join(input_dir, SPLIT_PATH)
    variable = SPLIT_VARIABLES[split]
    entries = matlab_files.strings(matlab_files.load_v5(split_path, [variable])[variable], f"{split_path}:{variable}")
    frames = []
    for entry in entries:
        folder = frame_folder(entry, split_path)
        if folder not in index_of:
            raise ValueError(f"{split_path!r}: {variable} lists {entry!r}, which {meta_path!r} does not hold")
        index = index_of[folder]
        _, rgb_name, depth_name = metas[index]
        frame_dir = os.path.join(input_dir, IMAGES_DIR, *folder.split("/"))
        frame = {"name": folder, "image": os.path.join(frame_dir, "image", rgb_name),
                 "depth": os.path.join(frame_dir, depth_folder, depth_name),
                 "intrinsics": os.path.join(frame_dir, "intrinsics.txt"), "seg": seg_path, "seg_index": index}
        for key in ("image", "depth", "intrinsics"):
            if not os.path.isfile(frame[key]):
                raise FileNotFoundError(f"missing SUN RGB-D file {frame[key]!r} (frame {folder!r} of {split!r})")
        frames.append(frame)
    if not frames:
        raise ValueError(f"{split_path!r}: {variable} lists no frames")
    return frames


def decode_depth(png: np.ndarray) -> np.ndarray:
    """Metres (float32, 0 = missing) of a SUN RGB-D 16-bit depth PNG: rotate right by 3 bits, then mm → m."""
    png = np.asarray(png)
    if png.dtype != np.uint16:
        raise ValueError(f"SUN RGB-D depth must be uint16, got {png.dtype}")
    millimetres = (png >> np.uint16(3)) | (png << np.uint16(13))
    return millimetres.astype(np.float32) / np.float32(1000.0)


def read_intrinsics(path: str) -> np.ndarray:
    """The 3×3 ``intrinsics.txt`` of a frame (read as ScanNet's camera files are), principal point moved to 0-based
    pixel centres (−1)."""
    matrix = scannet.read_intrinsics(path)
    matrix[0, 2] -= 1.0
    matrix[1, 2] -= 1.0
    return matrix


def read_label(seg_path: str, index: int) -> np.ndarray:
    """Train ids (uint8, 255 = ignore) of SUNRGBD2Dseg(index + 1).seglabel."""
    handle, seglabel = _seg_labels(seg_path)
    ids = matlab_files.matlab_image(handle[seglabel[index]][()])
    source = f"{seg_path}:SUNRGBD2Dseg({index + 1}).seglabel"
    if ids.ndim != 2 or ids.dtype.kind not in "iuf" or (ids.size and (ids.min() < 0 or ids.max() > NUM_CLASSES)):
        raise ValueError(f"{source!r} must be a 2-D image of ids 0..{NUM_CLASSES}, got {ids.dtype} {ids.shape} "
                         f"values {np.unique(ids)[:10].tolist()}")
    table = np.full(NUM_CLASSES + 1, IGNORE_LABEL, np.uint8)
    table[1:] = np.arange(NUM_CLASSES)
    return table[ids.astype(np.int64)]


def load_frame(frame: dict, image_size=None) -> dict:
    """Read one frame resized to ``image_size`` (default 480×640): ``{"rgb", "depth_m", "label", "intrinsics",
    "name"}``.  Image, depth and label must have one size (``ValueError`` naming the files otherwise)."""
    size = tuple(DEFAULT_IMAGE_SIZE if image_size is None else image_size)
    rgb = files.read_image(frame["image"], channels=3, dtype=np.uint8)
    depth = decode_depth(files.read_image(frame["depth"], channels=1, dtype=np.uint16))
    label = read_label(frame["seg"], frame["seg_index"])
    for source, shape in ((frame["depth"], depth.shape), (f"{frame['seg']} label {frame['seg_index'] + 1}",
                                                           label.shape)):
        if shape != rgb.shape[:2]:
            raise ValueError(f"size mismatch: {source!r} is {shape}, {frame['image']!r} is {rgb.shape[:2]}")
    intrinsics = frame_resizing.scale_intrinsics(read_intrinsics(frame["intrinsics"]), rgb.shape[:2], size)
    return {"rgb": frame_resizing.resize_rgb(rgb, size), "depth_m": frame_resizing.resize_nearest(depth, size),
            "label": frame_resizing.resize_nearest(label, size), "intrinsics": intrinsics, "name": frame["name"]}


DATASET = sources.ModuleDataset(
    NAME, options=(sources.DEPTH_SOURCE,), splits=SPLITS, default_splits=("train", "test"), module=__name__,
    input_help="SUNRGBD/ (the kv1, kv2, realsense, xtion frame folders) and SUNRGBDtoolbox/ (Metadata, "
               "traintestSUNRGBD)")
"""The registered dataset (:mod:`rfbnet_tf.datasets.sources`)."""
