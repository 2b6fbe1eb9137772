"""Run by test_backend_parity.py in a fresh process under another Keras backend (KERAS_BACKEND set by the caller).

Usage: python backend_parity_worker.py WORKDIR — builds the model named in WORKDIR/spec.json, loads
WORKDIR/model.weights.h5, runs WORKDIR/inputs.npz and writes WORKDIR/logits_<backend>.npy.
"""

import json
import os
import sys

import keras
import numpy as np

from rfbnet_tf.models import build_model


def main(workdir):
    spec = json.load(open(os.path.join(workdir, "spec.json")))
    model = build_model(spec["name"], spec["num_classes"], **spec["options"])
    model.load_weights(os.path.join(workdir, "model.weights.h5"))
    inputs = dict(np.load(os.path.join(workdir, "inputs.npz")))
    logits = model.predict(inputs, verbose=0)
    np.save(os.path.join(workdir, f"logits_{keras.backend.backend()}.npy"), np.asarray(logits))


if __name__ == "__main__":
    main(sys.argv[1])
