"""NYU Depth v2 reader (the 1,449 labelled frames): official files → frames for ``prepare_data``.

Layout (``input_dir``, the files as distributed)::

    nyu_depth_v2_labeled.mat   MATLAB v7.3 (HDF5), from the NYU Depth v2 site: images 480×640×3×1449 uint8,
                               depths / rawDepths 480×640×1449 single metres, labels 480×640×1449 uint16
                               (0 = unlabelled, 1..894), stored transposed: HDF5 (1449, 3, 640, 480) etc.
    splits.mat                 MATLAB v5: trainNdxs (795×1), testNdxs (654×1), 1-based frame indices
    classMapping40.mat         MATLAB v5 (Gupta et al. 2013, as in ankurhanda/nyuv2-meta-data): mapClass (1×894,
                               class id → NYU40 id 1..40), className (1×40 cell), allClassName (1×894 cell: the
                               names of the raw classes, read for --nyuv2_classes=894)
    class13Mapping.mat         MATLAB v5 (same source, Couprie et al. 2013): struct classMapping13 whose field
                               labels13 (1×40; the first field) maps NYU40 id → 13-class id 1..13; only for
                               --nyuv2_classes=13

Splits: ``train`` (trainNdxs) and ``test`` (testNdxs); frames are named by their 1-based index, ``"0001"``.

Labels (``classes``): 40 (default) — raw id → ``mapClass`` → NYU40 id k → train id k − 1; 13 — NYU40 id →
``labels13`` → train id k − 1; 894 — the raw classes: raw id k (1..894) → train id k − 1, named by
``allClassName`` (a name listed twice gets its raw id appended, `` #k``, so that every class has its own name).
Raw id 0 (unlabelled) → ignore.  40 and 13 classes are stored as 8-bit labels (ignore 255); 894 classes as 16-bit
labels (train ids 0..893, ignore 65535; ``label_bits`` 16 in ``dataset_info.json``, see
:func:`rfbnet_tf.datasets.records.label_bits`).

Depth (``depth_source``): ``"toolbox"`` (default) the toolbox's filled ``depths``; ``"raw"`` the Kinect's
``rawDepths`` (0 = missing), which ``prepare`` completes with this project's depth completion like every other
dataset.  (``prepare`` drops depth beyond ``max_depth``, 10 m — the toolbox's ``maxDepth`` — and completes the
rest either way; the filled depth has no hole left to complete.)

Intrinsics: the RGB camera of the toolbox's ``camera_params.m`` (fx 518.857901, fy 519.469611, cx 325.582449,
cy 253.736166).  The toolbox writes pixel coordinates 1-based (``meshgrid(1:640, 1:480)``); this project's HHA and
resizing use 0-based pixel centres, so the stored principal point is (324.582449, 252.736166).

Border: the labelled frames are projected into the RGB camera; outside the toolbox's ``get_projection_mask``
(MATLAB rows 45..471, columns 41..601, i.e. 0-based rows 44..470, columns 40..600) the RGB image is a white
frame and the depth extrapolated.  We keep the full 640×480 frame (every RGB-D codebase's input size) and set
the labels outside that region to ignore (255, 65535 for 894 classes), so the border is neither trained on nor
scored (its few labelled pixels are dropped); RGB and depth are kept as they are so the network sees the same frame
at test time.
"""

from __future__ import annotations

import dataclasses
import functools
import os

import numpy as np

from rfbnet_tf.drawing import palettes
from rfbnet_tf.constants import IGNORE_LABEL, IGNORE_LABEL_16
from rfbnet_tf.datasets import frame_resizing, matlab_files, sources

NAME = "nyuv2"
SPLITS = ("train", "test")
MAX_DEPTH_M = 10.0
"""Default ``--max_depth``: the toolbox's ``maxDepth`` (camera_params.m)."""
DEFAULT_IMAGE_SIZE = (480, 640)
"""(height, width): the native size of the labelled frames."""

LABELED_FILENAME = "nyu_depth_v2_labeled.mat"
SPLITS_FILENAME = "splits.mat"
MAPPING40_FILENAME = "classMapping40.mat"
MAPPING13_FILENAME = "class13Mapping.mat"
SPLIT_VARIABLES = {"train": "trainNdxs", "test": "testNdxs"}

CLASS_OPTIONS = (40, 13, 894)
RAW_CLASSES = 894
"""The raw NYUv2 classes (ids 1..894 of ``labels``; ``allClassName`` of classMapping40.mat names them)."""
DEFAULT_CLASSES = 40
DEPTH_VARIABLES = {"toolbox": "depths", "raw": "rawDepths"}
DEFAULT_DEPTH_SOURCE = "toolbox"

CLASS_NAMES_40 = (
    "wall", "floor", "cabinet", "bed", "chair", "sofa", "table", "door", "window", "bookshelf", "picture",
    "counter", "blinds", "desk", "shelves", "curtain", "dresser", "pillow", "mirror", "floor mat", "clothes",
    "ceiling", "books", "refrigerator", "television", "paper", "towel", "shower curtain", "box", "whiteboard",
    "person", "night stand", "toilet", "sink", "lamp", "bathtub", "bag", "otherstructure", "otherfurniture",
    "otherprop",
)
"""NYU40 train ids 0..39 (``className`` of classMapping40.mat, its "refridgerator" spelt right)."""
CLASS_NAMES_13 = (
    "bed", "books", "ceiling", "chair", "floor", "furniture", "objects", "picture", "sofa", "table", "tv", "wall",
    "window",
)
"""13-class train ids 0..12 (Couprie et al. 2013; "picture" is the "painting" / "deco." of some lists)."""
CLASS_NAMES = CLASS_NAMES_40
NUM_CLASSES = len(CLASS_NAMES)


def shifted_voc_palette(count: int) -> np.ndarray:
    """(count, 3) uint8: train id t gets the PASCAL VOC colour of id t + 1 (``palettes.voc_colours``).

    This is how the nyuv2-python-toolkit (VainF/nyuv2-python-toolkit, ``colormap()`` with ``cmap[label + 1]``)
    colours the NYUv2 label images: label id k = train id k − 1, id 0 (unlabelled) black.  The VOC colour map
    spreads the bits of an id over the high bits of R, G, B (3 bits a round), so it gives every id up to 2^24 its
    own colour and no id but 0 is black: for the 894 raw classes raw id k is the VOC colour of k (raw ids k and
    k + 512 differ by 16 in red only, and raw id 512 is the near-black (16, 0, 0)).
    """
    return palettes.voc_colours(np.arange(1, count + 1))


PALETTE_40 = shifted_voc_palette(40)
PALETTE_13 = shifted_voc_palette(13)
PALETTE_894 = shifted_voc_palette(RAW_CLASSES)
PALETTE = PALETTE_40
"""(K, 3) uint8 RGB colour of each train id (``PALETTE_40``; ``PALETTE_13``, ``PALETTE_894`` for the others)."""

RGB_INTRINSICS_MATLAB = (518.857901, 519.469611, 325.582449, 253.736166)
"""fx, fy, cx, cy of the toolbox's camera_params.m (1-based pixel coordinates)."""
INTRINSICS = np.array([
    [RGB_INTRINSICS_MATLAB[0], 0.0, RGB_INTRINSICS_MATLAB[2] - 1.0],
    [0.0, RGB_INTRINSICS_MATLAB[1], RGB_INTRINSICS_MATLAB[3] - 1.0],
    [0.0, 0.0, 1.0],
])
"""3×3 camera matrix of the 480×640 labelled frames, 0-based pixel centres."""
LABELLED_REGION = (slice(44, 471), slice(40, 601))
"""Rows, columns (0-based) of the toolbox's get_projection_mask: labels outside are set to ignore."""


def class_names(classes: int = DEFAULT_CLASSES, input_dir: str | None = None) -> tuple:
    """Class names of the ``classes``-class variant: 40 and 13 built in, 894 read from ``allClassName`` of
    ``input_dir``'s classMapping40.mat (:func:`raw_class_names`)."""
    if check_classes(classes) == RAW_CLASSES:
        if input_dir is None:
            raise ValueError("--input_dir is required for dataset 'nyuv2': the names of the 894 classes are read "
                             f"from its {MAPPING40_FILENAME}")
        return raw_class_names(os.path.join(input_dir, MAPPING40_FILENAME))
    return CLASS_NAMES_40 if classes == 40 else CLASS_NAMES_13


def palette(classes: int = DEFAULT_CLASSES) -> np.ndarray:
    """``PALETTE_40``, ``PALETTE_13`` or ``PALETTE_894``."""
    return {40: PALETTE_40, 13: PALETTE_13, RAW_CLASSES: PALETTE_894}[check_classes(classes)]


def check_classes(classes) -> int:
    """``classes`` if it is one of :data:`CLASS_OPTIONS` (40, 13, 894), else ``ValueError``."""
    if isinstance(classes, bool) or classes not in CLASS_OPTIONS:
        raise ValueError(f"nyuv2_classes must be one of {CLASS_OPTIONS}, got {classes!r}")
    return int(classes)


@functools.lru_cache(maxsize=4)
def raw_class_names(mapping40_path: str) -> tuple:
    """The 894 names of ``allClassName`` (classMapping40.mat), index = train id = raw id − 1; a name listed more
    than once gets its raw id appended to each occurrence (``"name #k"``), an empty one is called ``"class k"``."""
    source = f"{mapping40_path}:allClassName"
    names = matlab_files.strings(matlab_files.load_v5(mapping40_path, ["allClassName"])["allClassName"], source)
    if len(names) != RAW_CLASSES:
        raise ValueError(f"{source!r} must name the {RAW_CLASSES} raw classes, got {len(names)} names")
    names = [name.strip() or f"class {k}" for k, name in enumerate(names, 1)]
    repeated = {name for name in names if names.count(name) > 1}
    return tuple(f"{name} #{k}" if name in repeated else name for k, name in enumerate(names, 1))


def _check_depth_source(depth_source):
    if depth_source not in DEPTH_VARIABLES:
        raise ValueError(f"depth_source must be one of {tuple(DEPTH_VARIABLES)}, got {depth_source!r}")
    return depth_source


def _labeled_arrays(path: str):
    """``(handle, count)`` of the labelled .mat file, its arrays' shapes checked (frames 480×640)."""
    handle = matlab_files.open_v73(path)
    images = matlab_files.dataset(handle, "images", 4, path)
    count, channels, width, height = images.shape
    if (channels, height, width) != (3,) + DEFAULT_IMAGE_SIZE:
        raise ValueError(f"{path!r}: 'images' must be (N, 3, 640, 480) (MATLAB 480×640×3×N), got {images.shape}")
    for name in ("labels", "depths", "rawDepths"):
        shape = matlab_files.dataset(handle, name, 3, path).shape
        if shape != (count, width, height):
            raise ValueError(f"{path!r}: {name!r} is {shape}, 'images' is {images.shape}")
    return handle, count


def split_indices(input_dir: str, split: str) -> list[int]:
    """1-based frame indices of ``split`` from ``splits.mat`` (``trainNdxs`` / ``testNdxs``), checked."""
    if split not in SPLITS:
        raise ValueError(f"NYUv2 split must be one of {SPLITS}, got {split!r}")
    path = os.path.join(input_dir, SPLITS_FILENAME)
    indices = matlab_files.integers(matlab_files.load_v5(path, [SPLIT_VARIABLES[split]])[SPLIT_VARIABLES[split]],
                                    f"{path}:{SPLIT_VARIABLES[split]}")
    if len(set(indices.tolist())) != indices.size:
        raise ValueError(f"{path!r}: {SPLIT_VARIABLES[split]} lists a frame twice")
    return indices.tolist()


def list_frames(input_dir: str, split: str, classes: int = DEFAULT_CLASSES,
                depth_source: str = DEFAULT_DEPTH_SOURCE) -> list[dict]:
    """Frames of ``split`` as ``{"name", "mat", "index", "depth_variable", "mapping40", "mapping13", "classes"}``
    (``index`` 0-based into the labelled arrays; ``mapping13`` None for 40 and 894 classes).

    Missing files raise ``FileNotFoundError`` naming them; an index outside 1..N (N frames in the labelled file)
    ``ValueError``.
    """
    classes = check_classes(classes)
    depth_variable = DEPTH_VARIABLES[_check_depth_source(depth_source)]
    paths = {"mat": os.path.join(input_dir, LABELED_FILENAME),
             "mapping40": os.path.join(input_dir, MAPPING40_FILENAME),
             "mapping13": os.path.join(input_dir, MAPPING13_FILENAME) if classes == 13 else None}
    for path in (paths["mat"], os.path.join(input_dir, SPLITS_FILENAME), paths["mapping40"], paths["mapping13"]):
        if path is not None and not os.path.isfile(path):
            raise FileNotFoundError(f"missing NYUv2 file {path!r}")
    indices = split_indices(input_dir, split)
    _, count = _labeled_arrays(paths["mat"])
    bad = [index for index in indices if not 1 <= index <= count]
    if bad:
        raise ValueError(f"{os.path.join(input_dir, SPLITS_FILENAME)!r}: {SPLIT_VARIABLES[split]} has indices "
                         f"{bad[:10]} outside 1..{count} (the frames of {paths['mat']!r})")
    if classes == RAW_CLASSES:  # check the mapping files before the workers start
        raw_class_names(paths["mapping40"])
    else:
        label_lookup(paths["mapping40"], paths["mapping13"])
    return [{"name": f"{index:04d}", "index": index - 1, "depth_variable": depth_variable, "classes": classes,
             **paths} for index in indices]


@functools.lru_cache(maxsize=4)
def label_lookup(mapping40_path: str, mapping13_path: str | None = None) -> np.ndarray:
    """uint8 table raw NYU class id (0..894) → train id: NYU40 (``mapping13_path`` None) or 13 classes.

    ``mapClass`` (classMapping40.mat) must map the 894 ids into 1..40 (0 → ignore is accepted too);
    ``classMapping13.labels13`` (class13Mapping.mat; its first field if none is called so) the 40 ids into 1..13.
    """
    source = f"{mapping40_path}:mapClass"
    to40 = matlab_files.integers(matlab_files.load_v5(mapping40_path, ["mapClass"])["mapClass"], source)
    if to40.min() < 0 or to40.max() > 40:
        raise ValueError(f"{source!r}: NYU40 ids must lie in 1..40, got {sorted(set(to40.tolist()))[:10]}")
    nyu40_to_train = np.full(41, IGNORE_LABEL, np.uint8)
    nyu40_to_train[1:] = np.arange(40)
    if mapping13_path is not None:
        struct = matlab_files.load_v5(mapping13_path, ["classMapping13"])["classMapping13"]
        fields = struct.dtype.names or ("labels13",)
        field = "labels13" if "labels13" in fields else fields[0]  # ESANet reads the first field by position
        source13 = f"{mapping13_path}:classMapping13.{field}"
        to13 = matlab_files.integers(matlab_files.struct_field(struct, field, mapping13_path), source13)
        if to13.size != 40 or to13.min() < 1 or to13.max() > 13:
            raise ValueError(f"{source13!r} must map the 40 NYU40 ids into 1..13, got {to13.tolist()}")
        nyu40_to_train[1:] = to13 - 1
    table = np.full(to40.size + 1, IGNORE_LABEL, np.uint8)
    table[1:] = nyu40_to_train[to40]
    return table


def raw_label_lookup() -> np.ndarray:
    """uint16 table raw NYU class id (0..894) → train id of the 894 classes: k → k − 1, 0 → 65535 (ignore)."""
    table = np.arange(-1, RAW_CLASSES, dtype=np.int64)
    table[0] = IGNORE_LABEL_16
    return table.astype(np.uint16)


def _train_id_table(frame: dict) -> np.ndarray:
    if frame.get("classes") == RAW_CLASSES:
        return raw_label_lookup()
    return label_lookup(frame["mapping40"], frame["mapping13"])


def load_frame(frame: dict, image_size=None) -> dict:
    """Read one frame (default 480×640, native): ``{"rgb", "depth_m", "label", "intrinsics", "name"}``.

    ``label`` is uint8 (40, 13 classes; 255 = ignore) or uint16 (894 classes; 65535 = ignore).  Label ids beyond
    the mapping raise ``ValueError`` naming the file and frame.
    """
    handle, _ = _labeled_arrays(frame["mat"])
    index = frame["index"]
    rgb = matlab_files.matlab_image(handle["images"][index])
    if rgb.dtype != np.uint8:
        raise ValueError(f"{frame['mat']!r}: 'images' must be uint8, got {rgb.dtype}")
    depth = matlab_files.matlab_image(handle[frame["depth_variable"]][index]).astype(np.float32)
    raw_ids = matlab_files.matlab_image(handle["labels"][index])
    table = _train_id_table(frame)
    if raw_ids.dtype.kind not in "iuf" or raw_ids.min() < 0 or raw_ids.max() >= table.size:
        raise ValueError(f"{frame['mat']!r} frame {index + 1}: label ids must lie in 0..{table.size - 1}, "
                         f"got {raw_ids.min()}..{raw_ids.max()}")
    label = table[raw_ids.astype(np.int64)]
    outside = np.ones(label.shape, bool)
    outside[LABELLED_REGION] = False
    label[outside] = IGNORE_LABEL_16 if label.dtype == np.uint16 else IGNORE_LABEL
    size = tuple(DEFAULT_IMAGE_SIZE if image_size is None else image_size)
    intrinsics = INTRINSICS.copy()
    if size != DEFAULT_IMAGE_SIZE:
        intrinsics = frame_resizing.scale_intrinsics(intrinsics, DEFAULT_IMAGE_SIZE, size)
        rgb = frame_resizing.resize_rgb(rgb, size)
        depth = frame_resizing.resize_nearest(depth, size)
        label = frame_resizing.resize_nearest(label, size)
    return {"rgb": np.ascontiguousarray(rgb), "depth_m": np.ascontiguousarray(depth),
            "label": np.ascontiguousarray(label), "intrinsics": intrinsics, "name": frame["name"]}



@dataclasses.dataclass(frozen=True)
class _NYUv2(sources.ModuleDataset):
    def source(self, input_dir, options):
        classes = options["nyuv2_classes"]
        return sources.Source(NAME, class_names(classes, input_dir), MAX_DEPTH_M, DEFAULT_IMAGE_SIZE,
                              sources.colours(palette(classes)))


DATASET = _NYUv2(
    NAME, options=(sources.Option("nyuv2_classes", DEFAULT_CLASSES,
                                  "NYUv2: label set (default 40; 894 = the raw classes, named by allClassName of "
                                  "classMapping40.mat and stored as 16-bit labels with ignore 65535).",
                                  check_classes, CLASS_OPTIONS), sources.DEPTH_SOURCE),
    splits=SPLITS, default_splits=("train", "test"), module=__name__,
    option_keywords=(("nyuv2_classes", "classes"),),
    input_help="nyu_depth_v2_labeled.mat, splits.mat, classMapping40.mat and class13Mapping.mat")
"""The registered dataset (:mod:`rfbnet_tf.datasets.sources`)."""
