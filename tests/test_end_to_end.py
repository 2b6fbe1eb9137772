"""``benchmark --end_to_end`` (rfbnet_tf.profiling.end_to_end) on a small frame with the short ERFNetEnc: every
path runs, the graph HHA agrees with the numpy one, and the reported fractions and goal follow from the timings
(set here, independent of the machine's speed)."""

import pytest

from rfbnet_tf.profiling import end_to_end
from tests.short_backbones import use_short_erfnet

MODEL_MS = 100.0
TIMINGS_MS = {"numpy_completion": 5.0, "numpy_hha": 80.0, "graph_completion": 7.0, "graph_hha": 20.0,
              "model": MODEL_MS, "numpy_total": 190.0, "graph_total": 95.0}


@pytest.fixture(scope="module")
def result():
    called = []

    def fixed_timings(callables, warmup, runs):
        for name, fn in callables.items():  # every path runs once, for real
            fn()
            called.append(name)
        return {name: {"median_s": TIMINGS_MS[name] / 1e3, "runs": runs} for name in callables}

    with pytest.MonkeyPatch.context() as monkeypatch:
        use_short_erfnet(monkeypatch)
        monkeypatch.setattr(end_to_end, "time_interleaved", fixed_timings)
        out = end_to_end.run_end_to_end(size=(80, 64), runs=1, log=lambda *_: None)
    assert sorted(called) == sorted(TIMINGS_MS)
    return out


def test_size_is_height_width(result):
    assert result["size"] == [80, 64] and result["size_order"] == "hw"  # run at size=(80, 64): 80 rows of 64 pixels
    assert end_to_end.format_end_to_end(result).startswith("rfbnet_erfnet_enc at 80×64 (H×W), per frame")


def test_fractions_and_goal_follow_from_the_timings(result):
    graph, numpy_path = result["graph"], result["numpy"]
    assert graph["preprocessing_fraction"] == pytest.approx((95.0 - MODEL_MS) / MODEL_MS)  # -5 %: noise
    assert graph["parts_fraction"] == pytest.approx((7.0 + 20.0) / MODEL_MS)
    assert numpy_path["preprocessing_fraction"] == pytest.approx(0.9)
    assert numpy_path["parts_fraction"] == pytest.approx(0.85)
    assert result["goal"]["met"] is True  # both graph fractions <= 30 %
    table = end_to_end.format_end_to_end(result)
    assert "| graph | 7.0 | 20.0 | 100.0 | 95.0 | -5 % | 27 % |" in table
    assert "goal: graph preprocessing ≤ 30 % of the model: met" in table


def test_graph_hha_agrees_with_numpy_on_the_frame(result):
    for channel, agreement in result["graph_hha_vs_numpy"].items():
        assert agreement["within_1"] >= 0.99, (channel, agreement)
