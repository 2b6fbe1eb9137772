"""Test configuration: quiet TensorFlow, deterministic seeds, TensorFlow backend for in-process tests; tf2onnx's
optimizer passes without their rollback copies."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# tf2onnx deep-copies the whole ONNX graph before each of its optimizer passes (≈ 12 passes × iterations) to roll
# back a pass that raises; without the copies a conversion takes ≈ 1/3 less time and gives the same model (same
# operators and initializers, bit-equal ONNX Runtime outputs: measured on the four families of
# tests/test_export_formats.py); a pass that raises fails the test instead of being skipped silently.
os.environ.setdefault("TF2ONNX_CATCH_ERRORS", "FALSE")
