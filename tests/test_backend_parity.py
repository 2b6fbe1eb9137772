"""The same weights give the same logits under the TensorFlow and the JAX Keras backends (model code is
``keras.ops``/``keras.layers`` only). JAX is installed by the ``[test]`` extra (``jax[cpu]``)."""

import json
import os
import subprocess
import sys

import numpy as np

from rfbnet_tf.models import build_model
from tests import short_backbones

HERE = os.path.dirname(os.path.abspath(__file__))


def test_rfbnet_erfnet_enc_same_logits_under_jax(tmp_path, monkeypatch):
    # The short ERFNetEnc (tests/short_backbones.py): every layer kind and fusion stage once, half the graph to
    # trace and for XLA to compile under JAX.
    short_backbones.use_short_erfnet(monkeypatch)
    spec = {"name": "rfbnet_erfnet_enc", "num_classes": 5, "options": {"add_point": "R", "combination": "ssma"},
            "short_erfnet": True}
    model = build_model(spec["name"], spec["num_classes"], **spec["options"])
    rng = np.random.default_rng(0)
    # random weights, including non-trivial batch-norm statistics, so every op matters
    model.set_weights([w + rng.normal(0, 0.05, w.shape).astype(w.dtype) for w in model.get_weights()])
    inputs = {"rgb": rng.normal(size=(2, 32, 48, 3)).astype("float32"),
              "depth": rng.normal(size=(2, 32, 48, 3)).astype("float32")}
    expected = model.predict(inputs, verbose=0)
    model.save_weights(tmp_path / "model.weights.h5")
    np.savez(tmp_path / "inputs.npz", **inputs)
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "PYTHONPATH": os.path.dirname(HERE)}
    result = subprocess.run(
        [sys.executable, os.path.join(HERE, "backend_parity_worker.py"), str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    got = np.load(tmp_path / "logits_jax.npy")
    assert got.shape == expected.shape == (2, 32, 48, 5)
    assert np.abs(expected).max() > 0.1  # the comparison is not between near-zero tensors
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)
