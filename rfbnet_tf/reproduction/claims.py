"""The paper's findings (Sec. IV-C, Tables III and IV) as paired comparisons between study rows.

Each claim compares row ``a`` with row ``b`` (or with the better of several rows, per seed) and names the sign
the paper reports for ``a - b``.  The row names are those of ``experiments/study_synthetic.flags``; a claim
whose rows are not in the study is reported as not run.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from rfbnet_tf.reproduction import statistics

BEST_UNIMODAL = ("rgb", "depth")
"""``b`` of claim 1: per seed, the better of the two unimodal rows (the stronger single-modality baseline)."""


@dataclasses.dataclass(frozen=True)
class Claim:
    """``a - b`` should have sign ``expected_sign`` (paper: ``paper_a - paper_b``)."""

    id: str
    text: str
    a: str
    b: tuple  # one row, or several: their per-seed maximum
    paper_a: float
    paper_b: float
    expected_sign: int = 1

    @property
    def paper_difference(self) -> float:
        return round(self.paper_a - self.paper_b, 6)

    @property
    def rows(self) -> tuple:
        return (self.a, *self.b)


CLAIMS = (
    Claim("1a", "multimodal > unimodal: SSMA beats the better unimodal model", "ssma", BEST_UNIMODAL, 61.6, 56.7),
    Claim("1b", "multimodal > unimodal: RFBNet beats the better unimodal model", "rfbnet", BEST_UNIMODAL, 62.6, 56.7),
    Claim("2a", "RFBNet > SSMA, each as the paper builds it (RFBNet depth shrunk, SSMA full depth)", "rfbnet",
          ("ssma",), 62.6, 61.6),
    Claim("2b", "RFBNet > SSMA, both with the depth shrunk", "rfbnet", ("ssma_shrink",), 62.6, 61.1),
    Claim("2c", "RFBNet > SSMA, both with full-resolution depth", "rfbnet_noshrink", ("ssma",), 62.2, 61.6),
    Claim("3a", "shrinking the depth costs SSMA a little", "ssma_shrink", ("ssma",), 61.1, 61.6, -1),
    Claim("3b", "shrinking the depth does not cost RFBNet (the paper: it gains)", "rfbnet", ("rfbnet_noshrink",),
          62.6, 62.2),
    Claim("4a", "Table IV: gates help (G vs none)", "rfb_g", ("rfb_none",), 61.7, 61.3),
    Claim("4b", "Table IV: adding the complement at R beats T (G+R vs G+T)", "rfbnet", ("rfb_gt",), 62.6, 62.0),
    Claim("4c", "Table IV: adding the complement at T helps (G+T vs G)", "rfb_gt", ("rfb_g",), 62.0, 61.7),
)


def evaluate_claim(claim: Claim, per_seed: dict) -> dict:
    """The claim's result from ``per_seed`` (``{row name: {seed: val mIoU %}}``), paired over the seeds finished
    in every row of the claim: differences with their interval, the sign count and the verdict;
    ``{"status": "not run"}`` when a row is missing or no seed is finished in all of them."""
    result = {"id": claim.id, "text": claim.text, "a": claim.a, "b": list(claim.b),
              "paper": {"a": claim.paper_a, "b": claim.paper_b, "difference": claim.paper_difference},
              "expected_sign": claim.expected_sign}
    missing = [name for name in claim.rows if not per_seed.get(name)]
    if missing:
        return {**result, "status": "not run", "missing_rows": missing}
    seeds = sorted(set.intersection(*(set(per_seed[name]) for name in claim.rows)))
    if not seeds:
        return {**result, "status": "not run", "missing_rows": [], "seeds": []}
    a = np.asarray([per_seed[claim.a][seed] for seed in seeds], np.float64)
    b = np.max([[per_seed[name][seed] for seed in seeds] for name in claim.b], axis=0)
    paired = statistics.paired_difference(a, b)
    agreeing = paired["positive"] if claim.expected_sign > 0 else paired["negative"]
    return {**result, "status": "run", "seeds": seeds, **paired, "sign_count": f"{agreeing}/{paired['n']}",
            "verdict": statistics.verdict(paired["ci95"], claim.expected_sign)}
