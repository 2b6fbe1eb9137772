"""Tiny dataset trees laid out exactly like the official Cityscapes and ScanNet downloads.

Plain functions (not fixtures) imported by the tests.  Each writes a few small frames whose
content is known in closed form and returns that content, so tests can check converted records
pixel by pixel:

* Cityscapes (``leftImg8bit``, ``disparity``, ``camera``, ``gtFine`` of one ``input_dir``),
  frames 64×128 (the 1024×2048 camera scaled by 1/16): random RGB; label ids 0..33 as vertical
  stripes (every id of the table in every frame); disparity PNG values 0 (invalid) or in
  [300, 8000] (depths of about 0.95–25 m).
* ScanNet (``scans/{scene}/color|depth|label-filt|intrinsic``, ``scannetv2-labels.combined.tsv``,
  ``scannetv2_{split}.txt``), quarter size: colour 242×324 (1296×968 / 4) made of flat colour
  blocks (JPEG keeps their interiors), depth 120×160 uint16 mm, label-filt 242×324 with ScanNet
  ids as vertical stripes: 0 and ``SCANNET_ID_OFFSET + k`` for every NYU40 id k = 1..40.
"""

from __future__ import annotations

import json
import os

import cv2
import numpy as np

CITYSCAPES_SIZE = (64, 128)
CITYSCAPES_SCALE = 1.0 / 16.0  # fixture frames are 1024×2048 / 16
# Real Cityscapes camera values (aachen), scaled with the frame.
CITYSCAPES_CAMERA = {
    "extrinsic": {"baseline": 0.209313, "pitch": 0.038, "roll": 0.0, "x": 1.7, "y": 0.1,
                  "yaw": -0.0195, "z": 1.22},
    "intrinsic": {"fx": 2262.52 / 16, "fy": 2265.3017905988554 / 16, "u0": 1096.98 / 16,
                  "v0": 513.137 / 16},
}
CITYSCAPES_NUM_IDS = 34

SCANNET_COLOR_SIZE = (242, 324)   # 968×1296 / 4
SCANNET_DEPTH_SIZE = (120, 160)   # 480×640 / 4
SCANNET_DEPTH_INTRINSICS = np.array([  # real ScanNet depth camera values / 4
    [577.590698 / 4, 0.0, 318.905426 / 4, 0.0],
    [0.0, 578.729797 / 4, 242.683609 / 4, 0.0],
    [0.0, 0.0, 1.0, 0.0],
    [0.0, 0.0, 0.0, 1.0],
])
SCANNET_ID_OFFSET = 100
SCANNET_STRIPE_IDS = [0] + [SCANNET_ID_OFFSET + k for k in range(1, 41)]
TSV_HEADER = ("id", "raw_category", "category", "count", "nyu40id", "eigen13id", "nyu40class",
              "mpcat40index", "mpcat40")


def write_png(path: str, array: np.ndarray):
    """Write uint8/uint16 H×W or uint8 H×W×3 (RGB order) as PNG, creating the folders."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(path, array):
        raise OSError(f"could not write {path}")


def stripes(width: int, values) -> np.ndarray:
    """Column index → value for ``len(values)`` vertical stripes: stripe k spans columns
    ``[floor(k W / n), floor((k + 1) W / n))``."""
    n = len(values)
    return np.asarray(values)[(np.arange(width) * n) // width]


def cityscapes_paths(root, split, city, stem):
    return {
        "image": os.path.join(root, "leftImg8bit", split, city, f"{stem}_leftImg8bit.png"),
        "disparity": os.path.join(root, "disparity", split, city, f"{stem}_disparity.png"),
        "camera": os.path.join(root, "camera", split, city, f"{stem}_camera.json"),
        "label": os.path.join(root, "gtFine", split, city, f"{stem}_gtFine_labelIds.png"),
    }


def write_cityscapes_tree(root, frames=None, seed=0, unlabelled=()) -> dict:
    """Write a Cityscapes tree; ``frames`` = ``{split: {city: count}}``; the splits in ``unlabelled`` get no
    ``gtFine`` files (as a test split without annotations).

    Returns ``{name: {"split", "rgb", "disparity", "label_ids", "camera", "paths"}}``.
    """
    frames = frames or {"train": {"aachen": 2}, "val": {"frankfurt": 1}}
    rng = np.random.default_rng(seed)
    height, width = CITYSCAPES_SIZE
    truth = {}
    for split, cities in frames.items():
        for city, count in cities.items():
            for index in range(count):
                stem = f"{city}_{index:06d}_{19 + index:06d}"
                paths = cityscapes_paths(root, split, city, stem)
                rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
                ids = np.roll(np.arange(CITYSCAPES_NUM_IDS), index)
                label_ids = np.tile(stripes(width, ids), (height, 1)).astype(np.uint8)
                disparity = rng.integers(300, 8001, (height, width)).astype(np.uint16)
                disparity[rng.random((height, width)) < 0.1] = 0
                write_png(paths["image"], rgb)
                write_png(paths["disparity"], disparity)
                if split not in unlabelled:
                    write_png(paths["label"], label_ids)
                os.makedirs(os.path.dirname(paths["camera"]), exist_ok=True)
                with open(paths["camera"], "w", encoding="utf-8") as handle:
                    json.dump(CITYSCAPES_CAMERA, handle, indent=4)
                truth[stem] = {"split": split, "rgb": rgb, "disparity": disparity,
                               "label_ids": label_ids, "camera": CITYSCAPES_CAMERA, "paths": paths}
    return truth


def scannet_paths(root, scene, index):
    scene_dir = os.path.join(root, "scans", scene)
    return {
        "color": os.path.join(scene_dir, "color", f"{index}.jpg"),
        "depth": os.path.join(scene_dir, "depth", f"{index}.png"),
        "label": os.path.join(scene_dir, "label-filt", f"{index}.png"),
        "intrinsics": os.path.join(scene_dir, "intrinsic", "intrinsic_depth.txt"),
    }


def scannet_block_colors(seed: int, rows: int = 4, cols: int = 4) -> np.ndarray:
    """(rows, cols, 3) uint8 colours of the flat blocks of a ScanNet fixture colour frame."""
    return np.random.default_rng(seed).integers(20, 236, (rows, cols, 3), dtype=np.uint8)


def write_scannet_tree(root, scenes=None, frame_indices=(0, 100, 150), seed=0) -> dict:
    """Write a ScanNet tree; ``scenes`` = ``{split: [scene, ...]}``.

    Returns ``{name: {"split", "blocks", "depth_mm", "label_ids", "paths"}}`` where ``name``
    is ``"{scene}/{index}"`` and ``blocks`` the colour-block colours.
    """
    scenes = scenes or {"train": ["scene0000_00", "scene0000_01"], "val": ["scene0011_00"]}
    rng = np.random.default_rng(seed)
    color_h, color_w = SCANNET_COLOR_SIZE
    depth_h, depth_w = SCANNET_DEPTH_SIZE
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "scannetv2-labels.combined.tsv"), "w", encoding="utf-8") as handle:
        handle.write("\t".join(TSV_HEADER) + "\n")
        for nyu40 in range(1, 41):
            row = (SCANNET_ID_OFFSET + nyu40, f"raw{nyu40}", f"cat{nyu40}", 10, nyu40, 0,
                   f"nyu{nyu40}", 0, "void")
            handle.write("\t".join(str(v) for v in row) + "\n")
    truth = {}
    for split, names in scenes.items():
        with open(os.path.join(root, f"scannetv2_{split}.txt"), "w", encoding="utf-8") as handle:
            handle.write("\n".join(names) + "\n")
        for scene in names:
            for index in frame_indices:
                paths = scannet_paths(root, scene, index)
                frame_seed = int(rng.integers(0, 2**31))
                blocks = scannet_block_colors(frame_seed)
                rows = (np.arange(color_h) * blocks.shape[0]) // color_h
                cols = (np.arange(color_w) * blocks.shape[1]) // color_w
                color = blocks[rows[:, None], cols[None, :]]
                depth = rng.integers(500, 5001, (depth_h, depth_w)).astype(np.uint16)
                depth[rng.random((depth_h, depth_w)) < 0.1] = 0
                ids = np.roll(np.array(SCANNET_STRIPE_IDS), index // 50)
                label_ids = np.tile(stripes(color_w, ids), (color_h, 1)).astype(np.uint16)
                os.makedirs(os.path.dirname(paths["color"]), exist_ok=True)
                cv2.imwrite(paths["color"], cv2.cvtColor(color, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, 95])
                write_png(paths["depth"], depth)
                write_png(paths["label"], label_ids)
                truth[f"{scene}/{index}"] = {"split": split, "blocks": blocks, "depth_mm": depth,
                                            "label_ids": label_ids, "stripe_ids": ids,
                                            "paths": paths}
            os.makedirs(os.path.dirname(paths["intrinsics"]), exist_ok=True)
            with open(paths["intrinsics"], "w", encoding="utf-8") as handle:
                for line in SCANNET_DEPTH_INTRINSICS:  # as SensReader's save_mat_to_file
                    np.savetxt(handle, line[np.newaxis], fmt="%f")
    return truth


def read_records(record_dir, split):
    """Every example of ``split`` in ``record_dir``, parsed to numpy arrays, in shard/file order."""
    import tensorflow as tf

    from rfbnet_tf.datasets import records, shards

    out = []
    label_bits = records.stored_label_bits(records.load_dataset_info(record_dir))
    for path in shards.shard_files(record_dir, split):
        for serialized in tf.data.TFRecordDataset(path):
            out.append({k: v.numpy() for k, v in records.parse_example(serialized, label_bits=label_bits).items()})
    return out


def read_records_by_name(record_dir, split):
    """``read_records`` keyed by the decoded frame name."""
    return {example["name"].decode(): example for example in read_records(record_dir, split)}


def write_scannet_frames_25k(sens_root, root, test_scenes=()) -> dict:
    """The ``scannet_frames_25k`` layout of the SensReader tree ``sens_root`` (same pixels): every frame whose
    index is a multiple of 100 as ``{scene}/color|depth|label/{index:06d}``, labels as 8-bit NYU40 ids (the tsv of
    :func:`write_scannet_tree` maps ``SCANNET_ID_OFFSET + k`` to k), ``intrinsics_depth.txt``, the split files;
    ``test_scenes`` (copied from ``sens_root``'s scenes of the same name) go to ``scannet_frames_test`` without
    labels.  Returns ``{split: [scene, ...]}``."""
    import shutil

    splits = {}
    os.makedirs(root, exist_ok=True)
    for name in sorted(os.listdir(sens_root)):
        if name.startswith("scannetv2_") and name.endswith(".txt"):
            shutil.copy(os.path.join(sens_root, name), os.path.join(root, name))
            with open(os.path.join(sens_root, name), encoding="utf-8") as handle:
                splits[name[len("scannetv2_"):-4]] = [line.strip() for line in handle if line.strip()]
    jobs = [(scene, "scannet_frames_25k", True) for scenes in splits.values() for scene in scenes]
    jobs += [(scene, "scannet_frames_test", False) for scene in test_scenes]
    for scene, top, labelled in jobs:
        source = os.path.join(sens_root, "scans", scene)
        target = os.path.join(root, top, scene)
        for folder in ("color", "depth") + (("label",) if labelled else ()):
            os.makedirs(os.path.join(target, folder), exist_ok=True)
        shutil.copy(os.path.join(source, "intrinsic", "intrinsic_depth.txt"), os.path.join(target, "intrinsics_depth.txt"))
        for color in os.listdir(os.path.join(source, "color")):
            index = int(os.path.splitext(color)[0])
            if index % 100:
                continue
            shutil.copy(os.path.join(source, "color", color), os.path.join(target, "color", f"{index:06d}.jpg"))
            shutil.copy(os.path.join(source, "depth", f"{index}.png"), os.path.join(target, "depth", f"{index:06d}.png"))
            if labelled:
                ids = cv2.imread(os.path.join(source, "label-filt", f"{index}.png"), cv2.IMREAD_UNCHANGED)
                nyu40 = np.where(ids > 0, ids.astype(np.int64) - SCANNET_ID_OFFSET, 0).astype(np.uint8)
                write_png(os.path.join(target, "label", f"{index:06d}.png"), nyu40)
    if test_scenes:
        splits["test"] = list(test_scenes)
    return splits
