"""``--dataset=folder``: a user's own RGB-D data in the documented layout (tests/folder_fixtures.py) → records
checked pixel by pixel against values computed here, the one-line errors, ``--check_only``, then train (2 steps),
evaluate, predict (the dataset's names and colours) and export with ``serving_raw`` on its records."""

import json
import os
import re
import shutil
import sys

import cv2
import numpy as np
import pytest
import tensorflow as tf

from rfbnet_tf import cli

from rfbnet_tf.datasets import preparation
from rfbnet_tf.datasets import dataset_check, folder, records
from tests import fixture_trees, folder_fixtures, short_backbones, train_fixtures, warm_python

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_NATIVE_LOG = re.compile(r"^([IWEF]\d{4} |WARNING: All log messages before absl::InitializeLog)")
IGNORE = 255


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return folder_fixtures.write_folder(tmp_path_factory.mktemp("mine") / "DIR")


@pytest.fixture(scope="module")
def prepared(tree, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("records") / "mine")
    summary = preparation.prepare("folder", out, input_dir=tree, num_workers=2, progress=False)
    return out, summary


def expected_train_ids(raw):
    table = np.full(256, -1)
    table[0] = IGNORE
    for train_id, entry in enumerate(folder_fixtures.CLASSES):
        table[entry["id"]] = train_id
    assert (table[raw] >= 0).all()
    return table[raw]


def test_records_pixel_by_pixel(prepared):
    out, summary = prepared
    info = records.load_dataset_info(out)
    assert info["dataset"] == "folder" and info["class_names"] == ["floor", "wall", "object", "table"]
    assert info["num_classes"] == 4 and info["ignore_label"] == IGNORE and info["max_depth"] == 10.0
    # given colours kept, the others are the VOC colours of train id + 1 (2: (0, 128, 0), 4: (0, 0, 128))
    assert info["palette"] == [[128, 64, 128], [0, 128, 0], [220, 20, 60], [0, 0, 128]]
    assert sorted(info["splits"]) == ["test", "train", "val"]  # every split present by default
    assert {s: e["num_examples"] for s, e in info["splits"].items()} == folder_fixtures.SPLITS
    histogram = np.zeros(4, np.int64)
    for split, count in folder_fixtures.SPLITS.items():
        parsed = fixture_trees.read_records_by_name(out, split)
        assert sorted(parsed) == [f"{split}/room_{i:03d}" for i in range(count)]
        for index in range(count):
            rgb, depth_mm, raw = folder_fixtures.frame_content(split, index)
            got = parsed[f"{split}/room_{index:03d}"]
            np.testing.assert_array_equal(got["rgb"], rgb)
            labels = got["label"][..., 0]
            if split == folder_fixtures.UNLABELLED:
                assert (labels == IGNORE).all()
            else:
                np.testing.assert_array_equal(labels, expected_train_ids(raw))
                assert (labels[folder_fixtures.IGNORED_BLOCK] == IGNORE).all()
            # raw depth in metres = mm / 1000 (all within max_depth 10 m), missing pixels 0
            np.testing.assert_allclose(got["depth_raw"][..., 0], depth_mm / 1000.0, atol=1e-6)
            assert (got["depth"] > 0).all()
            own = split == "train" and index == 1
            camera = folder_fixtures.camera(folder_fixtures.OWN_INTRINSICS if own else folder_fixtures.INTRINSICS)
            np.testing.assert_allclose(got["intrinsics"], camera, rtol=1e-6)
            if split == "train":
                histogram += np.bincount(labels[labels != IGNORE], minlength=4)
    assert info["class_histogram"]["train"] == histogram.tolist()
    assert info["normalization"] is not None


def test_depth_resized_to_rgb_and_image_size(tree, tmp_path):
    frame = folder.list_split(tree, "val", folder.read_description(os.path.join(tree, "dataset.json")))[0]
    small = tmp_path / "small.png"
    depth = cv2.imread(frame["depth"], cv2.IMREAD_UNCHANGED)
    cv2.imwrite(str(small), depth[::2, ::2])
    loaded = folder.load_split_frame({**frame, "depth": str(small)})
    assert loaded["depth_m"].shape == folder_fixtures.SIZE and loaded["notes"] == [
        "depth 24x32 resized to the RGB size 48x64 (intrinsics scaled)"]
    # nearest: output pixel (r, c) takes source pixel (r // 2, c // 2); intrinsics given for the 24x32 depth
    np.testing.assert_allclose(loaded["depth_m"], np.repeat(np.repeat(depth[::2, ::2], 2, 0), 2, 1) / 1000.0,
                               atol=1e-6)
    fx_, fy_, cx_, cy_ = (folder_fixtures.INTRINSICS[k] for k in ("fx", "fy", "cx", "cy"))
    np.testing.assert_allclose(loaded["intrinsics"], [[2 * fx_, 0, (cx_ + 0.5) * 2 - 0.5],
                                                      [0, 2 * fy_, (cy_ + 0.5) * 2 - 0.5], [0, 0, 1]])
    half = folder.load_split_frame(frame, (24, 32))
    assert half["rgb"].shape == (24, 32, 3) and half["label"].shape == (24, 32)
    np.testing.assert_allclose(half["intrinsics"][0], [fx_ / 2, 0, (cx_ + 0.5) / 2 - 0.5])
    # a saturated 16-bit value (65535) is missing, not 65.5 m
    saturated = depth.copy()
    saturated[0, :5] = 65535
    cv2.imwrite(str(small), saturated)
    assert (folder.load_split_frame({**frame, "depth": str(small)})["depth_m"][0, :5] == 0).all()


def _broken_copy(tree, tmp_path, name, change):
    copy = tmp_path / name
    shutil.copytree(tree, copy)
    change(str(copy))
    return str(copy)


def _edit_json(path, **changes):
    with open(path) as handle:
        content = json.load(handle)
    content.update(changes)
    for key in [k for k, v in content.items() if v is None]:
        del content[key]
    with open(path, "w") as handle:
        json.dump(content, handle)


def _unknown_id(root, stem="room_001"):
    path = os.path.join(root, "val", "label", stem + ".png")
    label = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    label[5, 5], label[6, 6] = 7, 99
    cv2.imwrite(path, label)


def _unmatched(root):
    os.remove(os.path.join(root, "val", "depth", "room_000.png"))
    shutil.copy(os.path.join(root, "val", "rgb", "room_001.png"), os.path.join(root, "val", "depth", "extra.png"))


def _eight_bit_depth(root):
    path = os.path.join(root, "val", "depth", "room_001.png")
    cv2.imwrite(path, (cv2.imread(path, cv2.IMREAD_UNCHANGED) // 256).astype(np.uint8))


def _empty_split(root):
    for name in os.listdir(os.path.join(root, "val", "rgb")):
        os.remove(os.path.join(root, "val", "rgb", name))


BROKEN = {
    "unknown_id": (_unknown_id, r"^error: .*/val/label/room_001\.png: label ids 7, 99 are neither a class id of "
                                r"dataset\.json \[10, 20, 30, 40\] nor in ignore_ids \[0\]$"),
    "unmatched": (_unmatched, r"^error: .*/val: stems do not match across rgb/depth/label: rgb/ has 1 without "
                              r"partners: room_000; depth/ has 1 without partners: extra; label/ has 1 without "
                              r"partners: room_000$"),
    "missing_key": (lambda root: _edit_json(os.path.join(root, "dataset.json"), depth_scale=None),
                    r"^error: .*/dataset\.json: missing key 'depth_scale' \(required: \['classes', 'ignore_ids', "
                    r"'depth_scale'\]\)$"),
    "eight_bit_depth": (_eight_bit_depth, r"^error: .*/val/depth/room_001\.png: a depth PNG must be 16-bit "
                                          r"single-channel .* got uint8 with 1 channel\(s\); an 8-bit PNG cannot "
                                          r"hold depth$"),
    "empty_split": (_empty_split, r"^error: .*/val/rgb: split 'val' is empty"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_errors_are_one_line_naming_the_file(tree, tmp_path, case):
    change, pattern = BROKEN[case]
    root = _broken_copy(tree, tmp_path, case, change)
    out = tmp_path / "out"
    with pytest.raises(cli.USER_ERRORS) as raised:
        preparation.prepare("folder", str(out), input_dir=root, splits=("val",), num_workers=1, progress=False)
    assert re.match(pattern, cli.error_line(raised.value)), cli.error_line(raised.value)
    assert not out.exists() and not [p for p in os.listdir(tmp_path) if ".tmp-" in p]


def _binary(*argv, cwd):
    result = warm_python.run([sys.executable, "-m", "rfbnet_tf.prepare_data", *argv], cwd=cwd, capture_output=True,
                             text=True, timeout=300, env={**os.environ, "PYTHONPATH": ROOT})
    return result, [line for line in result.stderr.splitlines() if not _NATIVE_LOG.match(line)
                    and not line.startswith(("To enable the following instructions", "I0000"))]


def test_check_only_reports_and_writes_nothing(tree, tmp_path):
    report = dataset_check.check_dataset("folder", input_dir=tree, num_workers=1, progress=False)
    assert report["errors"] == [] and sorted(report["splits"]) == ["test", "train", "val"]
    train = report["splits"]["train"]
    assert train["frames"] == 4 and train["unlabelled_frames"] == 0
    labels = np.concatenate([expected_train_ids(folder_fixtures.frame_content("train", i)[2]).ravel()
                             for i in range(4)])
    assert train["histogram"] == np.bincount(labels[labels != IGNORE], minlength=4).tolist()
    depths = np.concatenate([folder_fixtures.frame_content("train", i)[1].ravel() for i in range(4)]) / 1000.0
    assert train["missing"] == int((depths == 0).sum()) and train["pixels"] == depths.size
    assert train["min"] == pytest.approx(depths[depths > 0].min()) and train["max"] == pytest.approx(depths.max())
    assert report["splits"]["test"]["unlabelled_frames"] == 2
    text = dataset_check.format_report(report)
    assert "split train: 4 frames" in text and "split test: 2 frames (2 unlabelled)" in text
    assert f"missing {100 * (depths == 0).mean():.1f} % of the pixels" in text
    assert text.endswith("0 problem(s): the dataset converts") and "warning" not in text
    wrong_units = _broken_copy(tree, tmp_path, "wrong_units", lambda root: _edit_json(
        os.path.join(root, "dataset.json"), depth_scale=0.01))  # mm read as cm: 10x too far
    text = dataset_check.format_report(dataset_check.check_dataset("folder", input_dir=wrong_units, splits=("val",),
                                                                   num_workers=1, progress=False))
    assert "warning: more than half of the measured depth lies beyond max_depth" in text
    # a class that never occurs is listed; problems are collected, not stopped at
    content = folder_fixtures.description(classes=folder_fixtures.CLASSES + [{"name": "door", "id": 50}])
    broken = _broken_copy(tree, tmp_path, "two_problems", lambda root: (
        _edit_json(os.path.join(root, "dataset.json"), **content), _unknown_id(root, "room_000"),
        _eight_bit_depth(root)))
    report = dataset_check.check_dataset("folder", input_dir=broken, num_workers=1, progress=False)
    assert "door 0 (never occurs)" in dataset_check.format_report(report)
    assert len(report["errors"]) == 2 and report["splits"]["val"]["frames"] == 0
    result, lines = _binary("--dataset=folder", f"--input_dir={broken}", "--check_only", "--noprogress", cwd=tmp_path)
    assert result.returncode == 1 and "door 0 (never occurs)" in result.stdout
    assert lines == [f"error: --check_only: 2 problem(s) found in {broken}; a conversion would fail (listed above)"]
    assert sorted(os.listdir(tmp_path)) == ["two_problems", "wrong_units"]  # nothing written


def test_binary_default_splits_and_option_checks(tree, tmp_path):
    result, lines = _binary("--dataset=folder", f"--input_dir={tree}", "--splits=train,nope",
                            f"--output_dir={tmp_path / 'out'}", cwd=tmp_path)
    assert result.returncode == 1 and lines == [
        f"error: --splits: folder has no split 'nope'; its splits are ['test', 'train', 'val'] ({tree} holds "
        "['test', 'train', 'val'])"]
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def trained(prepared, tmp_path_factory):
    from rfbnet_tf.evaluation import evaluator
    from rfbnet_tf.training.trainer import train

    out, _ = prepared
    graphs, short = train_fixtures.fast_graphs(), short_backbones.short_erfnet()
    next(graphs)
    next(short)
    try:
        model_dir = str(tmp_path_factory.mktemp("run") / "run")
        summary = train(dict(train_fixtures.TINY_RUN, record_dir=out, model_dir=model_dir, model="rfbnet_erfnet_enc",
                             steps=2, image_size=list(folder_fixtures.SIZE)))
        result = evaluator.evaluate(evaluator.EvaluationConfig(model_dir, split="val", progress=False))
        from rfbnet_tf.inference import saved_model_export

        export_dir = saved_model_export.export_model(saved_model_export.ExportConfig(model_dir, verify=False))
    finally:
        next(short, None)
        next(graphs, None)
    return model_dir, summary, result, export_dir


def test_train_evaluate_predict_export_on_folder_records(tree, prepared, trained, tmp_path, monkeypatch):
    from rfbnet_tf.inference import input_spec, prediction

    short_backbones.use_short_erfnet(monkeypatch)  # the run's model

    model_dir, summary, result, export_dir = trained
    assert summary["step"] == 2 and all(np.isfinite(summary["losses"]))
    # every labelled val pixel is scored once, in its class's row
    truth = np.concatenate([expected_train_ids(folder_fixtures.frame_content("val", i)[2]).ravel() for i in range(2)])
    rows = np.asarray(result["confusion_matrix"]).sum(axis=1)
    np.testing.assert_array_equal(rows, np.bincount(truth[truth != IGNORE], minlength=4))
    # predict on the user's own files: names and colours of dataset.json, the legend
    written = prediction.predict(prediction.PredictConfig(model_dir, os.path.join(tree, "val", "rgb"),
                                                          str(tmp_path / "pred"),
                                                          depth=os.path.join(tree, "val", "depth"),
                                                          intrinsics="60,61,31.5,23.25", progress=False))
    assert len(written) == 2
    ids = cv2.imread(written[0]["files"]["class_ids"], cv2.IMREAD_UNCHANGED)
    assert ids.shape == folder_fixtures.SIZE and ids.max() < 4
    colours = cv2.cvtColor(cv2.imread(written[0]["files"]["labels"]), cv2.COLOR_BGR2RGB)
    palette = np.array([[128, 64, 128], [0, 128, 0], [220, 20, 60], [0, 0, 128]])
    np.testing.assert_array_equal(colours, palette[ids])
    legend = cv2.imread(os.path.join(tmp_path / "pred", prediction.LEGEND_FILENAME))
    assert legend.shape[0] >= 20 * 4
    # serving_raw on a raw 16-bit frame of the folder
    rgb, depth_mm, _ = folder_fixtures.frame_content("val", 0)
    loaded = tf.saved_model.load(export_dir)
    out = loaded.signatures[input_spec.SIGNATURE_RAW](
        rgb=tf.constant(rgb[None]), depth=tf.constant(depth_mm[None, ..., None]), depth_scale=tf.constant(0.001),
        intrinsics=tf.constant([60.0, 61.0, 31.5, 23.25]))
    labels = out["class_ids"].numpy()
    assert labels.shape[1:3] == folder_fixtures.SIZE and labels.max() < 4


def test_train_on_the_folder_itself_names_the_conversion(tree):
    from rfbnet_tf.training import record_checks

    with pytest.raises(FileNotFoundError) as raised:
        record_checks.check_records_exist(tree)
    assert cli.error_line(raised.value) == (
        f"error: --record_dir={tree} is a folder dataset (it holds dataset.json), not prepared records: convert it "
        f"with python -m rfbnet_tf.prepare_data --dataset=folder --input_dir={tree} --output_dir={tree}_records, "
        f"then train with --record_dir={tree}_records")


def test_fine_tune_a_ten_class_synthetic_run_to_the_four_class_folder(prepared, tmp_path, monkeypatch):
    """Issue 21: a 10-class synthetic run initialises a 4-class model on the folder's records: before the first step
    every layer but the classifier holds the source's weights; a refused start leaves model_dir untouched."""
    from rfbnet_tf import configs, rundir
    from rfbnet_tf.models.weight_transfer import named_weight_layers
    from rfbnet_tf.training.trainer import train
    from rfbnet_tf.training import checked_run, distribution, interruption, trainer

    short_backbones.use_short_erfnet(monkeypatch)
    graphs = train_fixtures.fast_graphs()
    next(graphs)
    try:
        out, _ = prepared
        source = str(tmp_path / "source")
        base = dict(train_fixtures.TINY_RUN, model="erfnet_enc", steps=1)
        train(dict(base, record_dir=train_fixtures.make_records(tmp_path / "synthetic"), model_dir=source))
        model_dir = tmp_path / "mine"
        run = checked_run.prepare_run(configs.resolve(dict(base, record_dir=out, model_dir=str(model_dir),
                                                         init_model=source)))
        started = trainer._Trainer(run, distribution.make_strategy("default"), interruption.SignalCatcher(), [])
        assert not model_dir.exists()
        weights = {name: layer.get_weights() for name, layer in named_weight_layers(rundir.checkpoints.restore_model(
            source)[0])}
        fresh = {name: layer.get_weights() for name, layer in named_weight_layers(started.model)}
        assert sorted(fresh) == sorted(weights)
        for name, values in fresh.items():
            if name == "head":  # the classifier: the new shape, its fresh initialisation
                assert values[0].shape[-1] == 4 and weights[name][0].shape[-1] == 10
                continue
            for got, want in zip(values, weights[name]):
                np.testing.assert_array_equal(got, want)
        # refused (another modality than the source's): nothing written
        model_dir.mkdir()
        (model_dir / "notes.txt").write_text("mine")
        with pytest.raises(ValueError, match="modality"):
            train(dict(base, record_dir=out, model_dir=str(model_dir), init_model=source, modality="depth"))
        assert sorted(os.listdir(model_dir)) == ["notes.txt"] and (model_dir / "notes.txt").read_text() == "mine"
    finally:
        next(graphs, None)
