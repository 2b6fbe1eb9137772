"""The benchmark's PyTorch peer (rfbnet_tf.profiling.peer): with our weights copied in, the
independent PyTorch ERFNet encoder, its ONNX export run by ONNX Runtime and our own ONNX export all give our
erfnet_enc's logits (1e-4); the comparison times all four paths and reports the ratio it is built on. Skipped
where torch (extra [peer]) is not installed — .ci/run does not install it."""

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("tf2onnx")
pytest.importorskip("onnxruntime")

from rfbnet_tf.profiling import benchmark_report, peer  # noqa: E402


def test_peer_computes_our_function_and_is_timed_side_by_side():
    result = peer.peer_comparison(size=(32, 48), num_classes=5, runs=2, warmup=1, threads=1,
                                       log=lambda *_: None)
    assert result["size"] == [32, 48] and result["threads"] == 1  # (H, W)
    assert set(result["paths"]) == {"ours/tensorflow", "ours/onnxruntime", "peer/onnxruntime", "peer/torch"}
    assert all(stats["runs"] == 2 for stats in result["paths"].values())
    assert result["max_abs_logit"] > 0.1
    for name, difference in result["max_abs_logit_difference_to_ours"].items():
        assert difference <= 1e-4 * max(1.0, result["max_abs_logit"]), (name, difference)
    best = min(result["paths"][p]["median_s"] for p in ("ours/tensorflow", "ours/onnxruntime"))
    assert result["peer_over_ours"] == pytest.approx(result["paths"]["peer/onnxruntime"]["median_s"] / best)
    assert result["met"] == (result["peer_over_ours"] >= 1.0)
    assert benchmark_report.format_peer(result).startswith("peer erfnet_enc 32×48 (H×W), 1 threads")
    assert "peer/onnxruntime ÷" in benchmark_report.format_peer(result)
    assert np.isfinite(result["peer_over_ours"])
