"""A trained model_dir is self-contained: ``run_info.json`` holds the dataset facts evaluate, export and predict
need, so moving the records away changes none of their outputs (probabilities to 1e-6, class-id PNGs equal,
the same mIoU), evaluate normalises other records with the run's statistics, and a run without the file fails
with one line naming it and the command that writes it."""

import dataclasses
import json
import os
import shutil

import cv2
import numpy as np
import pytest
import tensorflow as tf

from rfbnet_tf.utils import files
from rfbnet_tf import rundir

from rfbnet_tf.inference import saved_model_export
from rfbnet_tf.datasets import pipeline, records, synthetic
from rfbnet_tf.evaluation.evaluator import EvaluationConfig, evaluate
from rfbnet_tf.inference.prediction import PredictConfig, predict
from tests import short_backbones, train_fixtures

MAX_DEPTH = 6.0  # not the indoor default of 10 m: predict must take it from the run
FRAME_SIZES = {"a": (32, 48), "b": (36, 50)}  # the training size and one the resize policy must handle

_fast_graphs = pytest.fixture(scope="module", autouse=True)(train_fixtures.fast_graphs)
# The short ERFNetEnc (tests/short_backbones.py): nothing here depends on the backbone's depth.
_short_erfnet = pytest.fixture(scope="module", autouse=True)(short_backbones.short_erfnet)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 3-step rfbnet_erfnet_enc run on raw (completed) depth, and image files to predict on."""
    from rfbnet_tf.datasets.preparation import prepare
    from rfbnet_tf.training.trainer import train

    root = tmp_path_factory.mktemp("run_dir")
    record_dir = str(root / "records")
    prepare("synthetic", record_dir, synthetic_train=6, synthetic_val=2, synthetic_size=(32, 48), num_workers=1,
            progress=False, max_depth=MAX_DEPTH)
    model_dir = str(root / "run")
    train(dict(train_fixtures.TINY_RUN, record_dir=record_dir, model_dir=model_dir, model="rfbnet_erfnet_enc",
               depth_input="depth", steps=3))
    rng = np.random.default_rng(0)
    for kind in ("rgb", "depth"):
        os.makedirs(root / kind)
    frames = {}
    for stem, size in FRAME_SIZES.items():
        rgb = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
        depth_mm = rng.integers(400, 9000, size, dtype=np.uint16)
        depth_mm[rng.random(size) < 0.1] = 0  # holes, filled by the depth completion
        assert cv2.imwrite(str(root / "rgb" / f"{stem}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        assert cv2.imwrite(str(root / "depth" / f"{stem}.png"), depth_mm)
        frames[stem] = {"rgb": rgb, "depth": depth_mm[..., None]}
    return {"root": root, "record_dir": record_dir, "model_dir": model_dir, "frames": frames}


def _outputs(trained, tag, record_dir):
    """Export, predict and evaluate the run; ``record_dir`` is only where evaluate finds the frames."""
    root, model_dir = trained["root"], trained["model_dir"]
    # verify=False: the export is loaded and run here (the verification itself: tests/test_export.py)
    export_dir = saved_model_export.export_model(saved_model_export.ExportConfig(model_dir,
                                                                                 str(root / f"export_{tag}"),
                                                                                 verify=False))
    loaded = tf.saved_model.load(export_dir)
    assert "serving_raw" in loaded.signatures  # built from final.keras, with the run's max_depth from run_info.json
    probabilities = {stem: loaded.signatures["serving_default"](
        rgb=tf.constant(frame["rgb"][None]), depth=tf.constant(frame["depth"][None]))["probabilities"].numpy()
        for stem, frame in trained["frames"].items()}
    out = root / f"predict_{tag}"
    predict(PredictConfig(model_dir, str(root / "rgb"), str(out), depth=str(root / "depth"), progress=False))
    class_ids = {stem: cv2.imread(str(out / f"{stem}_class_ids.png"), cv2.IMREAD_UNCHANGED) for stem in FRAME_SIZES}
    result = evaluate(EvaluationConfig(model_dir, record_dir=record_dir, split="val",
                                       output_dir=str(root / f"eval_{tag}"),
                                       progress=False))
    return probabilities, class_ids, result


def _assert_same(before, after):
    for stem in FRAME_SIZES:
        np.testing.assert_allclose(after[0][stem], before[0][stem], rtol=0, atol=1e-6)
        np.testing.assert_array_equal(after[1][stem], before[1][stem])
    assert after[2]["confusion_matrix"] == before[2]["confusion_matrix"]
    assert after[2]["miou"] == before[2]["miou"]


def test_run_info_holds_the_records_facts(trained):
    with open(os.path.join(trained["model_dir"], rundir.facts.RUN_INFO_FILENAME), encoding="utf-8") as handle:
        stored = json.load(handle)
    dataset = records.load_dataset_info(trained["record_dir"])
    assert stored["normalization"] == dataset["normalization"]
    assert set(stored["normalization"]) == {"rgb", "hha", "depth"}
    assert stored["class_names"] == dataset["class_names"] and stored["num_classes"] == dataset["num_classes"] == 10
    assert stored["max_depth"] == MAX_DEPTH and stored["depth_units"] == "millimetres"
    assert (stored["dataset"], stored["ignore_label"]) == ("synthetic", 255)
    assert stored["palette"] == dataset["palette"] == [list(colour) for colour in synthetic.PALETTE]  # the dataset's
    assert stored["stored_image_size"] == [32, 48]
    assert stored["record_dir"] == os.path.abspath(trained["record_dir"])


def test_outputs_survive_moving_the_records(trained, tmp_path):
    before = _outputs(trained, "before", None)  # evaluate on the run's own record_dir
    assert all(ids.shape == FRAME_SIZES[stem] for stem, ids in before[1].items())
    moved = str(tmp_path / "moved_records")
    shutil.move(trained["record_dir"], moved)
    try:
        after = _outputs(trained, "after", moved)
        _assert_same(before, after)

        # A run written before run_info.json existed: one line naming the file and the fix, never a default.
        path = os.path.join(trained["model_dir"], rundir.facts.RUN_INFO_FILENAME)
        saved = path + ".saved"
        os.replace(path, saved)
        try:
            export = saved_model_export.ExportConfig(trained["model_dir"], str(tmp_path / "never"))
            for call in (lambda: saved_model_export.export_model(export),
                         lambda: predict(PredictConfig(trained["model_dir"], str(trained["root"] / "rgb"),
                                                       str(tmp_path / "never"), depth=str(trained["root"] / "depth"),
                                                       progress=False)),
                         lambda: evaluate(EvaluationConfig(trained["model_dir"], record_dir=moved, progress=False))):
                with pytest.raises(FileNotFoundError) as error:
                    call()
                message = str(error.value)
                assert "\n" not in message and repr(path) in message
                assert f"python -m rfbnet_tf.backfill_run_info --model_dir={trained['model_dir']}" in message
            assert not os.path.exists(tmp_path / "never")
            rundir.facts.backfill(trained["model_dir"], moved)
            with open(saved, encoding="utf-8") as handle:
                original = json.load(handle)
            backfilled = rundir.facts.load_run_info(trained["model_dir"])
            for key in rundir.facts.COMPARED_KEYS + ("palette", "ignore_label", "dataset", "stored_image_size"):
                assert backfilled[key] == original[key], key
        finally:
            os.replace(saved, path)

        # Evaluate normalises other records with the run's statistics, not theirs.
        info_path = os.path.join(moved, records.DATASET_INFO_FILENAME)
        with open(info_path, encoding="utf-8") as handle:
            info = json.load(handle)
        for entry in info["normalization"].values():
            entry["mean"] = [m + 50.0 for m in entry["mean"]]
        with open(info_path, "w", encoding="utf-8") as handle:
            json.dump(info, handle)
        own = next(iter(pipeline.make_dataset(moved, "val", batch_size=2, training=False, depth_input="depth")))[0]
        run = next(iter(pipeline.make_dataset(moved, "val", batch_size=2, training=False, depth_input="depth",
                                              statistics=rundir.facts.load_run_info(trained["model_dir"]))))[0]
        assert np.max(np.abs(own["rgb"].numpy() - run["rgb"].numpy())) > 0.1  # the two statistics differ
        result = evaluate(EvaluationConfig(trained["model_dir"], record_dir=moved, split="val",
                                           output_dir=str(tmp_path / "eval"),
                                           progress=False))
        assert result["confusion_matrix"] == before[2]["confusion_matrix"] and result["miou"] == before[2]["miou"]
    finally:
        shutil.move(moved, trained["record_dir"])


def test_resumed_run_warns_when_the_records_facts_changed(tmp_path, caplog):
    model_dir = str(tmp_path / "run")
    info = rundir.facts.from_dataset_info({"num_classes": 2, "class_names": ["a", "b"], "max_depth": 10.0,
                                       "normalization": {"rgb": {"mean": [1, 2, 3], "std": [1, 1, 1]}}})
    rundir.facts.write_run_info(model_dir, info)
    rundir.facts.write_run_info(model_dir, info)
    assert "other" not in caplog.text
    rundir.facts.write_run_info(model_dir, dict(info, max_depth=65.0))
    assert "['max_depth']" in caplog.text
    assert rundir.facts.load_run_info(model_dir)["max_depth"] == 65.0
    files.write_json_atomically(rundir.facts.run_info_path(model_dir), {"class_names": ["a", "b"]})
    with pytest.raises(ValueError, match=r"run_info.json' lacks the key\(s\) \['num_classes', 'normalization'"):
        rundir.facts.load_run_info(model_dir)


def test_final_keras_reloads_as_the_trained_model_and_export_builds_from_it(trained):
    """Training ends with ``final.keras`` (the RGBDSegmenter task): ``keras.saving.load_model`` gives the trained
    network's outputs after the run's preprocessing, and the export's parts read from it (network, serving spec)
    serve what the checkpoint path (flags.json + run_info.json + the latest checkpoint) serves."""
    import keras

    from rfbnet_tf import rundir
    from rfbnet_tf.inference import input_spec, keras_task, serving_ops

    model_dir = trained["model_dir"]
    assert os.path.isfile(os.path.join(model_dir, "final.keras"))
    assert not [name for name in os.listdir(model_dir) if name.startswith(".tmp")]
    task = keras.saving.load_model(os.path.join(model_dir, "final.keras"))
    latest = rundir.checkpoints.latest_checkpoint(model_dir)
    model, config, step = rundir.checkpoints.restore_model(model_dir, latest)
    assert step == 3 and type(task).__name__ == "RGBDSegmenter"
    spec = input_spec.input_spec(config, rundir.facts.load_run_info(model_dir))
    assert spec.size_policy == "resize" and spec.depth_input == "depth" and spec.max_depth == 6.0
    assert keras_task.spec_of_task(task) == dataclasses.replace(spec, max_depth=None)  # max_depth: run_info.json
    assert keras_task.serving_parts(model_dir)[1] == spec
    frames = trained["frames"]
    for stem, frame in frames.items():
        raw = {"rgb": frame["rgb"][None], "depth": frame["depth"][None]}  # depth: uint16 millimetres
        expected = model(serving_ops.preprocess({k: tf.constant(v) for k, v in raw.items()}, spec), training=False)
        metres = raw["depth"].astype(np.float32) / records.DEPTH_SCALE_MM
        got = task({"rgb": raw["rgb"], "depth": metres}, training=False)
        assert tuple(got.shape) == (1, 32, 48, 10)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(got), expected.numpy(), rtol=0, atol=1e-5)

    # Export takes the network and the serving spec from final.keras (test_outputs_survive_moving_the_records runs
    # export_model end to end); they serve what the checkpoint path served before final.keras existed.
    assert keras_task.holds_requested_weights(model_dir) and not keras_task.holds_requested_weights(model_dir, latest)
    network, task_spec, task_config, task_step = keras_task.serving_parts(model_dir)
    assert task_spec == spec and task_config == config and task_step == 3
    raw = {key: tf.constant(value[None]) for key, value in frames["b"].items()}  # not the training size
    got = serving_ops.predict_batch(rundir.checkpoints.inference_model(network), raw, task_spec)["probabilities"]
    reference = serving_ops.predict_batch(model, raw, spec)["probabilities"]
    np.testing.assert_allclose(got.numpy(), reference.numpy(), rtol=0, atol=1e-5)
