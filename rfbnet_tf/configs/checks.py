"""Value checkers of the config fields: each takes a value and returns it normalised, or raises ``ValueError`` with
the reason (without the flag name, which :func:`rfbnet_tf.configs.fields.validate` adds).

String forms are accepted where absl or a flagfile would give them (``"8"``, ``"true"``, ``"128,160"``).
"""

from __future__ import annotations

import math

from rfbnet_tf.utils.checks import is_int as _is_int, is_real


def int_at_least(minimum, optional=False):
    def check(value):
        if value is None and optional:
            return None
        if isinstance(value, str):
            try:
                value = int(value)
            except ValueError:
                pass
        if not _is_int(value) or value < minimum:
            raise ValueError(f"must be an int >= {minimum}" + (" (or unset)" if optional else ""))
        return int(value)

    return check


def float_range(low, high=math.inf, low_inclusive=False, optional=False):
    def check(value):
        if value is None and optional:
            return None
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                pass
        ok = is_real(value) and math.isfinite(value)
        ok = ok and (value >= low if low_inclusive else value > low) and value <= high
        if not ok:
            bound = f"{'>=' if low_inclusive else '>'} {low}" + (f" and <= {high}" if high != math.inf else "")
            raise ValueError(f"must be a finite number {bound}")
        return float(value)

    return check


def choice(choices, optional=False):
    def check(value):
        if value is None and optional:
            return None
        if value not in choices:
            raise ValueError(f"must be one of {list(choices)}")
        return value

    return check


def boolean(optional=False):
    def check(value):
        if value is None and optional:
            return None
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value

    return check


def string(optional=True):
    def check(value):
        if value in (None, "") and optional:
            return None
        if not isinstance(value, str) or not value:
            raise ValueError("must be a non-empty string")
        return value

    return check


def string_or_empty(value):
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return value


def size(value):
    """``[height, width]`` from None, "h,w", or a list/tuple of two positive ints (or digit strings)."""
    if value is None or value == "" or (isinstance(value, (list, tuple)) and len(value) == 0):
        return None
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError("must be height,width (two positive ints)")
    try:
        pair = [int(str(v).strip()) if isinstance(v, str) else v for v in value]
    except ValueError:
        raise ValueError("must be height,width (two positive ints)") from None
    if not all(_is_int(v) and v > 0 for v in pair):
        raise ValueError("must be height,width (two positive ints)")
    return [int(pair[0]), int(pair[1])]


def class_weights(value):
    """``None``, ``"median_frequency"`` or a canonical comma list of finite weights >= 0, not all 0."""
    if value in (None, ""):
        return None
    if isinstance(value, (list, tuple)):
        value = ",".join(str(v) for v in value)
    if not isinstance(value, str):
        raise ValueError("must be 'median_frequency' or a comma list of numbers")
    if value.strip() == "median_frequency":
        return "median_frequency"
    try:
        weights = [float(v) for v in value.split(",")]
    except ValueError:
        raise ValueError("must be 'median_frequency' or a comma list of numbers") from None
    if not all(math.isfinite(v) and v >= 0 for v in weights) or not any(v > 0 for v in weights):
        raise ValueError("class weights must be finite, >= 0 and not all 0")
    return ",".join(repr(v) for v in weights)
