"""Reading the MATLAB ``.mat`` files that NYU Depth v2 and SUN RGB-D ship.

Two formats:

* **v5** (``splits.mat``, ``classMapping40.mat``, ``class13Mapping.mat``, ``seg37list.mat``, ``allsplit.mat``,
  ``SUNRGBDMeta.mat``): read with ``scipy.io.loadmat`` (the format is not HDF5; scipy is the reader of record).
* **v7.3** (``nyu_depth_v2_labeled.mat``, ``SUNRGBD2Dseg.mat``): HDF5 behind a 512-byte header, read lazily with
  ``h5py``.  MATLAB stores arrays column-major, so an ``H×W×C×N`` MATLAB array is the HDF5 dataset
  ``(N, C, W, H)``: every array read here is transposed back.  Struct-array fields and cells hold object
  references into the file.

Every error names the file: ``FileNotFoundError`` for a missing one, ``ValueError`` for one that does not parse or
lacks a variable.  scipy and h5py are imported only when a file is read.
"""

from __future__ import annotations

import functools
import os

import numpy as np


def load_v5(path: str, variables) -> dict:
    """The ``variables`` (names) of the v5 ``.mat`` file ``path`` as scipy arrays (``struct_as_record``)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"missing MATLAB file {path!r}")
    import scipy.io

    try:
        contents = scipy.io.loadmat(path, variable_names=list(variables))
    except (ValueError, TypeError, OSError, NotImplementedError) as error:
        raise ValueError(f"cannot read {path!r} as a MATLAB v5 file: {error}") from None
    missing = [name for name in variables if name not in contents]
    if missing:
        raise ValueError(f"{path!r} has no variable {missing[0]!r}")
    return {name: contents[name] for name in variables}


def strings(cell, source: str) -> list[str]:
    """The strings of a MATLAB cell array of char rows (any shape, read in MATLAB's column-major order)."""
    cell = np.asarray(cell)
    if cell.dtype != object:
        raise ValueError(f"{source!r}: expected a cell array of strings, got dtype {cell.dtype}")
    out = []
    for item in cell.ravel(order="F"):
        item = np.asarray(item)
        if item.dtype.kind != "U" or item.size > 1:
            raise ValueError(f"{source!r}: cell entry {item!r} is not a string")
        out.append(str(item.ravel()[0]) if item.size else "")
    return out


def integers(array, source: str) -> np.ndarray:
    """A MATLAB numeric vector (any orientation) as int64, checked to hold whole numbers."""
    values = np.asarray(array)
    if values.dtype.kind not in "iuf" or values.size == 0:
        raise ValueError(f"{source!r}: expected a numeric vector, got dtype {values.dtype} shape {values.shape}")
    values = values.ravel(order="F")
    if values.dtype.kind == "f" and not np.all(np.isfinite(values) & (values == np.round(values))):
        raise ValueError(f"{source!r}: expected whole numbers")
    return values.astype(np.int64)


def struct_field(struct, field: str, source: str):
    """Field ``field`` of a 1×1 MATLAB struct read by scipy (``struct_as_record=True``)."""
    struct = np.asarray(struct)
    if struct.dtype.names is None or struct.size != 1:
        raise ValueError(f"{source!r}: expected a 1x1 struct, got dtype {struct.dtype} shape {struct.shape}")
    if field not in struct.dtype.names:
        raise ValueError(f"{source!r}: the struct has no field {field!r} (fields {list(struct.dtype.names)})")
    return struct.ravel()[0][field]


@functools.lru_cache(maxsize=4)
def open_v73(path: str):
    """A read-only ``h5py.File`` of the v7.3 ``.mat`` file ``path`` (cached per process: workers open it once)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"missing MATLAB file {path!r}")
    import h5py

    try:
        return h5py.File(path, "r")
    except OSError as error:
        raise ValueError(f"cannot read {path!r} as a MATLAB v7.3 (HDF5) file: {error}") from None


def dataset(handle, name: str, ndim: int, source: str):
    """HDF5 dataset ``name`` of ``handle``, checked to have ``ndim`` dimensions."""
    if name not in handle:
        raise ValueError(f"{source!r} has no variable {name!r}")
    data = handle[name]
    if not hasattr(data, "shape") or len(data.shape) != ndim:
        raise ValueError(f"{source!r}: {name!r} must have {ndim} dimensions, got {getattr(data, 'shape', None)}")
    return data


def matlab_image(array) -> np.ndarray:
    """An HDF5 image slice back in MATLAB's row-major view: ``(W, H)`` → ``(H, W)``, ``(C, W, H)`` → ``(H, W, C)``."""
    array = np.asarray(array)
    return array.T if array.ndim == 2 else np.transpose(array, (2, 1, 0))
