"""Separable filters as sums of shifted slices, shared by the graph depth completion and HHA.

Under XLA a sum of slices of one padded tensor fuses into a single loop; ``conv2d`` (and ``extract_patches``,
which XLA lowers to a convolution with a one-hot kernel) runs several times slower on the CPU.
"""

from __future__ import annotations


def tap_sum(padded, taps, axis: int, size):
    """``sum_k taps[k] · padded[..., k : k + size, ...]`` along ``axis`` (a non-negative int): the 1-D filter
    ``taps`` of an already padded tensor, ``size`` outputs; zero taps are skipped, unit taps not multiplied."""
    total = None
    for start, tap in enumerate(taps):
        if tap == 0:
            continue
        part = padded[(slice(None),) * axis + (slice(start, start + size),)]
        part = part if tap == 1 else part * float(tap)
        total = part if total is None else total + part
    return total
