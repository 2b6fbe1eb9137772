"""Argument checks shared by the public constructors (the lowest layer: no rfbnet_tf imports)."""

import math
import numbers


def positive_int(name, value):
    """``int(value)`` when it is an integral number > 0 (numpy ints too, not a bool); else ``ValueError`` naming
    ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
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
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, received {value!r}")
    return int(value)


def positive_number(name, value, unit=None):
    """``value`` when it is a finite real number > 0 (numpy numbers too, not a bool); else ``ValueError`` naming
    ``name`` (and the ``unit`` the number is in, e.g. "metres")."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < math.inf:
        of = f" of {unit}" if unit else ""
        raise ValueError(f"{name} must be a positive number{of}, received {value!r}")
    return value


def fraction(name, value):
    """``value`` when it is a real number in [0, 1] (not a bool); else ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a number in [0, 1], received {value!r}")
    return value
