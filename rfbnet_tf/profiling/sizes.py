"""Image sizes in the benchmark: (H, W) everywhere — flags (``--size=h,w``), arguments, measurements and the JSON
rows' ``"size": [H, W]``, which every JSON the benchmark writes declares with ``"size_order": "hw"``
(:data:`SIZE_ORDER`). :func:`in_hw_order` reads a JSON written before that key, whose sizes were [W, H];
:func:`size_text` writes a size for a reader, labelled.
"""

from __future__ import annotations

import copy

SIZE_ORDER = "hw"
"""The value of a benchmark JSON's top-level ``"size_order"``: every ``size`` in it is [height, width]."""


def size_text(size) -> str:
    """``(h, w)`` → ``"h×w (H×W)"``: a size in a line of text, labelled so that a reader never guesses the order."""
    height, width = size
    return f"{height}×{width} (H×W)"


def _sizes_once_width_first(result):
    """The dicts of a benchmark or end-to-end JSON whose ``size`` was [W, H] before ``"size_order"``: the result
    rows, the head-to-head rows, the target entries, the peer comparison, and an end-to-end result itself (the
    peer training step's ``size`` and the pipeline's ``image_size`` were [H, W] already)."""
    yield from result.get("results", [])
    yield from result.get("head_to_head", [])
    for entries in result.get("targets", {}).values():
        yield from entries
    if "peer" in result:
        yield result["peer"]
    if "size" in result:
        yield result


def in_hw_order(result):
    """``result`` (a benchmark or end-to-end JSON, as loaded) with every ``size`` [H, W]: itself when it says
    ``"size_order": "hw"``; otherwise (written before that key, sizes [W, H]) a copy with those sizes swapped and
    the key added."""
    if result.get("size_order") == SIZE_ORDER:
        return result
    converted = copy.deepcopy(result)
    for record in _sizes_once_width_first(converted):
        record["size"] = list(record["size"])[::-1]
    converted["size_order"] = SIZE_ORDER
    return converted
