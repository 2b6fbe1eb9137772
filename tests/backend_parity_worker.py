"""Run by test_backend_parity.py in a fresh process under another Keras backend (KERAS_BACKEND set by the caller).

Usage: python backend_parity_worker.py WORKDIR — builds the model named in WORKDIR/spec.json, loads
WORKDIR/model.weights.h5, runs WORKDIR/inputs.npz and writes WORKDIR/logits_<backend>.npy (the short ERFNetEnc of
tests/short_backbones.py when the spec says ``"short_erfnet": true``).
"""

import json
import os
import sys

import keras
import numpy as np

from rfbnet_tf.models import build_model
from tests import short_backbones


def main(workdir):
    spec = json.load(open(os.path.join(workdir, "spec.json")))
    if spec.get("short_erfnet"):
        short_backbones.use_short_erfnet_in_this_process()
    model = build_model(spec["name"], spec["num_classes"], **spec["options"])
    model.load_weights(os.path.join(workdir, "model.weights.h5"))
    inputs = dict(np.load(os.path.join(workdir, "inputs.npz")))
    logits = model.predict(inputs, verbose=0)
    np.save(os.path.join(workdir, f"logits_{keras.backend.backend()}.npy"), np.asarray(logits))


if __name__ == "__main__":
    main(sys.argv[1])
