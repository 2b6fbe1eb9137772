"""The ``serving_raw`` signature of an export: raw uint16 depth completed and HHA-encoded in the SavedModel matches
``predict`` on the same files, and the README's TensorFlow-only client runs (in a fresh process that cannot
import rfbnet_tf) and writes the same labels."""

import os
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest
import tensorflow as tf

from rfbnet_tf.inference import depth_input, image_files, saved_model_export, serving
from rfbnet_tf.preprocessing import graph
from tests import run_dir_fixtures as fx
from tests.label_checks import assert_class_ids_match

SIZE = (32, 48)
MAX_DEPTH = 10.0  # the records' (run_dir_fixtures.write_records)
CAMERA = (40.0, 40.0, 23.5, 15.5)
README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def _raw_depth_mm():
    """A tilted plane (0.8–3 m) with sensor-like holes: random dropouts and a block."""
    rows, cols = np.indices(SIZE, dtype=np.float64)
    depth = 800.0 + 40.0 * rows + 10.0 * cols
    rng = np.random.default_rng(5)
    depth[rng.random(SIZE) < 0.25] = 0
    depth[4:10, 12:22] = 0
    return depth.astype(np.uint16)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("serving_raw")
    record_dir = str(root / "records")
    fx.write_records(record_dir, {"train": fx.random_frames(0, 1, SIZE)})
    model_dir = str(root / "run")
    fx.make_run_dir(model_dir, fx.run_config(record_dir, image_size=SIZE))
    export_dir = saved_model_export.export_model(model_dir, verify=False)
    rgb = np.random.default_rng(6).integers(0, 256, SIZE + (3,), dtype=np.uint8)
    depth = _raw_depth_mm()
    assert cv2.imwrite(str(root / "frame_color.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert cv2.imwrite(str(root / "frame_depth.png"), depth)
    loaded = tf.saved_model.load(export_dir)
    out = loaded.signatures[serving.SIGNATURE_RAW](
        rgb=tf.constant(rgb[None]), depth=tf.constant(depth[None, ..., None]), depth_scale=tf.constant(0.001),
        intrinsics=tf.constant(CAMERA, tf.float32))
    return {"root": root, "model_dir": model_dir, "export_dir": export_dir, "rgb": rgb, "depth": depth,
            "loaded": loaded, "out": {key: value.numpy() for key, value in out.items()}}


def test_serving_raw_matches_predict_on_the_same_files(exported):
    """predict's steps through its public functions (as ``prediction.predict`` chains them: read the files, numpy
    completion + HHA with the run's max_depth, the export's preprocessing and model via ``serving_default``)."""
    root = exported["root"]
    rgb = image_files.read_rgb(str(root / "frame_color.png"))
    depth, _ = depth_input.read_depth(str(root / "frame_depth.png"), "mm")  # metres
    np.testing.assert_allclose(depth, exported["depth"].astype(np.float32) / 1000, rtol=0, atol=1e-6)
    matrix = image_files.parse_intrinsics(",".join(map(str, CAMERA)))
    out = exported["out"]
    assert out["class_ids"].shape == (1,) + SIZE and out["probabilities"].shape == (1,) + SIZE + (3,)
    # predict's own steps, through its public functions: numpy HHA, then the export's default signature
    numpy_hha = depth_input.model_depth_input(depth, "hha", SIZE, matrix, MAX_DEPTH)
    graph_hha = graph.complete_and_encode(exported["depth"].astype(np.float32) / np.float32(1000), "hha",
                                          tf.constant(CAMERA, tf.float32), MAX_DEPTH).numpy()
    difference = np.abs(graph_hha.astype(int) - numpy_hha.astype(int))
    for channel, levels in ((0, 1), (1, 1), (2, 3)):
        assert np.mean(difference[..., channel] <= levels) >= 0.99, channel
    reference = exported["loaded"].signatures[serving.SIGNATURE_DEFAULT](
        rgb=tf.constant(rgb[None]), depth=tf.constant(numpy_hha[None]))
    reference = {key: value.numpy() for key, value in reference.items()}
    if np.array_equal(graph_hha, numpy_hha):  # the usual case: then the model sees the same input
        np.testing.assert_allclose(out["probabilities"], reference["probabilities"], atol=1e-5)
    assert_class_ids_match(out["class_ids"][0], reference["probabilities"][0], 1e-4)
    assert len(np.unique(out["class_ids"])) > 1  # not a constant map


def test_readme_client_needs_only_tensorflow(exported):
    with open(README, encoding="utf-8") as handle:
        text = handle.read()
    code = re.search(r"<!-- serving_raw client -->\n```python\n(.*?)```", text, re.S).group(1)
    assert len(code.strip().splitlines()) <= 12
    assert set(re.findall(r"^\s*(?:import|from)\s+(\w+)", code, re.M)) == {"tensorflow"}
    root = exported["root"]
    code = code.replace("runs/rfbnet_scannet/export", exported["export_dir"])
    code = code.replace("[577.6, 578.7, 318.9, 242.7]", repr(list(CAMERA)))
    script = root / "client.py"
    script.write_text("import sys\nsys.modules['rfbnet_tf'] = None  # the client must not need the package\n" + code)
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    subprocess.run([sys.executable, str(script)], cwd=root, env=env, check=True, capture_output=True, timeout=300)
    labels = cv2.imread(str(root / "frame_labels.png"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(labels, exported["out"]["class_ids"][0])
