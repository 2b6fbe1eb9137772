"""The registry of the datasets ``prepare`` converts: each one is a :class:`Dataset` object (its name, options,
classes and palette, splits, ``list_frames`` and ``load_frame``), defined as ``DATASET`` in its own module and
registered once, by that module's name in :data:`REGISTERED`.

Adding a dataset = adding one module ``rfbnet_tf/datasets/{name}.py`` that defines ``DATASET`` (a
:class:`Dataset`, usually a :class:`ModuleDataset` over the module's ``CLASS_NAMES`` / ``PALETTE`` /
``list_frames`` / ``load_frame``) and appending its name to :data:`REGISTERED`; ``prepare_data``'s ``--dataset``,
its option flags and their help come from here.

Imports no TensorFlow (it runs in the spawned workers of ``prepare``).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import os

from rfbnet_tf.datasets import frame_resizing
from rfbnet_tf.utils import checks

REGISTERED = ("synthetic", "cityscapes", "scannet", "nyuv2", "sunrgbd", "folder")
"""Module names (under ``rfbnet_tf.datasets``) of the registered datasets; each module defines ``DATASET``."""
DATASETS = REGISTERED

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
    """RGB colour per class."""


@dataclasses.dataclass(frozen=True)
class Option:
    """A dataset-specific setting: ``prepare(..., {name}=value)`` and the flag ``--{flag_name}`` of ``prepare_data``.

    ``check`` turns a given value (a Python value, or the flag's string) into the checked one, raising
    ``ValueError`` naming the option; ``None`` (not given) becomes ``default``.
    """

    name: str
    default: object
    help: str
    check: object = None
    choices: tuple = ()
    """For the flag's help and ``--helpfull`` (an enum flag when given)."""
    flag: str = ""
    """The flag's name, when it is not ``name``."""

    @property
    def flag_name(self) -> str:
        return self.flag or self.name


@dataclasses.dataclass(frozen=True)
class Dataset:
    """One dataset ``prepare`` converts (the protocol every registered dataset follows).

    Subclasses implement :meth:`source`, :meth:`list_frames` and :meth:`load_frame`; ``splits`` None means the
    splits are found in the input (:meth:`available_splits`).
    """

    name: str
    options: tuple = ()
    splits: tuple | None = None
    default_splits: tuple = ("train", "val")
    input_help: str = ""
    """What ``--input_dir`` holds ("" = no input needed)."""

    def source(self, input_dir, options: dict) -> Source:
        raise NotImplementedError

    def available_splits(self, input_dir, options: dict) -> tuple:
        return self.splits

    def list_frames(self, input_dir, split: str, options: dict) -> list[dict]:
        raise NotImplementedError

    def load_frame(self, frame: dict, image_size) -> dict:
        raise NotImplementedError


def check_size(name, value):
    """``value`` as ``(height, width)`` of positive ints (None stays None); ``ValueError`` naming ``name``."""
    if value is None:
        return None
    return frame_resizing.check_size(name, value)


def check_count(name, value, minimum):
    """``value`` as an int >= ``minimum``; ``ValueError`` naming ``name``."""
    if not checks.is_int(value) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def colours(palette) -> tuple:
    """``((r, g, b), ...)`` as Python ints (JSON-able) from a palette table or array."""
    return tuple(tuple(int(v) for v in colour) for colour in palette)


@dataclasses.dataclass(frozen=True)
class ModuleDataset(Dataset):
    """A dataset whose converter module has ``CLASS_NAMES``, ``PALETTE``, ``MAX_DEPTH_M``, ``DEFAULT_IMAGE_SIZE``,
    ``list_frames(input_dir, split, **options)`` and ``load_frame(frame, image_size)``; ``option_keywords`` maps
    an option's name to the keyword of ``list_frames``."""

    module: str = ""
    option_keywords: tuple = ()

    def _module(self):
        return importlib.import_module(self.module)

    def source(self, input_dir, options):
        module = self._module()
        return Source(self.name, tuple(module.CLASS_NAMES), module.MAX_DEPTH_M, module.DEFAULT_IMAGE_SIZE,
                      colours(module.PALETTE))

    def list_frames(self, input_dir, split, options):
        keywords = dict(self.option_keywords)
        return self._module().list_frames(input_dir, split, **{keywords.get(k, k): v for k, v in options.items()})

    def load_frame(self, frame, image_size):
        return self._module().load_frame(frame, image_size)


def dataset(name: str) -> Dataset:
    """The registered :class:`Dataset` called ``name`` (``ValueError`` listing the registered names)."""
    if name not in REGISTERED:
        raise ValueError(f"dataset must be one of {REGISTERED}, got {name!r}")
    return importlib.import_module(f"rfbnet_tf.datasets.{name}").DATASET


@functools.cache
def all_options() -> dict:
    """``{option name: (Option, (dataset names...))}`` over every registered dataset (an option several datasets
    share, such as ``depth_source``, is declared identically by each)."""
    found = {}
    for name in REGISTERED:
        for option in dataset(name).options:
            declared, names = found.get(option.name, (option, ()))
            found[option.name] = (declared, names + (name,))
    return found


def check_dataset_options(name: str, **given) -> dict:
    """The options of dataset ``name``, checked, with defaults filled in, from ``given`` (``None`` = not given).

    An option given (not None) that ``name`` does not have is a ``ValueError`` naming the datasets it applies to.
    """
    known = all_options()
    for key, value in given.items():
        if value is None:
            continue
        if key not in known:
            raise ValueError(f"unknown dataset option {key!r}")
        applies = known[key][1]
        if name not in applies:
            only = applies[0] if len(applies) == 1 else applies
            raise ValueError(f"{key} applies to {only} only, got {key}={value!r} for {name!r}")
    checked = {}
    for option in dataset(name).options:
        value = given.get(option.name)
        if value is None:
            value = option.default
        checked[option.name] = option.check(value) if option.check is not None and value is not None else value
    return checked


def check_input_dir(name: str, input_dir) -> None:
    """``--input_dir`` exists and is not empty, for a dataset that reads one."""
    if not dataset(name).input_help:
        return
    if input_dir is None:
        raise ValueError(f"--input_dir is required for dataset {name!r}: it holds {dataset(name).input_help}")
    if not os.path.isdir(input_dir):
        raise FileNotFoundError(f"input directory {input_dir!r} does not exist")
    if not os.listdir(input_dir):
        raise FileNotFoundError(f"input directory {input_dir!r} is empty")


def get_source(name: str, input_dir=None, **options) -> Source:
    """``Source`` of dataset ``name``; ``options``: :func:`check_dataset_options`'s."""
    return dataset(name).source(input_dir, options)


def list_frames(name: str, split: str, *, input_dir=None, **options) -> list[dict]:
    """Picklable frame descriptions of ``split`` (paths, or a seed for synthetic frames)."""
    check_input_dir(name, input_dir)
    return dataset(name).list_frames(input_dir, split, options)


def load_frame(name: str, frame: dict, image_size) -> dict:
    """``{"rgb", "depth_m", "label", "intrinsics", "name"}`` of one frame description (plus, optionally,
    ``"notes"``: what the loading changed, e.g. a depth resized to the RGB size)."""
    return dataset(name).load_frame(frame, image_size)


DEPTH_SOURCES = ("toolbox", "raw")


def _check_depth_source(value):
    if value not in DEPTH_SOURCES:
        raise ValueError(f"depth_source must be one of {DEPTH_SOURCES}, got {value!r}")
    return value


DEPTH_SOURCE = Option(
    "depth_source", "toolbox",
    "NYUv2 / SUN RGB-D depth: 'toolbox' (default: the filled depths / depth_bfx) or 'raw' (rawDepths / depth, "
    "completed by this project's depth completion).", _check_depth_source, DEPTH_SOURCES)
"""NYUv2 / SUN RGB-D depth: the toolbox's filled depth (NYUv2 ``depths``, SUN RGB-D ``depth_bfx``) or the raw
sensor depth (``rawDepths``, ``depth``), completed by ``prepare`` like every other dataset's."""
