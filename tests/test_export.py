"""rfbnet_tf.export: the reloaded SavedModel matches the Keras model (probabilities to 1e-5, class ids = argmax up to near-ties)
on a size that is and one that is not divisible by 16 (default resize policy; the pad policy through the same
serving functions); raw-depth inputs (uint16 millimetres and float metres); atomic writing (a failed export
leaves nothing behind)."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from rfbnet_tf.inference import input_spec, saved_model_export, serving
from tests import run_dir_fixtures as fx
from tests import short_backbones
from tests.label_checks import assert_class_ids_match

MODEL_SIZE = (32, 48)  # the run's training size, divisible by 16 (ERFNetEnc stride 8 × depth shrink 2)
ODD_SIZE = (36, 50)  # not divisible by 16

# The short ERFNetEnc (tests/short_backbones.py): export, policies and raw depth do not depend on the backbone's
# depth, and its SavedModel is traced and saved in about half the time.
_short_erfnet = pytest.fixture(scope="module", autouse=True)(short_backbones.short_erfnet)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    record_dir = str(root / "records")
    fx.write_records(record_dir, {"train": fx.random_frames(0, 1, MODEL_SIZE)})
    model_dir = str(root / "run")
    model = fx.make_run_dir(model_dir, fx.run_config(record_dir, image_size=MODEL_SIZE), step=11,
                             seed=2)  # seed 2: a mix of predicted classes from the short model
    return {"model_dir": model_dir, "model": model, "root": root}


def _images(size, seed):
    rng = np.random.default_rng(seed)
    return {key: rng.integers(0, 256, (2, *size, 3), dtype=np.uint8) for key in ("rgb", "depth")}


def _normalized(images):
    return {"rgb": fx.normalized(images["rgb"], fx.NORMALIZATION["rgb"]),
            "depth": fx.normalized(images["depth"], fx.NORMALIZATION["hha"])}


def _reference_resize(model, images, size):
    """Resize policy by hand: rounded bilinear resize to the training size, model, logits resized back."""
    resized = {k: np.clip(np.rint(tf.image.resize(v.astype(np.float32), MODEL_SIZE).numpy()), 0, 255)
               for k, v in images.items()}
    logits = model(_normalized(resized), training=False)
    return tf.nn.softmax(tf.image.resize(logits, size), axis=-1).numpy()


def _reference_pad(model, images, size):
    """Pad policy by hand: normalise, zero-pad bottom/right to multiples of 16, model, crop."""
    padded_size = [-(-s // 16) * 16 for s in size]
    inputs = {k: np.pad(v, [(0, 0), (0, padded_size[0] - size[0]), (0, padded_size[1] - size[1]), (0, 0)])
              for k, v in _normalized(images).items()}
    logits = model(inputs, training=False).numpy()[:, : size[0], : size[1]]
    return tf.nn.softmax(logits, axis=-1).numpy()


def _check(loaded, reference, images):
    out = loaded.signatures["serving_default"](rgb=tf.constant(images["rgb"]), depth=tf.constant(images["depth"]))
    probabilities, class_ids = out["probabilities"].numpy(), out["class_ids"].numpy()
    assert probabilities.shape == reference.shape and probabilities.dtype == np.float32
    assert class_ids.shape == reference.shape[:3] and class_ids.dtype == np.int32
    np.testing.assert_allclose(probabilities, reference, atol=1e-5)
    assert_class_ids_match(class_ids, reference)
    assert len(np.unique(class_ids)) >= 2


def test_export_resize_policy_matches_keras_model(run):
    # The default policy: resize to the training size.
    path = saved_model_export.export_model(saved_model_export.ExportConfig(run["model_dir"], verify=True))
    assert path == os.path.abspath(os.path.join(run["model_dir"], "export"))
    loaded = tf.saved_model.load(path)
    for size, seed in ((MODEL_SIZE, 1), (ODD_SIZE, 2)):
        images = _images(size, seed)
        _check(loaded, _reference_resize(run["model"], images, size), images)
    with open(os.path.join(path, saved_model_export.EXPORT_INFO_PATH), encoding="utf-8") as handle:
        info = json.load(handle)
    assert info["input_spec"]["size_policy"] == "resize" and info["checkpoint_step"] == 11
    assert info["input_spec"]["mean"]["depth"] == fx.NORMALIZATION["hha"]["mean"]
    with pytest.raises(FileExistsError, match="overwrite"):
        saved_model_export.export_model(saved_model_export.ExportConfig(run["model_dir"]))


def test_pad_policy_matches_keras_model(run):
    """The pad geometry, through the same tf.functions the SavedModel holds (save/reload equality is
    checked above; a second export would only cost time)."""
    spec = input_spec.input_spec(fx.typed(fx.run_config("/unused", image_size=MODEL_SIZE)), fx.run_info_of(), "pad")
    module = serving.ServingModule(run["model"], spec)
    for size, seed in ((MODEL_SIZE, 3), (ODD_SIZE, 4)):
        images = _images(size, seed)
        reference = _reference_pad(run["model"], images, size)
        out = module.run(images)
        np.testing.assert_allclose(out["probabilities"], reference, atol=1e-5)
        assert_class_ids_match(out["class_ids"], reference)
        # The check is not vacuous: ids one pixel off (a pad on the wrong side) fail it.
        with pytest.raises(AssertionError):
            assert_class_ids_match(np.roll(out["class_ids"], 1, axis=2), reference)


def test_raw_depth_inputs_millimetres_and_metres(tmp_path):
    record_dir = str(tmp_path / "records")
    fx.write_records(record_dir, {"train": fx.random_frames(0, 1, (16, 16))})
    config = fx.run_config(record_dir, model="erfnet_enc", model_options={"modality": "depth", "depth_channels": 1},
                           depth_input="depth", image_size=None)
    model = fx.make_run_dir(str(tmp_path / "run"), config)
    spec = input_spec.input_spec(fx.typed(config), fx.run_info_of())
    assert spec.size_policy == "pad" and spec.model_inputs == ("depth",) and spec.size_divisor == 8
    module = serving.ServingModule(model, spec)
    assert set(module.signatures()) == {"serving_default", "serving_depth_metres"}
    millimetres = np.random.default_rng(5).integers(300, 6000, (1, 13, 21, 1), dtype=np.uint16)
    metres = millimetres.astype(np.float32) / 1000.0
    x = np.pad(fx.normalized(metres, fx.NORMALIZATION["depth"]), [(0, 0), (0, 3), (0, 3), (0, 0)])
    reference = tf.nn.softmax(model(x, training=False).numpy()[:, :13, :21], axis=-1).numpy()
    for depth in (millimetres, metres):
        out = module.run({"depth": depth})
        np.testing.assert_allclose(out["probabilities"], reference, atol=1e-5)
        assert_class_ids_match(out["class_ids"], reference)
    with pytest.raises(ValueError, match="must have dtype uint16 or float32, received uint8"):
        module.run({"depth": millimetres.astype(np.uint8)})
    with pytest.raises(ValueError, match=r"lack \['depth'\]"):
        module.run({"rgb": np.zeros((4, 4, 3), np.uint8)})


def test_failed_export_leaves_no_directory(run, monkeypatch, tmp_path):
    spec = input_spec.input_spec(fx.typed(fx.run_config("/unused", image_size=MODEL_SIZE)), fx.run_info_of())
    module = serving.ServingModule(run["model"], spec)

    def half_save(obj, path, signatures=None):
        os.makedirs(os.path.join(path, "variables"))
        with open(os.path.join(path, "saved_model.pb"), "wb") as handle:
            handle.write(b"partial")
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(saved_model_export.tf.saved_model, "save", half_save)
    target = tmp_path / "exports" / "model"
    with pytest.raises(OSError, match="simulated"):
        saved_model_export.save_module(module, str(target))
    assert not target.exists() and os.listdir(tmp_path / "exports") == []

    # An existing export survives a failed overwrite untouched.
    target.mkdir()
    (target / "saved_model.pb").write_bytes(b"old export")
    with pytest.raises(OSError, match="simulated"):
        saved_model_export.save_module(module, str(target), overwrite=True)
    assert (target / "saved_model.pb").read_bytes() == b"old export"
    assert sorted(os.listdir(tmp_path / "exports")) == ["model"]


def test_clear_errors(run, tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        saved_model_export.export_model(saved_model_export.ExportConfig(str(tmp_path / "nowhere")))
    config, info = fx.run_config("/unused"), fx.run_info_of()
    with pytest.raises(ValueError, match="size_policy must be one of"):
        input_spec.input_spec(fx.typed(config), info, "stretch")
    with pytest.raises(ValueError, match=r"not a multiple of the model's size divisor 16"):
        input_spec.input_spec(fx.typed(config | {"image_size": [40, 56]}), info, "resize")
    with pytest.raises(ValueError, match="needs the run's image_size"):
        input_spec.input_spec(fx.typed(config | {"image_size": None}), info, "resize")
    with pytest.raises(ValueError, match=r"run_info \(run_info.json\) must be a dict with 'normalization'"):
        input_spec.input_spec(fx.typed(config), {"class_names": ["a"]})


def test_run_summary_reports_miou_and_log_dir(tmp_path):
    import json

    from rfbnet_tf.inference.saved_model_export import run_summary

    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "val.json").write_text(json.dumps({"miou": 0.3851}))
    text = run_summary(str(tmp_path))
    assert "mIoU (val): 38.51%" in text and str(tmp_path / "logs") in text


def test_tensorflow_renamed_inputs_message_is_summarised_in_one_line():
    """TensorFlow lists every captured input of ``serve_raw`` (13,000 characters); the export logs one short line."""
    import logging

    old = ", ".join(str(19719 + 2 * i) for i in range(670))
    new = ", ".join(f"unknown_{i}" for i in range(670))
    record = logging.LogRecord("absl", logging.INFO, "signature_serialization.py", 156,
                               saved_model_export.RenamedInputsSummary.PREFIX
                               + " %s with unsupported characters which will be renamed to %s in the SavedModel.",
                               ("serve_raw", old, new), None)
    assert saved_model_export.RenamedInputsSummary().filter(record)
    assert record.getMessage() == ("Function `serve_raw`: 670 captured input name(s) renamed in the SavedModel "
                                   "(unknown_0 … unknown_669)")
    other = logging.LogRecord("absl", logging.INFO, "x.py", 1, "exporting %s", ("m",), None)
    assert saved_model_export.RenamedInputsSummary().filter(other) and other.getMessage() == "exporting m"
