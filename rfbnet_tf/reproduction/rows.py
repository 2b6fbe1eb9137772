"""A study row: one row of the paper's Table III or IV, as train flags plus the paper's mIoU.

Flagfile syntax (``--row``, repeated): ``NAME:PAPER_MIOU:flag=value,flag=value`` where ``PAPER_MIOU`` is the
paper's ScanNet val mIoU in percent (``-`` for none) and the flags are train flags (``model``, ``modality``,
``shrink_depth``, ``gates``, ``add_point``, ``combination``, ``depth_input``).  For example
``--row=rfbnet:62.6:model=rfbnet_erfnet_enc,shrink_depth=true,gates=true,add_point=R``.
"""

from __future__ import annotations

import dataclasses
import re

from rfbnet_tf.models import is_multimodal

ROW_FLAGS = ("model", "modality", "shrink_depth", "gates", "add_point", "combination", "depth_input")
"""The train flags a row may set (the model and its options); everything else is the study's."""
_NAME = re.compile(r"^[a-z0-9_]+$")


@dataclasses.dataclass(frozen=True)
class Row:
    """``name`` (a directory name), ``paper_miou`` (percent or None) and ``flags`` (train flags of the row)."""

    name: str
    paper_miou: float | None
    flags: tuple  # ((flag, value), ...) sorted: hashable and order-free

    @property
    def model(self) -> str:
        return dict(self.flags)["model"]

    @property
    def multimodal(self) -> bool:
        return is_multimodal(self.model)

    @property
    def modality(self) -> str | None:
        """``rgb`` / ``depth`` for a unimodal row, None for a multimodal one."""
        return None if self.multimodal else dict(self.flags).get("modality", "rgb")

    def train_flags(self) -> dict:
        return dict(self.flags)


def _value(text):
    lowered = text.lower()
    return lowered == "true" if lowered in ("true", "false") else text


def parse_row(text: str) -> Row:
    """A ``Row`` from ``NAME:PAPER_MIOU:flag=value,...``; ``ValueError`` with a one-line reason otherwise."""
    parts = text.split(":", 2)
    if len(parts) != 3:
        raise ValueError(f"--row={text!r}: expected NAME:PAPER_MIOU:flag=value,...")
    name, paper, flag_text = (part.strip() for part in parts)
    if not _NAME.match(name):
        raise ValueError(f"--row={text!r}: the name must be lower-case letters, digits and '_'")
    try:
        paper_miou = None if paper == "-" else float(paper)
    except ValueError:
        raise ValueError(f"--row={text!r}: PAPER_MIOU must be a number or '-'") from None
    flags = {}
    for item in filter(None, (piece.strip() for piece in flag_text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or key not in ROW_FLAGS:
            raise ValueError(f"--row={text!r}: {item!r} is not flag=value with flag in {list(ROW_FLAGS)}")
        flags[key] = _value(value)
    if "model" not in flags:
        raise ValueError(f"--row={text!r}: model=... is required")
    try:
        is_multimodal(flags["model"])
    except ValueError as error:
        raise ValueError(f"--row={text!r}: {error}") from None
    return Row(name, paper_miou, tuple(sorted(flags.items())))


def parse_rows(texts) -> list:
    """Rows of the ``--row`` flags, in order; ``ValueError`` for none or duplicate names."""
    rows = [parse_row(text) for text in texts]
    names = [row.name for row in rows]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"--row: duplicate row names {duplicates}")
    if not rows:
        raise ValueError("--row: no rows given")
    return rows


def source_rows(rows) -> dict:
    """``{"rgb": row, "depth": row}``: the first unimodal row of each modality (two-stage init sources)."""
    sources = {}
    for row in rows:
        if row.modality is not None:
            sources.setdefault(row.modality, row)
    return sources
