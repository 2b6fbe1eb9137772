"""The datasets ``prepare`` converts (:data:`DATASETS`): each one's classes and defaults (:class:`Source`), its
frame list and the loading of one frame (the synthetic scenes, or the converter ``rfbnet_tf.datasets.{name}``).

Imports no TensorFlow (it runs in the spawned workers of ``prepare``).
"""

from __future__ import annotations

import dataclasses
import importlib
import os

DATASETS = ("synthetic", "cityscapes", "scannet", "nyuv2", "sunrgbd")

DEPTH_SOURCES = ("toolbox", "raw")
"""NYUv2 / SUN RGB-D depth: the toolbox's filled depth (NYUv2 ``depths``, SUN RGB-D ``depth_bfx``) or the raw
sensor depth (``rawDepths``, ``depth``), completed by ``prepare`` like every other dataset's."""
DEPTH_SOURCE_DATASETS = ("nyuv2", "sunrgbd")


DEFAULT_SYNTHETIC_SIZE = (120, 160)


SYNTHETIC_MAX_DEPTH_M = 10.0
"""Default ``--max_depth`` for the synthetic scenes (indoor-like rooms, see datasets/synthetic)."""


@dataclasses.dataclass(frozen=True)
class Source:
    """What ``prepare`` needs to know of a dataset up front: its classes and defaults."""

    name: str
    class_names: tuple
    max_depth: float
    default_image_size: tuple | None
    palette: tuple = ()
    """RGB colour per class (``PALETTE`` of the dataset module)."""


def _converter(dataset: str):
    """The converter module of a real dataset (``rfbnet_tf.datasets.{dataset}``)."""
    return importlib.import_module(f"rfbnet_tf.datasets.{dataset}")


def check_dataset_options(dataset: str, nyuv2_classes=None, depth_source=None) -> dict:
    """The dataset-specific options of ``dataset`` with their defaults filled in (``{}`` for those without).

    ``nyuv2_classes`` applies to nyuv2 only, ``depth_source`` to nyuv2 and sunrgbd (``ValueError`` otherwise).
    """
    if nyuv2_classes is not None and dataset != "nyuv2":
        raise ValueError(f"nyuv2_classes applies to nyuv2 only, got nyuv2_classes={nyuv2_classes!r} for {dataset!r}")
    if depth_source is not None and dataset not in DEPTH_SOURCE_DATASETS:
        raise ValueError(f"depth_source applies to {DEPTH_SOURCE_DATASETS} only, got depth_source={depth_source!r} "
                         f"for {dataset!r}")
    options = {}
    if dataset in DEPTH_SOURCE_DATASETS:
        options["depth_source"] = "toolbox" if depth_source is None else depth_source
        if options["depth_source"] not in DEPTH_SOURCES:
            raise ValueError(f"depth_source must be one of {DEPTH_SOURCES}, got {depth_source!r}")
    if dataset == "nyuv2":
        from rfbnet_tf.datasets import nyuv2

        options["classes"] = nyuv2.check_classes(nyuv2.DEFAULT_CLASSES if nyuv2_classes is None else nyuv2_classes)
    return options


def _colours(palette) -> tuple:
    """``((r, g, b), ...)`` as Python ints (JSON-able) from a palette table or array."""
    return tuple(tuple(int(v) for v in colour) for colour in palette)


def get_source(dataset: str, input_dir=None, **options) -> Source:
    """``Source`` of ``dataset`` (one of :data:`DATASETS`); ``options``: :func:`check_dataset_options`'s.
    ``input_dir`` is read only for NYUv2's 894 classes (their names are in its classMapping40.mat)."""
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")
    if dataset == "nyuv2":
        from rfbnet_tf.datasets import nyuv2

        classes = options.get("classes", nyuv2.DEFAULT_CLASSES)
        return Source(dataset, nyuv2.class_names(classes, input_dir), nyuv2.MAX_DEPTH_M, nyuv2.DEFAULT_IMAGE_SIZE,
                      _colours(nyuv2.palette(classes)))
    if dataset == "synthetic":
        from rfbnet_tf.datasets import synthetic

        return Source("synthetic", tuple(synthetic.CLASS_NAMES), SYNTHETIC_MAX_DEPTH_M, None, _colours(synthetic.PALETTE))
    module = _converter(dataset)
    return Source(dataset, tuple(module.CLASS_NAMES), module.MAX_DEPTH_M, module.DEFAULT_IMAGE_SIZE,
                  _colours(module.PALETTE))


def list_frames(dataset: str, split: str, *, input_dir=None, synthetic_count=0,
                synthetic_size=DEFAULT_SYNTHETIC_SIZE, seed=0, frame_skip=None, **options) -> list[dict]:
    """Picklable frame descriptions of ``split`` (paths, or a seed for synthetic frames); ``options``:
    :func:`check_dataset_options`'s (the NYUv2 classes, the depth source)."""
    if dataset == "synthetic":
        from rfbnet_tf.datasets import synthetic

        seeds = synthetic.split_seeds(split, synthetic_count, seed)
        height, width = synthetic_size
        return [{"name": f"synthetic_{split}_{index:05d}_seed{int(s)}", "seed": int(s),
                 "size": (height, width)} for index, s in enumerate(seeds)]
    if input_dir is None:
        raise ValueError(f"--input_dir is required for dataset {dataset!r}, got None")
    if not os.path.isdir(input_dir):
        raise FileNotFoundError(f"input directory {input_dir!r} does not exist")
    if not os.listdir(input_dir):
        raise FileNotFoundError(f"input directory {input_dir!r} is empty")
    module = _converter(dataset)
    if dataset == "scannet" and frame_skip is not None:
        return module.list_frames(input_dir, split, frame_skip=frame_skip)
    return module.list_frames(input_dir, split, **options)


def load_frame(dataset: str, frame: dict, image_size) -> dict:
    """``{"rgb", "depth_m", "label", "intrinsics", "name"}`` of one frame description."""
    if dataset == "synthetic":
        from rfbnet_tf.datasets import synthetic

        scene = synthetic.render_scene(frame["seed"], *frame["size"])
        loaded = {"rgb": scene["rgb"], "depth_m": scene["depth"], "label": scene["label"],
                  "intrinsics": scene["intrinsics"], "name": frame["name"]}
        if image_size is not None and tuple(image_size) != tuple(frame["size"]):
            raise ValueError(
                f"synthetic frames are rendered at synthetic_size {frame['size']}, "
                f"got image_size {image_size!r}"
            )
        return loaded
    return _converter(dataset).load_frame(frame, image_size)
