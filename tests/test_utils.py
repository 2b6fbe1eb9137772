"""Tests of rfbnet_tf.utils (progress bar on a terminal and in a log file, the binaries' quiet start, atomic writes,
image decode) and rfbnet_tf.constants."""

import ast
import io
import json
import os
import re

import cv2
import numpy as np
import pytest

from rfbnet_tf import constants
from rfbnet_tf.utils import checks, files, startup_logs
from rfbnet_tf.utils.progress import Progress

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "rfbnet_tf")


def test_shared_checks_return_good_values_and_name_bad_ones():
    assert checks.positive_int("steps", 3) == 3 and checks.boolean("gates", False) is False
    for bad in (0, -1, True, 2.0, "3"):
        with pytest.raises(ValueError, match=f"^steps must be a positive int, received {re.escape(repr(bad))}$"):
            checks.positive_int("steps", bad)
    for bad in (0, 1, None, "true"):
        with pytest.raises(ValueError, match=f"^gates must be True or False, received {re.escape(repr(bad))}$"):
            checks.boolean("gates", bad)
    assert checks.int_at_least("warmup", 0, 0) == 0 and checks.int_at_least("num_classes", 2, 2) == 2
    for bad in (1, True, 2.0, "2"):
        with pytest.raises(ValueError, match=f"^num_classes must be an int >= 2, received {re.escape(repr(bad))}$"):
            checks.int_at_least("num_classes", bad, 2)
    assert checks.positive_number("max_depth", 10) == 10 and checks.positive_number("lr", 1e-9) == 1e-9
    for bad in (0, -0.5, float("inf"), float("nan"), True, "10", None):
        with pytest.raises(ValueError, match="^--max_depth must be a positive number of metres, received "
                                             f"{re.escape(repr(bad))}$"):
            checks.positive_number("--max_depth", bad, "metres")
    with pytest.raises(ValueError, match="^power must be a positive number, received 0$"):
        checks.positive_number("power", 0)


def test_range_size_and_camera_checks():
    assert checks.is_int(np.int64(3)) and not checks.is_int(True) and not checks.is_int(3.0)
    assert checks.is_real(np.float32(0.5)) and checks.is_real(2) and not checks.is_real(False)
    assert checks.int_in("size", np.uint8(256 - 1), 1, 256) == 255 and type(checks.int_in("size", 1, 1, 256)) is int
    for bad in (0, 257, True, 3.0):
        with pytest.raises(ValueError, match=rf"^size must be an int in \[1, 256\], received {re.escape(repr(bad))}$"):
            checks.int_in("size", bad, 1, 256)
    # both ends of each interval form: [0, 1) takes 0 but not 1, (0, 6.5] takes 6.5 but not 0
    assert checks.number_in("dropout", 0, 0, 1, high_open=True) == 0
    assert checks.number_in("max_depth", 6.5, 0, 6.5, low_open=True) == 6.5
    for bad, low_open, high_open, interval in ((1, False, True, r"\[0, 1\)"), (0, True, False, r"\(0, 1\]"),
                                               (float("nan"), False, False, r"\[0, 1\]"),
                                               ("0.5", True, True, r"\(0, 1\)")):
        with pytest.raises(ValueError, match=rf"^p must be a number in {interval} s, received {re.escape(repr(bad))}$"):
            checks.number_in("p", bad, 0, 1, low_open=low_open, high_open=high_open, unit="s")
    assert checks.number_in("weight_decay", 0.0, 0, float("inf"), high_open=True) == 0.0
    with pytest.raises(ValueError, match=r"in \[0, inf\), received inf"):
        checks.number_in("weight_decay", float("inf"), 0, float("inf"), high_open=True)
    assert checks.size_hw("crop_size", [np.int32(32), 48]) == (32, 48)
    assert checks.is_size_hw((1, 2)) and not checks.is_size_hw((1, True)) and not checks.is_size_hw((1, 2, 3))
    for bad in ((32,), (0, 48), (32, True), (32.0, 48), "32,48", None):
        with pytest.raises(ValueError, match=r"^crop_size must be \(height, width\), two positive ints, received "):
            checks.size_hw("crop_size", bad)
    camera = np.array([[500.0, 0, 320], [0, 510.0, 240], [0, 0, 1]])
    assert checks.is_camera_matrix(camera)
    for broken in (camera[:2], np.where(np.eye(3, dtype=bool), 0.0, camera), camera * np.nan):
        assert not checks.is_camera_matrix(broken)
    flipped = camera.copy()
    flipped[1, 1] = -510.0  # a negative focal length
    assert not checks.is_camera_matrix(flipped)


def test_progress_line():
    stream = io.StringIO()
    bar = Progress("synthetic/train", 4, stream=stream, interval=0.0)
    for _ in range(3):
        bar.update()
    assert "synthetic/train: 3/4 [ 75%]" in stream.getvalue() and "frames/s" in stream.getvalue()
    assert "ETA" in bar.line()
    bar.close()
    assert stream.getvalue().endswith("\n")
    assert Progress._clock(3725) == "1:02:05" and Progress._clock(65) == "01:05"


def test_progress_growing_total_and_disabled():
    stream = io.StringIO()
    bar = Progress("evaluate val", 0, stream=stream, interval=0.0)  # evaluate: total unknown, grows with the count
    for count in (2, 4):
        bar.total = count
        bar.update(2)
    bar.close()
    assert "evaluate val: 4/4 [100%]" in stream.getvalue()
    quiet = io.StringIO()
    bar = Progress("x", 3, enabled=False, stream=quiet, interval=0.0)
    bar.update(3)
    bar.close()
    assert quiet.getvalue() == ""


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_in_a_log_file_prints_plain_lines_at_each_quarter():
    stream = io.StringIO()  # not a terminal, like a log file or a pipe
    bar = Progress("synthetic/train", 200, stream=stream, interval=0.0)
    for _ in range(200):
        bar.update()
    bar.close()
    text = stream.getvalue()
    assert "\r" not in text and "\x1b" not in text and "\b" not in text
    lines = text.splitlines()
    counts = [int(line.split(": ", 1)[1].split("/", 1)[0]) for line in lines]
    assert counts == [1, 50, 100, 150, 200], lines  # the first, each quarter, no repeat at close
    assert lines[-1].startswith("synthetic/train: 200/200 [100%]") and text.endswith("\n")


def test_progress_in_a_log_file_with_a_growing_total_prints_by_time():
    stream = io.StringIO()
    bar = Progress("evaluate val", 0, stream=stream, interval=0.0, plain_interval=3600.0)
    for count in range(1, 6):
        bar.total = count
        bar.update()
    bar.close()
    assert [line.split(" [")[0] for line in stream.getvalue().splitlines()] == ["evaluate val: 1/1", "evaluate val: 5/5"]
    stream = io.StringIO()
    bar = Progress("evaluate val", 0, stream=stream, interval=0.0, plain_interval=0.0)
    for count in range(1, 4):
        bar.total = count
        bar.update()
    assert len(stream.getvalue().splitlines()) == 3


def test_progress_on_a_terminal_redraws_one_line_with_values():
    stream = _Terminal()
    bar = Progress("train", 150, stream=stream, interval=0.0, unit="steps", initial=100)  # resumed at step 100
    bar.set(101, loss=1.46934175491333, lr=0.000760531)
    bar.set(102, loss=0.5)
    bar.close()
    text = stream.getvalue()
    assert text.count("\r") == 3 and text.endswith("\n") and text.count("\n") == 1
    assert "train: 101/150 [ 67%]" in text and "steps/s" in text and "loss 1.469, lr 0.0007605" in text
    assert text.rstrip("\n").rsplit("\r", 1)[1].startswith("train: 102/150") and "loss 0.5, lr 0.0007605" in text
    bar.close()
    assert stream.getvalue() == text  # closed once


_NOTICES = """\
WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
I0000 00:00:1796603492.699965    5941 port.cc:153] oneDNN custom operations are on. You may see slightly different numerical results due to floating-point round-off errors from different computation orders. To turn them off, set the environment variable `TF_ENABLE_ONEDNN_OPTS=0`.
I0000 00:00:1796603492.700255    5941 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.
I0000 00:00:1796603492.740255    5941 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use available CPU instructions in performance-critical operations.
To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow with the appropriate compiler flags.
E0000 00:00:1796603495.689305    5941 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)
"""


def test_startup_notices_are_filtered_and_everything_else_kept():
    kept = "Traceback (most recent call last):\nE0000 00:00:1.0 1 some_op.cc:1] a real error\n"
    assert startup_logs.filter_notices(_NOTICES + kept) == kept
    # a cuInit failure on a machine whose CUDA driver was found is a real error: kept
    cuinit = _NOTICES.splitlines(keepends=True)[-1]
    assert startup_logs.filter_notices(cuinit) == cuinit


def test_quiet_start_copies_back_what_is_not_a_notice(capfd, monkeypatch):
    monkeypatch.setattr(startup_logs, "quiet", lambda: True)
    monkeypatch.delenv(startup_logs.LOG_LEVEL_ENV, raising=False)
    with pytest.raises(KeyError):
        with startup_logs.quiet_start():
            os.write(2, _NOTICES.encode())
            os.write(2, b"a line of the run\n")
            raise KeyError("an import that fails")
    assert capfd.readouterr().err == "a line of the run\n"
    assert os.environ[startup_logs.LOG_LEVEL_ENV] == "2"


def test_which_processes_start_quietly(monkeypatch):
    binary = [("python", "-m", "rfbnet_tf.train", "--steps=1"), ("python", "-u", "-m", "rfbnet_tf.study")]
    for orig_argv in binary:
        assert startup_logs.is_binary(["x.py"], list(orig_argv)), orig_argv
    assert startup_logs.is_binary(["/venv/bin/rfbnet-train", "--help"], ["python", "/venv/bin/rfbnet-train"])
    for orig_argv in (("python", "-m", "pytest"), ("python", "-c", "import rfbnet_tf"), ("python", "run.py", "-m"),
                      ("python",)):
        assert not startup_logs.is_binary(["x"], list(orig_argv)), orig_argv
    monkeypatch.setattr(startup_logs, "is_binary", lambda: True)
    for value, quiet in (("1", False), ("0", True), ("", True)):
        monkeypatch.setenv(startup_logs.VERBOSE_ENV, value)
        assert startup_logs.quiet() is quiet


def test_write_json_atomically(tmp_path):
    path = tmp_path / "a.json"
    assert files.write_json_atomically(path, {"b": 1, "a": [1.5, None]}) == str(path)
    assert path.read_text() == '{\n  "a": [\n    1.5,\n    null\n  ],\n  "b": 1\n}\n'
    files.write_json_atomically(path, {"b": 1, "a": 2}, sort_keys=False)
    assert list(json.loads(path.read_text())) == ["b", "a"]
    files.write_json_atomically(path, {"x": np.int64(3)}, default=int)
    assert json.loads(path.read_text()) == {"x": 3}
    with pytest.raises(TypeError):
        files.write_json_atomically(path, {"x": object()})
    assert json.loads(path.read_text()) == {"x": 3}  # the old content is kept
    assert sorted(os.listdir(tmp_path)) == ["a.json"]  # no temporary left


def test_write_text_atomically_leaves_no_temporary_on_error(tmp_path):
    path = tmp_path / "report.md"
    files.write_text_atomically(path, "# one\n")
    with pytest.raises(TypeError):
        files.write_text_atomically(path, 3)
    assert path.read_text() == "# one\n" and sorted(os.listdir(tmp_path)) == ["report.md"]


def test_read_image_unchanged(tmp_path):
    image = np.arange(12, dtype=np.uint16).reshape(3, 4) * 1000
    cv2.imwrite(str(tmp_path / "d.png"), image)
    decoded = files.read_image_unchanged(tmp_path / "d.png")
    assert decoded.dtype == np.uint16
    np.testing.assert_array_equal(decoded, image)
    with pytest.raises(FileNotFoundError, match="missing image file .*nope.png"):
        files.read_image_unchanged(tmp_path / "nope.png")
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="could not decode image .*bad.png"):
        files.read_image_unchanged(tmp_path / "bad.png")


def _module_assignments(name):
    """(module path, line) of every module-level ``name = ...`` under rfbnet_tf/."""
    found = []
    for directory, _, names in os.walk(PACKAGE):
        for file_name in names:
            if not file_name.endswith(".py"):
                continue
            path = os.path.join(directory, file_name)
            with open(path, encoding="utf-8") as handle:
                tree = ast.parse(handle.read())
            for node in tree.body:
                targets = node.targets if isinstance(node, ast.Assign) else []
                if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                    found.append((os.path.relpath(path, PACKAGE), node.lineno))
    return found


def test_constants_defined_once():
    assert constants.IGNORE_LABEL == 255 and constants.AUX_LOSS_WEIGHTS == (0.6, 0.5)
    assert [p for p, _ in _module_assignments("IGNORE_LABEL")] == ["constants.py"]
    assert [p for p, _ in _module_assignments("AUX_LOSS_WEIGHTS")] == ["constants.py"]
    from rfbnet_tf.datasets import records
    from rfbnet_tf.training import losses

    assert records.IGNORE_LABEL is constants.IGNORE_LABEL and losses.AUX_LOSS_WEIGHTS is constants.AUX_LOSS_WEIGHTS


def test_utils_import_nothing_from_rfbnet_tf_but_constants():
    for file_name in os.listdir(os.path.join(PACKAGE, "utils")):
        if not file_name.endswith(".py"):
            continue
        with open(os.path.join(PACKAGE, "utils", file_name), encoding="utf-8") as handle:
            tree = ast.parse(handle.read())
        for node in ast.walk(tree):
            modules = ([a.name for a in node.names] if isinstance(node, ast.Import)
                       else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for module in modules:
                assert not module.startswith("rfbnet_tf") or module == "rfbnet_tf.constants", (file_name, module)
