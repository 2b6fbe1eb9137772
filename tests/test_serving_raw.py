"""The ``serving_raw`` signature of an export: raw uint16 depth completed and HHA-encoded in the SavedModel matches
``predict`` on the same files, and the README's TensorFlow-only client runs (in a fresh process that cannot
import rfbnet_tf) and writes the same labels; a frame with no valid depth returns promptly (in a subprocess with a
timeout: a regression fails instead of hanging), marked invalid with ignore labels, and leaves the other frames of
its batch alone; saturated 65535 values are missing; ``depth_plausible`` flags depth in the wrong units."""

import os
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest
import tensorflow as tf

from rfbnet_tf.constants import IGNORE_LABEL
from rfbnet_tf.inference import depth_input, image_files, input_spec, saved_model_export
from rfbnet_tf.preprocessing import graph
from rfbnet_tf.preprocessing.depth_plausibility import depth_unit_warning
from tests import run_dir_fixtures as fx
from tests import short_backbones
from tests.label_checks import assert_class_ids_match

SIZE = (32, 48)
MAX_DEPTH = 10.0  # the records' (run_dir_fixtures.write_records)
CAMERA = (40.0, 40.0, 23.5, 15.5)
README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")

# The short ERFNetEnc (tests/short_backbones.py): the raw-depth preprocessing does not depend on the backbone's
# depth, and the export is traced, saved and XLA-compiled in about half the time.
_short_erfnet = pytest.fixture(scope="module", autouse=True)(short_backbones.short_erfnet)


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
    fx.make_run_dir(model_dir, fx.run_config(record_dir, image_size=SIZE), seed=2)  # a mix of classes
    export_dir = saved_model_export.export_model(saved_model_export.ExportConfig(model_dir, verify=False))
    rgb = np.random.default_rng(6).integers(0, 256, SIZE + (3,), dtype=np.uint8)
    depth = _raw_depth_mm()
    assert cv2.imwrite(str(root / "frame_color.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert cv2.imwrite(str(root / "frame_depth.png"), depth)
    loaded = tf.saved_model.load(export_dir)
    out = loaded.signatures[input_spec.SIGNATURE_RAW](
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
    reference = exported["loaded"].signatures[input_spec.SIGNATURE_DEFAULT](
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


_INVALID_FRAMES_CLIENT = """
import sys
import numpy as np
import tensorflow as tf

export_dir, inputs_path, outputs_path = sys.argv[1:]
inputs = np.load(inputs_path)
serve = tf.saved_model.load(export_dir).signatures["serving_raw"]
zeros = np.zeros_like(inputs["depth"])
saturated = np.full_like(inputs["depth"], 65535)
results = {}
for name, depths in (("alone", [zeros]), ("mixed", [inputs["depth"], zeros, saturated])):
    out = serve(rgb=tf.constant(np.stack([inputs["rgb"]] * len(depths))), depth=tf.constant(np.stack(depths)),
                depth_scale=tf.constant(0.001), intrinsics=tf.constant(inputs["camera"]))
    results.update({f"{name}_{key}": value.numpy() for key, value in out.items()})
np.savez(outputs_path, **results)
"""


def _call(exported, depth, depth_scale=0.001):
    out = exported["loaded"].signatures[input_spec.SIGNATURE_RAW](
        rgb=tf.constant(exported["rgb"][None]), depth=tf.constant(depth[None, ..., None]),
        depth_scale=tf.constant(depth_scale), intrinsics=tf.constant(CAMERA, tf.float32))
    return {key: value.numpy() for key, value in out.items()}


def test_frames_without_valid_depth_return_promptly_marked_invalid(exported):
    """All-zero and all-saturated depth (sensor start-up) through the exported SavedModel, as a client calls it
    (the same XLA compilation), in a subprocess: alone, and batched after a valid frame."""
    root = exported["root"]
    np.savez(root / "invalid_inputs.npz", rgb=exported["rgb"], depth=exported["depth"][..., None],
             camera=np.array(CAMERA, np.float32))
    (root / "invalid_client.py").write_text(_INVALID_FRAMES_CLIENT)
    subprocess.run([sys.executable, str(root / "invalid_client.py"), exported["export_dir"],
                    str(root / "invalid_inputs.npz"), str(root / "invalid_outputs.npz")],
                   check=True, capture_output=True, timeout=120)  # hung before: the completion's loop never ended
    got = dict(np.load(root / "invalid_outputs.npz"))
    np.testing.assert_array_equal(got["alone_valid"], [False])
    np.testing.assert_array_equal(got["mixed_valid"], [True, False, False])
    np.testing.assert_array_equal(got["alone_depth_plausible"], [True])  # nothing measured: nothing implausible
    for ids, probabilities in ((got["alone_class_ids"][0], got["alone_probabilities"][0]),
                               *zip(got["mixed_class_ids"][1:], got["mixed_probabilities"][1:])):
        assert ids.shape == SIZE and (ids == IGNORE_LABEL).all()  # the run's ignore label
        assert probabilities.shape == SIZE + (3,) and not probabilities.any()
    alone = exported["out"]  # the valid frame called by itself (the fixture)
    assert got["mixed_valid"][0] and alone["valid"].tolist() == [True] and alone["depth_plausible"].tolist() == [True]
    np.testing.assert_allclose(got["mixed_probabilities"][0], alone["probabilities"][0], atol=1e-5)
    assert_class_ids_match(got["mixed_class_ids"][0], alone["probabilities"][0], 1e-4)


def _xla_functions(concrete):
    library = concrete.graph.as_graph_def().library.function
    return [function for function in library if function.attr["_XlaMustCompile"].b]


def test_the_compiled_preprocessing_holds_no_assert(exported):
    """XLA drops Asserts ("Ignoring Assert operator"): the compiled part must not rely on one."""
    compiled = _xla_functions(exported["loaded"].signatures[input_spec.SIGNATURE_RAW])
    assert compiled
    for function in compiled:
        assert not {node.op for node in function.node_def} & {"Assert"}, function.signature.name


def test_saturated_depth_is_missing(exported):
    """65535 (a saturated 16-bit reading) counts as missing: the same as 0 there. In 1e-4 m (NYUv2 dumps) it would
    read 6.55 m, within max_depth."""
    tenths = exported["depth"] * np.uint16(10)
    saturated = np.where(tenths == 0, np.uint16(65535), tenths)
    holes, out = _call(exported, tenths, 1e-4), _call(exported, saturated, 1e-4)
    np.testing.assert_array_equal(out["probabilities"], holes["probabilities"])
    np.testing.assert_array_equal(out["class_ids"], holes["class_ids"])
    assert out["valid"].tolist() == [True] and out["depth_plausible"].tolist() == [True]


def test_depth_plausible_flags_depth_in_the_wrong_units(exported):
    """The plane at 0.8–3 m stored in 1/10 mm but served as mm: 8–30 m, mostly beyond max_depth (10 m) — still a
    valid frame (its nearest part is within range), flagged implausible by the rule predict warns with."""
    tenths = exported["depth"].astype(np.int64) * 10
    assert tenths.max() < 65535
    out = _call(exported, tenths.astype(np.uint16))
    assert out["valid"].tolist() == [True] and out["depth_plausible"].tolist() == [False]
    assert "--depth_units" in depth_unit_warning(tenths / 1000.0, MAX_DEPTH)
    assert depth_unit_warning(exported["depth"] / 1000.0, MAX_DEPTH) is None  # the fixture's frame: plausible
