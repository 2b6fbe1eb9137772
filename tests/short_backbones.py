"""Short backbones for tests whose assertions do not depend on a backbone's depth (test only): ERFNetEnc with 1 of
its 5 dilation-1 non-bottleneck units and 4 of its 8 fused units (every dilation 2, 4, 8, 16 once, so every fusion
stage, RFB and SSMA block kind still runs), and the tiny AdapNet++ of tests/adapnet_pp_fixtures.py. Graph tracing
and conversion time grows with the graph (ONNX conversion faster than linearly)."""

import textwrap

import pytest

from rfbnet_tf.models import erfnet_backbone
from tests import adapnet_pp_fixtures

SHORT_STAGE1_UNITS = 1  # of 5
SHORT_FUSED_DILATIONS = (2, 4, 8, 16)  # of (2, 4, 8, 16, 2, 4, 8, 16)


def use_short_erfnet_in_this_process():
    """For a fresh process a test starts (nothing to restore): every ERFNetEnc built from now on is the short one."""
    erfnet_backbone.STAGE1_UNITS = SHORT_STAGE1_UNITS
    erfnet_backbone.FUSED_DILATIONS = SHORT_FUSED_DILATIONS


SUBPROCESS_PRELUDE = textwrap.dedent("""
    from tests import short_backbones
    short_backbones.use_short_erfnet_in_this_process()
""")
"""Python lines that make a fresh process (run from the repository root) build the short ERFNetEnc."""


def use_short_erfnet(monkeypatch):
    """Make every ERFNetEnc model built from now on (``build_model``, ``train()``, restores) the short one."""
    monkeypatch.setattr(erfnet_backbone, "STAGE1_UNITS", SHORT_STAGE1_UNITS)
    monkeypatch.setattr(erfnet_backbone, "FUSED_DILATIONS", SHORT_FUSED_DILATIONS)


def short_erfnet():
    """Generator for a module fixture: the short ERFNetEnc while the module's tests run, restored after."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        use_short_erfnet(monkeypatch)
        yield


def use_short_backbones(monkeypatch):
    """The short ERFNetEnc and the tiny AdapNet++."""
    use_short_erfnet(monkeypatch)
    adapnet_pp_fixtures.use_tiny_adapnet_pp(monkeypatch)
