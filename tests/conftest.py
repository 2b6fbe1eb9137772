"""Test configuration: quiet TensorFlow, deterministic seeds, TensorFlow backend for in-process tests."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
