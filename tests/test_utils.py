"""Tests of rfbnet_tf.utils (progress bar, atomic writes, image decode) and rfbnet_tf.constants."""

import ast
import io
import json
import os

import cv2
import numpy as np
import pytest

from rfbnet_tf import constants
from rfbnet_tf.utils import files
from rfbnet_tf.utils.progress import Progress

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "rfbnet_tf")


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
    assert "evaluate val: 4/4 [100%]" in stream.getvalue()
    quiet = io.StringIO()
    bar = Progress("x", 3, enabled=False, stream=quiet, interval=0.0)
    bar.update(3)
    bar.close()
    assert quiet.getvalue() == ""


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
