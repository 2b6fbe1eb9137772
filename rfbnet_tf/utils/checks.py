"""Argument checks shared by the public constructors (the lowest layer: no rfbnet_tf imports)."""


def positive_int(name, value):
    """``value`` when it is an int > 0 (not a bool); else ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive int, received {value!r}")
    return value


def boolean(name, value):
    """``value`` when it is True or False; else ``ValueError`` naming ``name``."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, received {value!r}")
    return value
