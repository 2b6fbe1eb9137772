"""Argument checks shared by the public constructors (the lowest layer: no rfbnet_tf imports)."""

import math
import numbers

import numpy as np


def is_int(value) -> bool:
    """Whether ``value`` is an integral number (numpy ints too), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value) -> bool:
    """Whether ``value`` is a real number (numpy reals and ints too), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_size_hw(value) -> bool:
    """Whether ``value`` is a ``(height, width)`` tuple or list of two positive integral numbers (not bools)."""
    return isinstance(value, (tuple, list)) and len(value) == 2 and all(is_int(v) and v > 0 for v in value)


def is_camera_matrix(matrix) -> bool:
    """Whether ``matrix`` (a numpy array) is a usable 3×3 camera matrix ``K``: finite, with positive focal
    lengths ``fx = K[0, 0]`` and ``fy = K[1, 1]``."""
    return matrix.shape == (3, 3) and bool(np.all(np.isfinite(matrix))) and matrix[0, 0] > 0 and matrix[1, 1] > 0


def positive_int(name, value):
    """``int(value)`` when it is an integral number > 0 (numpy ints too, not a bool); else ``ValueError`` naming
    ``name``."""
    if not is_int(value) or value <= 0:
        raise ValueError(f"{name} must be a positive int, received {value!r}")
    return int(value)


def boolean(name, value):
    """``value`` when it is True or False; else ``ValueError`` naming ``name``."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, received {value!r}")
    return value


def int_at_least(name, value, minimum):
    """``int(value)`` when it is an integral number >= ``minimum`` (numpy ints too, not a bool); else ``ValueError``
    naming ``name``."""
    if not is_int(value) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, received {value!r}")
    return int(value)


def positive_number(name, value, unit=None):
    """``value`` when it is a finite real number > 0 (numpy numbers too, not a bool); else ``ValueError`` naming
    ``name`` (and the ``unit`` the number is in, e.g. "metres")."""
    if not is_real(value) or not 0 < value < math.inf:
        of = f" of {unit}" if unit else ""
        raise ValueError(f"{name} must be a positive number{of}, received {value!r}")
    return value


def int_in(name, value, low, high):
    """``int(value)`` when it is an integral number in [``low``, ``high``] (numpy ints too, not a bool); else
    ``ValueError`` naming ``name``."""
    if not is_int(value) or not low <= value <= high:
        raise ValueError(f"{name} must be an int in [{low}, {high}], received {value!r}")
    return int(value)


def number_in(name, value, low, high, *, low_open=False, high_open=False, unit=None):
    """``value`` when it is a real number in the interval from ``low`` to ``high`` (each end closed unless
    ``low_open`` / ``high_open``; numpy numbers too, not a bool); else ``ValueError`` naming ``name`` (and the
    ``unit`` the number is in, e.g. "metres")."""
    above = is_real(value) and (low < value if low_open else low <= value)
    if not above or not (value < high if high_open else value <= high):
        interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        of = f" {unit}" if unit else ""
        raise ValueError(f"{name} must be a number in {interval}{of}, received {value!r}")
    return value


def size_hw(name, value):
    """``(height, width)`` as two ints when ``value`` is a tuple or list of two positive integral numbers (numpy
    ints too, not bools); else ``ValueError`` naming ``name``."""
    if not is_size_hw(value):
        raise ValueError(f"{name} must be (height, width), two positive ints, received {value!r}")
    return int(value[0]), int(value[1])


def fraction(name, value):
    """``value`` when it is a real number in [0, 1] (not a bool); else ``ValueError`` naming ``name``."""
    return number_in(name, value, 0, 1)
