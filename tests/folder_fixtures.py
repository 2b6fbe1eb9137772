"""A ``--dataset=folder`` input built in exactly the documented layout (README "Your own RGB-D data"): rendered
synthetic rooms relabelled to 4 classes with raw ids {10, 20, 30, 40} and ignore id 0, depth as 16-bit PNG in
millimetres, one frame with its own intrinsics file, and an unlabelled split.  Written with OpenCV / numpy / json,
the tools a user writes these files with."""

import json
import os

import cv2
import numpy as np

from rfbnet_tf.datasets import synthetic

SIZE = (48, 64)
CLASSES = [{"name": "floor", "id": 10, "color": [128, 64, 128]}, {"name": "wall", "id": 20},
           {"name": "object", "id": 30, "color": [220, 20, 60]}, {"name": "table", "id": 40}]
RAW_IDS = np.array([10, 20, 20, 10, 20, 30, 30, 30, 30, 40])
"""Synthetic class → raw id: floor, rug → floor; wall, ceiling, poster → wall; box..sphere → object; table."""
INTRINSICS = {"fx": 60.0, "fy": 61.0, "cx": 31.5, "cy": 23.25}
OWN_INTRINSICS = {"fx": 55.0, "fy": 56.0, "cx": 30.0, "cy": 22.0}
"""Of the frame ``train/room_001`` (its intrinsics/ file)."""
SPLITS = {"train": 4, "val": 2, "test": 2}
UNLABELLED = "test"
IGNORED_BLOCK = (slice(0, 4), slice(0, 6))
"""Pixels of every labelled frame set to the ignore id 0."""


def description(**changes) -> dict:
    content = {"classes": CLASSES, "ignore_ids": [0], "depth_scale": 0.001, "intrinsics": INTRINSICS,
               "max_depth": 10.0}
    content.update(changes)
    return {key: value for key, value in content.items() if value is not None}


def frame_content(split, index):
    """``(rgb, depth_mm uint16, raw label uint8)`` of one frame."""
    seed = {"train": 100, "val": 200, "test": 300}[split] + index
    scene = synthetic.render_scene(seed, *SIZE)
    depth_mm = np.clip(np.rint(scene["depth"] * 1000.0), 0, 65535).astype(np.uint16)
    raw = RAW_IDS[scene["label"]].astype(np.uint8)
    raw[IGNORED_BLOCK] = 0
    return scene["rgb"], depth_mm, raw


def write_folder(root, splits=SPLITS, content=None) -> str:
    root = str(root)
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "dataset.json"), "w") as handle:
        json.dump(description() if content is None else content, handle)
    for split, count in splits.items():
        for folder in ("rgb", "depth") + (() if split == UNLABELLED else ("label",)):
            os.makedirs(os.path.join(root, split, folder), exist_ok=True)
        for index in range(count):
            stem = f"room_{index:03d}"
            rgb, depth_mm, raw = frame_content(split, index)
            cv2.imwrite(os.path.join(root, split, "rgb", stem + ".png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
            cv2.imwrite(os.path.join(root, split, "depth", stem + ".png"), depth_mm)
            if split != UNLABELLED:
                cv2.imwrite(os.path.join(root, split, "label", stem + ".png"), raw)
    os.makedirs(os.path.join(root, "train", "intrinsics"), exist_ok=True)
    with open(os.path.join(root, "train", "intrinsics", "room_001.json"), "w") as handle:
        json.dump(OWN_INTRINSICS, handle)
    return root


def camera(values) -> np.ndarray:
    return np.array([[values["fx"], 0, values["cx"]], [0, values["fy"], values["cy"]], [0, 0, 1]], np.float64)
