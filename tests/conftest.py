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

# The slowest files, slowest first (seconds of one pytest process on the idle 2-core machine, 2026-11-30). They run
# before all others: with pytest-xdist's --dist loadfile and its reordering off (below) the files are handed
# out in this order, so no long file starts last while the other worker idles (xdist's default order, most
# tests first, put the one-test files test_multiworker.py and test_adapnet_pp_training.py at the very end).
SLOWEST_FILES = (
    "test_rundir_checkpoints.py",  # 134 at load ≈ 3 (issue 23: SIGINT / SIGTERM subprocess runs; 38 before)
    "test_multiworker.py",  # 122 at load ≈ 3 (four two-worker runs; 30 before)
    "test_faults.py",  # 110 at load ≈ 3 (binaries on read-only / full disks, damaged files; 32 before)
    "test_export_formats.py",  # 74
    "test_folder_dataset.py",  # ~60 (train + export of a short RFBNet on folder records)
    "test_serving_raw.py",  # ~65 (estimated: 100 s on the loaded machine, 42 s before its invalid-frame subprocess)
    "test_study.py",  # 64
    "test_recordings.py",  # 62 (serving_raw compiled once, predict on PNGs, two binaries run)
    "test_adapnet_pp_training.py",  # 62
    "test_train.py",  # 60
    "test_adapnet_pp_protocol.py",  # 44
    "test_rundir_facts.py",  # 42
    "test_tensorboard.py",  # 72 at load ~9 (a 2-step RFBNet run, TensorBoard's reader, predict --gates)
    "test_finetune.py",  # 33
    "test_graph_preprocessing.py",  # ~40 (estimated from the shared machine; includes a 15-20 s XLA subprocess)
    "test_cli.py",  # ~35 (eleven binary processes, seven of them at once; estimated, not measured idle)
    "test_export.py",  # 28
    "test_backend_parity.py",  # 23
)


def pytest_collection_modifyitems(config, items):
    """Run :data:`SLOWEST_FILES` first, in that order; every other file keeps its place (a stable sort)."""
    rank = {name: index for index, name in enumerate(SLOWEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


def pytest_configure(config):
    """pytest-xdist (when installed): hand out the files in collection order, not most tests first."""
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False
