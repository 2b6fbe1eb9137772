"""Config fields that are also train flags: :func:`option` declares one (default, help, checker, absl kind), and
:func:`validate` checks and normalises every field of a frozen config dataclass in its ``__post_init__`` — the one
place a value is validated, for the binary and for Python callers alike.
"""

from __future__ import annotations

import dataclasses


def option(default, help, check, *, kind, flag=None, choices=()):
    """A dataclass field that is the train flag ``--{flag or field name}``.

    ``kind`` is the absl flag type (enum, bool, int, float, string, list); list defaults are copied per instance.
    """
    metadata = {"help": help, "check": check, "kind": kind, "flag": flag, "choices": tuple(choices)}
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def flag_fields(cls) -> list:
    """The fields of ``cls`` declared with :func:`option`, in order."""
    return [field for field in dataclasses.fields(cls) if "check" in field.metadata]


def flag_name(field) -> str:
    """The train flag of ``field``."""
    return field.metadata.get("flag") or field.name


def validate(instance):
    """Check and normalise every :func:`option` field of the frozen ``instance`` in place.

    Raises ``ValueError("--flag=value: reason")`` for the first bad value.
    """
    for field in flag_fields(type(instance)):
        value = getattr(instance, field.name)
        try:
            checked = field.metadata["check"](value)
        except ValueError as error:
            raise ValueError(f"--{flag_name(field)}={value!r}: {error}") from None
        object.__setattr__(instance, field.name, checked)
