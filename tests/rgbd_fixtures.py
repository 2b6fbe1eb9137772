"""Tiny NYU Depth v2 and SUN RGB-D downloads, written in exactly the official file formats.

Plain functions (not fixtures) imported by tests/test_nyuv2.py and tests/test_sunrgbd.py.  Each writes a few frames
whose content is random but returned, so the tests can check the converted records pixel by pixel:

* NYUv2 (:func:`write_nyuv2_tree`): ``nyu_depth_v2_labeled.mat`` as MATLAB v7.3 writes it (HDF5 after a 512-byte
  MATLAB header, every array transposed: images ``(N, 3, 640, 480)``, depths / rawDepths / labels
  ``(N, 640, 480)``), 5 frames at the real 480×640; ``splits.mat``, ``classMapping40.mat`` and
  ``class13Mapping.mat`` as MATLAB v5 (``scipy.io.savemat``) with the variables of the originals (trainNdxs /
  testNdxs N×1 doubles; mapClass 1×894, className 1×40 cell, allClassName 1×894 cell; struct classMapping13 with
  labels13 1×40 and labelName 1×13 cell).  The 894 → 40 → 13 mappings are random (each target id used), not the
  real tables: the tests compute the expected train ids from them.
* SUN RGB-D (:func:`write_sunrgbd_tree`): ``SUNRGBD/{sensor}/.../{frame}/image|depth|depth_bfx|intrinsics.txt``
  for 5 frames of different sizes (multiples of 30×40; RGB smooth colour ramps, as JPEG), the toolbox's ``SUNRGBDMeta.mat`` (struct array with
  rgbpath, depthpath, ... under the Princeton prefix ``/n/fs/sun3d/data/``), ``SUNRGBD2Dseg.mat`` (v7.3: the
  struct array's ``seglabel`` field as N×1 object references into ``#refs#``), ``seg37list.mat`` and
  ``allsplit.mat`` (alltrain / alltest cells of frame folders).  Depth PNGs hold millimetres rotated left by 3 bits
  (the inverse of read3dPoints.m's decoding).
"""

from __future__ import annotations

import os

import cv2
import h5py
import numpy as np
import scipy.io

NYU_SIZE = (480, 640)
NYU_FRAMES = 5
NYU_SPLITS = {"trainNdxs": [1, 3, 4], "testNdxs": [2, 5]}
MATLAB_HEADER = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."


def _cell(strings) -> np.ndarray:
    """A 1×n MATLAB cell array of strings for ``scipy.io.savemat``."""
    cell = np.empty((1, len(strings)), dtype=object)
    for index, text in enumerate(strings):
        cell[0, index] = text
    return cell


def _v73_file(path):
    """An HDF5 file laid out as MATLAB v7.3 writes one: a 512-byte user block starting with MATLAB's header."""
    handle = h5py.File(path, "w", userblock_size=512)
    handle.close()
    with open(path, "r+b") as raw:
        raw.write(MATLAB_HEADER.ljust(116) + b"\x00" * 8 + b"\x00\x02IM")
    return h5py.File(path, "a")


def _matlab_dataset(handle, name, array, matlab_class):
    """Store a MATLAB array (given in MATLAB's own H×W×... order) as v7.3 does: dimensions reversed."""
    data = handle.create_dataset(name, data=np.ascontiguousarray(np.transpose(array)))
    data.attrs["MATLAB_class"] = np.bytes_(matlab_class)
    return data


def write_nyuv2_tree(root, seed=0) -> dict:
    """Write the four NYUv2 files; returns ``{"rgb", "depths", "raw_depths", "labels", "map_class", "labels13"}``
    (frames first: rgb (N, 480, 640, 3), labels (N, 480, 640) raw ids 0..894)."""
    os.makedirs(root, exist_ok=True)
    rng = np.random.default_rng(seed)
    height, width = NYU_SIZE
    n = NYU_FRAMES
    rgb = rng.integers(0, 256, (n, height, width, 3), dtype=np.uint8)
    depths = rng.uniform(0.5, 9.5, (n, height, width)).astype(np.float32)
    raw_depths = np.where(rng.random((n, height, width)) < 0.2, 0.0, depths).astype(np.float32)
    raw_depths[:, :40, :] = 0.0  # no Kinect depth in the top border
    labels = rng.integers(0, 895, (n, height, width)).astype(np.uint16)
    map_class = np.concatenate([np.arange(1, 41), rng.integers(1, 41, 894 - 40)])
    rng.shuffle(map_class)
    labels13 = np.concatenate([np.arange(1, 14), rng.integers(1, 14, 40 - 13)])
    rng.shuffle(labels13)
    with _v73_file(os.path.join(root, "nyu_depth_v2_labeled.mat")) as handle:
        # MATLAB shapes: images 480×640×3×N, the others 480×640×N
        _matlab_dataset(handle, "images", np.transpose(rgb, (1, 2, 3, 0)), "uint8")
        _matlab_dataset(handle, "depths", np.transpose(depths, (1, 2, 0)), "single")
        _matlab_dataset(handle, "rawDepths", np.transpose(raw_depths, (1, 2, 0)), "single")
        _matlab_dataset(handle, "labels", np.transpose(labels, (1, 2, 0)), "uint16")
    scipy.io.savemat(os.path.join(root, "splits.mat"),
                     {key: np.array(value, np.float64)[:, None] for key, value in NYU_SPLITS.items()})
    scipy.io.savemat(os.path.join(root, "classMapping40.mat"), {
        "mapClass": map_class[None, :].astype(np.float64),
        "className": _cell([f"class{k}" for k in range(1, 41)]),
        "allClassName": _cell([f"raw{k}" for k in range(1, 895)]),
    })
    struct = np.empty((1, 1), dtype=[("labels13", object), ("labelName", object)])
    struct[0, 0]["labels13"] = labels13[None, :].astype(np.float64)
    struct[0, 0]["labelName"] = _cell([f"c13_{k}" for k in range(1, 14)])
    scipy.io.savemat(os.path.join(root, "class13Mapping.mat"), {"classMapping13": struct})
    return {"rgb": rgb, "depths": depths, "raw_depths": raw_depths, "labels": labels, "map_class": map_class,
            "labels13": labels13}


# ----------------------------------------------------------------------------------------------------- SUN RGB-D

SUN_PREFIX = "/n/fs/sun3d/data/SUNRGBD/"
# folder, native (height, width): multiples of SUN_OUTPUT_SIZE
SUN_FRAMES = (
    ("kv1/NYUdata/NYU0001", (60, 80)),
    ("kv2/kinect2data/000002_2014-05-26_14-23-37_260595134347_rgbf000103-resize", (90, 120)),
    ("realsense/lg/2014_10_24-15_26_30-1311000073", (30, 40)),
    ("xtion/xtion_align_data/2014_10_01-17_26_04-1311000045", (120, 160)),
    ("kv1/b3dodata/img_0063", (60, 80)),
)
SUN_OUTPUT_SIZE = (30, 40)
SUN_SPLITS = {"alltrain": [3, 0, 2], "alltest": [1, 4]}  # indices into SUN_FRAMES (= SUNRGBDMeta order)


def sun_rotate_left(millimetres: np.ndarray) -> np.ndarray:
    """The 16-bit PNG value the SUN RGB-D files hold for ``millimetres`` (rotated left by 3 bits)."""
    mm = millimetres.astype(np.uint32)
    return (((mm << 3) | (mm >> 13)) & 0xFFFF).astype(np.uint16)


def write_sunrgbd_tree(root, seed=0) -> list:
    """Write the SUN RGB-D folders and toolbox files; returns one dict per SUNRGBDMeta index: ``{"folder", "rgb",
    "depth_mm" (depth_bfx), "raw_mm" (depth), "seglabel" (0..37), "K" (as in intrinsics.txt)}``."""
    rng = np.random.default_rng(seed)
    truth = []
    for folder, (height, width) in SUN_FRAMES:
        name = folder.rsplit("/", 1)[-1]
        frame_dir = os.path.join(root, "SUNRGBD", *folder.split("/"))
        rows, cols = np.meshgrid(np.linspace(0, 1, height), np.linspace(0, 1, width), indexing="ij")
        slopes = rng.uniform(-80, 80, (2, 3))  # smooth colour ramps: JPEG keeps them within a few levels
        rgb = np.clip(128 + rows[..., None] * slopes[0] + cols[..., None] * slopes[1], 0, 255).astype(np.uint8)
        depth_mm = rng.integers(400, 7900, (height, width)).astype(np.uint16)
        raw_mm = np.where(rng.random((height, width)) < 0.3, 0, depth_mm).astype(np.uint16)
        seglabel = rng.integers(0, 38, (height, width)).astype(np.float64)
        k = np.array([[rng.uniform(0.8, 1.2) * width, 0.0, rng.uniform(0.4, 0.6) * width],
                      [0.0, rng.uniform(0.8, 1.2) * width, rng.uniform(0.4, 0.6) * height], [0.0, 0.0, 1.0]])
        for sub, image in (("image", None), ("depth", raw_mm), ("depth_bfx", depth_mm)):
            os.makedirs(os.path.join(frame_dir, sub), exist_ok=True)
            if image is not None:
                cv2.imwrite(os.path.join(frame_dir, sub, f"{name}.png"), sun_rotate_left(image))
        cv2.imwrite(os.path.join(frame_dir, "image", f"{name}.jpg"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_JPEG_QUALITY, 100])
        np.savetxt(os.path.join(frame_dir, "intrinsics.txt"), k, fmt="%f")
        truth.append({"folder": folder, "name": name, "rgb": rgb, "depth_mm": depth_mm, "raw_mm": raw_mm,
                      "seglabel": seglabel, "K": np.loadtxt(os.path.join(frame_dir, "intrinsics.txt"))})
    metadata = os.path.join(root, "SUNRGBDtoolbox", "Metadata")
    os.makedirs(metadata)
    fields = ("sequenceName", "rgbpath", "depthpath", "rgbname", "depthname", "K")
    meta = np.empty((1, len(truth)), dtype=[(field, object) for field in fields])
    for index, frame in enumerate(truth):
        meta[0, index] = (frame["folder"], f"{SUN_PREFIX}{frame['folder']}/image/{frame['name']}.jpg",
                          f"{SUN_PREFIX}{frame['folder']}/depth/{frame['name']}.png", f"{frame['name']}.jpg",
                          f"{frame['name']}.png", frame["K"])
    scipy.io.savemat(os.path.join(metadata, "SUNRGBDMeta.mat"), {"SUNRGBDMeta": meta})
    scipy.io.savemat(os.path.join(metadata, "seg37list.mat"),
                     {"seg37list": _cell([f"class_{k}" for k in range(1, 38)])})
    with _v73_file(os.path.join(metadata, "SUNRGBD2Dseg.mat")) as handle:
        refs = handle.create_group("#refs#")
        group = handle.create_group("SUNRGBD2Dseg")
        group.attrs["MATLAB_class"] = np.bytes_("struct")
        references = group.create_dataset("seglabel", (len(truth), 1), dtype=h5py.ref_dtype)
        for index, frame in enumerate(truth):
            data = _matlab_dataset(refs, f"seg{index}", frame["seglabel"], "double")
            references[index, 0] = data.ref
    split_dir = os.path.join(root, "SUNRGBDtoolbox", "traintestSUNRGBD")
    os.makedirs(split_dir)
    scipy.io.savemat(os.path.join(split_dir, "allsplit.mat"), {
        key: _cell([SUN_PREFIX + truth[index]["folder"] for index in indices]) for key, indices in SUN_SPLITS.items()
    })
    return truth
