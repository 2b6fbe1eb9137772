"""Test configuration: quiet TensorFlow, TensorFlow backend for in-process tests, tf2onnx's optimizer passes
without their rollback copies, and the slowest files first (for pytest-xdist's --dist loadfile)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# tf2onnx deep-copies the whole ONNX graph before each of its optimizer passes (≈ 12 passes × iterations) to roll
# back a pass that raises; without the copies a conversion takes ≈ 1/3 less time and gives the same model (same
# operators and initializers, bit-equal ONNX Runtime outputs: measured on the four families of
# tests/test_export_formats.py); a pass that raises fails the test instead of being skipped silently.
os.environ.setdefault("TF2ONNX_CATCH_ERRORS", "FALSE")

# The slowest files, slowest first: each file's summed test time in seconds (module fixtures included) from the
# JUnit XML of `python -m pytest -q -n 2 --dist loadfile` on the idle 2-core machine, 2026-12-08 (binaries forked
# from tests/warm_python.py's server). They run before all others: with pytest-xdist's --dist loadfile and its
# reordering off (below) the files are handed out in this order, so no long file starts last while the other worker
# idles (xdist's default order, most tests first, put the one-test files test_multiworker.py and
# test_adapnet_pp_training.py at the very end).
SLOWEST_FILES = (
    "test_export_formats.py",  # 91 (ONNX / LiteRT of the four families)
    "test_study.py",  # 83 (the smoke study: 8 runs in two worker processes, the report)
    "test_adapnet_pp_protocol.py",  # 72
    "test_train.py",  # 59
    "test_rundir_facts.py",  # 59
    "test_faults.py",  # 56 (binaries on read-only / full disks, damaged files)
    "test_serving_raw.py",  # 47
    "test_multiworker.py",  # 46, one test (four two-worker runs)
    "test_rundir_checkpoints.py",  # 44 (SIGKILL / SIGINT / SIGTERM runs)
    "test_adapnet_pp_training.py",  # 41, one test
    "test_folder_dataset.py",  # 40 (train + export of a short RFBNet on folder records)
    "test_tensorboard.py",  # 32 (the [tensorboard] extra, which .ci/run installs)
    "test_backend_parity.py",  # 28
    "test_models_erfnet.py",  # 27
    "test_recordings.py",  # 24 (serving_raw compiled once, predict on PNGs, two binaries run)
    "test_cli.py",  # 23 (the seven --help processes at once, real ones)
    "test_export.py",  # 22
    "test_end_to_end.py",  # 21
    "test_benchmark.py",  # 21 (19 + the bag-segmentation script's run)
    "test_finetune.py",  # 20
)


def pytest_collection_modifyitems(config, items):
    """Run :data:`SLOWEST_FILES` first, in that order; every other file keeps its place (a stable sort)."""
    rank = {name: index for index, name in enumerate(SLOWEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


def pytest_configure(config):
    """pytest-xdist (when installed): hand out the files in collection order, not most tests first."""
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False
