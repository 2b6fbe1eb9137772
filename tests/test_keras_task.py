"""The ``.keras`` task: ``RGBDPreprocessor`` (normalisation + size policy) and ``RGBDSegmenter`` (preprocessor +
network). Their configs round-trip; the preprocessor's numbers equal a numpy/``tf.image`` reference (the
export's ``serving_ops.preprocess`` runs the same layer after converting raw depth units); a saved task reloads in a fresh process after only ``import rfbnet_tf`` with the
same outputs. (A trained run's ``final.keras`` is checked in tests/test_rundir_facts.py.)"""

import dataclasses
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from rfbnet_tf import rundir
from rfbnet_tf.inference import input_spec, keras_task, serving_ops
from rfbnet_tf.layers import RGBDPreprocessor
from rfbnet_tf.models import RGBDSegmenter, build_model
from tests import run_dir_fixtures as fx

MODEL_SIZE = (32, 48)  # multiples of 16 (ERFNetEnc stride 8, depth shrunk by 2)
ODD_SIZE = (36, 50)
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HHA_STATS = {"rgb": fx.NORMALIZATION["rgb"], "depth": fx.NORMALIZATION["hha"]}


def _preprocessor(policy, keys=("rgb", "depth"), stats=HHA_STATS, divisor=16):
    return RGBDPreprocessor(keys, {k: stats[k]["mean"] for k in keys}, {k: stats[k]["std"] for k in keys},
                            size_policy=policy, image_size=MODEL_SIZE, size_divisor=divisor)


def _images(size, seed, batch=2):
    rng = np.random.default_rng(seed)
    return {key: rng.integers(0, 256, (batch, *size, 3), dtype=np.uint8) for key in ("rgb", "depth")}


@pytest.fixture(scope="module")
def network():
    keras.utils.set_random_seed(4)
    return build_model("rfbnet_erfnet_enc", 3)


@pytest.mark.parametrize("policy", ["resize", "pad"])
def test_preprocessor_config_round_trips_and_matches_a_reference(policy):
    layer = _preprocessor(policy)
    config = layer.get_config()
    again = RGBDPreprocessor.from_config(config)
    assert again.get_config() == config
    assert config["mean"]["depth"] == fx.NORMALIZATION["hha"]["mean"] and config["size_divisor"] == 16
    assert keras.saving.get_registered_object("rfbnet_tf>RGBDPreprocessor") is RGBDPreprocessor
    images = _images(ODD_SIZE, 1)
    out = again(images)
    for key in ("rgb", "depth"):
        x = images[key].astype(np.float32)
        if policy == "resize":  # bilinear to the training size, rounded back to uint8, then normalised
            x = np.clip(np.rint(tf.image.resize(x, MODEL_SIZE).numpy()), 0, 255)
            expected = fx.normalized(x, HHA_STATS[key])
        else:  # normalised, then zeros at the bottom / right up to multiples of 16
            expected = np.pad(fx.normalized(x, HHA_STATS[key]), [(0, 0), (0, 12), (0, 14), (0, 0)])
        assert out[key].dtype == "float32"
        np.testing.assert_allclose(keras.ops.convert_to_numpy(out[key]), expected, atol=1e-5)


def test_preprocessor_refuses_bad_settings():
    with pytest.raises(ValueError, match="size_policy"):
        _preprocessor("stretch")
    with pytest.raises(ValueError, match="not a multiple"):
        _preprocessor("resize", divisor=64)
    with pytest.raises(ValueError, match="std"):
        RGBDPreprocessor(["rgb"], {"rgb": [1.0, 2.0, 3.0]}, {"rgb": [1.0, 0.0, 1.0]}, "pad")
    with pytest.raises(ValueError, match="mean"):
        RGBDPreprocessor(["rgb", "depth"], {"rgb": [1.0]}, {"rgb": [1.0]}, "pad")


def test_task_equals_network_after_the_serving_preprocessing(network):
    """The task = the export's preprocessing (``serving_ops.preprocess``) + the network, for both size policies."""
    config = fx.typed(fx.run_config("/unused", image_size=MODEL_SIZE))
    for policy in ("resize", "pad"):
        spec = input_spec.input_spec(config, fx.run_info_of(), policy)
        task = keras_task.task_from_spec(network, spec)
        assert keras_task.spec_of_task(task) == dataclasses.replace(spec, max_depth=None)  # max_depth: run_info
        images = _images(ODD_SIZE, 2)
        expected = network(serving_ops.preprocess({k: tf.constant(v) for k, v in images.items()}, spec), training=False)
        got = task(images, training=False)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(got), expected.numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="not the network's inputs"):
        RGBDSegmenter(network, _preprocessor("pad", keys=("rgb",)))


RELOAD = """
import sys
import keras
import numpy as np
import rfbnet_tf

task = keras.saving.load_model(sys.argv[1])
assert type(task).__name__ == "RGBDSegmenter", type(task)
np.save(sys.argv[3], keras.ops.convert_to_numpy(task({"rgb": np.load(sys.argv[2])}, training=False)))
print(task.preprocessor.size_policy, task.network.name)
"""


def test_final_keras_written_under_mixed_precision_reloads_after_import_rfbnet_tf_alone(tmp_path):
    """``write_final_task`` during a mixed-precision run writes a float32 task; its ``get_config`` round-trips and
    a fresh process that imports only rfbnet_tf loads it and computes the network's logits (to float16 rounding)."""
    model_dir = str(tmp_path / "run")
    os.makedirs(model_dir)
    rundir.facts.write_run_info(model_dir, fx.run_info_of())
    config = fx.typed(fx.run_config("/unused", model="erfnet_enc", model_options={"modality": "rgb"},
                                    image_size=MODEL_SIZE))
    rgb = _images(ODD_SIZE, 3, batch=1)["rgb"]
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        keras.utils.set_random_seed(6)
        network = rundir.config_file.build_from_run_config(config)
        path = keras_task.write_final_task(model_dir, network, config)
        assert keras.mixed_precision.global_policy().name == "mixed_float16"
        spec = input_spec.input_spec(config, fx.run_info_of())
        inputs = serving_ops.model_call_inputs(serving_ops.preprocess({"rgb": tf.constant(rgb)}, spec), spec)
        expected = network(inputs, training=False).numpy()
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert sorted(os.listdir(model_dir)) == ["final.keras", "run_info.json"]
    task = keras.saving.load_model(path)
    config = task.get_config()
    assert RGBDSegmenter.from_config(config).get_config() == config
    assert keras.saving.get_registered_object("rfbnet_tf>RGBDSegmenter") is RGBDSegmenter
    np.save(tmp_path / "rgb.npy", rgb)
    done = subprocess.run([sys.executable, "-c", RELOAD, path, str(tmp_path / "rgb.npy"), str(tmp_path / "out.npy")],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-2:] == ["resize", "erfnet_enc"]
    got = np.load(tmp_path / "out.npy")
    assert got.shape == (1, *MODEL_SIZE, 3) and got.dtype == np.float32
    np.testing.assert_allclose(got, keras.ops.convert_to_numpy(task({"rgb": rgb}, training=False)), atol=1e-5)
    np.testing.assert_allclose(got, expected.astype(np.float32), atol=2e-2)  # float16 compute in training
    assert np.abs(expected).max() > 0.2


def test_raw_depth_task_takes_float_metres():
    """A unimodal depth network on raw depth: one float32 metre channel, normalised with the depth statistics."""
    keras.utils.set_random_seed(5)
    depth_net = build_model("erfnet_enc", 3, modality="depth", depth_channels=1)
    stats = {"depth": fx.NORMALIZATION["depth"]}
    task = RGBDSegmenter(depth_net, _preprocessor("pad", keys=("depth",), stats=stats, divisor=8))
    assert task.inputs[0].dtype == "float32" and tuple(task.inputs[0].shape) == (None, None, None, 1)
    depth = np.random.default_rng(6).uniform(0.5, 6.0, (1, 30, 40, 1)).astype(np.float32)
    expected = depth_net(np.pad(fx.normalized(depth, stats["depth"]), [(0, 0), (0, 2), (0, 0), (0, 0)]),
                         training=False)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(task({"depth": depth}, training=False)), expected.numpy(),
                               atol=1e-5)
    spec = keras_task.spec_of_task(task)
    assert spec.depth_input == "depth" and spec.model_inputs == ("depth",) and spec.size_policy == "pad"
