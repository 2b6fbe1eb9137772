"""Typed configs of the binaries: frozen dataclasses whose fields are a binary's flags (the lowest layer: no
rfbnet_tf imports). The binary builds its config with :func:`from_flags`; the library function takes the config;
the config checks its fields once, in ``__post_init__``."""

from __future__ import annotations

import dataclasses
import os

FLAG = "flag"
"""Field metadata key: the flag's name where it differs from the field's (``export_format`` ← ``--format``)."""


def from_flags(cls, flag_values, **given):
    """``cls(...)`` with each field read from the absl flag of its name (``metadata["flag"]`` where named
    otherwise); ``given`` fields win. Flags the binary does not define keep the field's default."""
    values = {}
    for field in dataclasses.fields(cls):
        name = field.metadata.get(FLAG, field.name)
        if field.name not in given and name in flag_values:
            values[field.name] = flag_values[name].value
    return cls(**values, **given)


def normalise_paths(instance, *names):
    """Set each of ``names`` on the frozen ``instance`` to ``os.fspath`` of its value (None stays None)."""
    for name in names:
        value = getattr(instance, name)
        if value is not None:
            object.__setattr__(instance, name, os.fspath(value))
