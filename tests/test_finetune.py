"""Fine-tuning a trained run to other classes (issue 21 §4): ``--init_model`` / ``--rgb_init`` from a 10-class
synthetic run into a 4-class record directory (tests/remapped_records.py) load every layer but those whose weights
depend on the class count; a refused start leaves ``model_dir`` as it was, byte for byte (one that did not exist
is not created). Median-frequency class weights with a class absent from the train split (§5) train to a finite
loss."""

import logging
import os
import shutil

import numpy as np
import pytest

from rfbnet_tf.utils import files
from rfbnet_tf import configs, rundir
from rfbnet_tf.datasets import records
from rfbnet_tf.models import build_model
from rfbnet_tf.models.weight_transfer import named_weight_layers, transfer_model_weights
from rfbnet_tf.training import checked_run, distribution, interruption, trainer
from rfbnet_tf.training.class_weights import median_frequency_weights
from tests import adapnet_pp_fixtures, remapped_records, short_backbones, train_fixtures

_fast_graphs = pytest.fixture(scope="module", autouse=True)(train_fixtures.fast_graphs)
# The short ERFNetEnc (tests/short_backbones.py): what is loaded where does not depend on the backbone's depth.
_short_erfnet = pytest.fixture(scope="module", autouse=True)(short_backbones.short_erfnet)

BASE = dict(train_fixtures.TINY_RUN, steps=1)
ERFNET_HEAD = ["head"]
"""ERFNetEnc's only layer whose weights depend on the class count: its 1x1 classifier."""
ADAPNET_PP_CLASS_LAYERS = {"dec_classifier_conv", "dec_classifier_bn", "dec_up3_deconv", "dec_up3_bn",
                           "dec_aux1_conv", "dec_aux1_bn", "dec_aux2_conv", "dec_aux2_bn"}
"""AdapNet++'s (models/adapnet_pp_backbone.py decoder): the classifier, the last transposed conv (classes to
classes) and the two auxiliary heads, each with its batch norm."""


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """The tiny synthetic records (10 classes), their 4-class copy, and a 1-step 10-class RGB erfnet_enc run."""
    from rfbnet_tf.training.trainer import train

    root = tmp_path_factory.mktemp("finetune")
    ten = train_fixtures.make_records(root / "records10")
    four = remapped_records.make_four_class_records(ten, root / "records4")
    source = str(root / "source")
    train(dict(BASE, record_dir=ten, model_dir=source, model="erfnet_enc"))
    return {"root": root, "ten": ten, "four": four, "source": source}


def _weights(model):
    return {name: layer.get_weights() for name, layer in named_weight_layers(model)}


def _start(flags_):
    """The trainer of a run as ``train()`` builds it, before its first step."""
    run = checked_run.prepare_run(configs.resolve(flags_))
    return trainer._Trainer(run, distribution.make_strategy("default"), interruption.SignalCatcher(), [])


def test_four_class_records_map_the_synthetic_histogram(data):
    ten, four = (records.load_dataset_info(d) for d in (data["ten"], data["four"]))
    assert four["num_classes"] == 4 and four["class_names"] == list(remapped_records.FOUR_CLASSES)
    for split in ("train", "val"):
        assert four["splits"][split]["num_examples"] == ten["splits"][split]["num_examples"]
        expected = np.zeros(4, np.int64)
        for name, count in zip(ten["class_names"], ten["class_histogram"][split]):
            expected[remapped_records.FOUR_CLASS_MAP[name]] += count
        assert four["class_histogram"][split] == expected.tolist()
    assert four["class_histogram"]["train"][3] == 0 and min(four["class_histogram"]["train"][:3]) > 0


def test_init_model_of_another_class_count_loads_every_other_layer(data, tmp_path):
    """Before the first step every layer but the classifier holds the source run's weights."""
    model_dir = str(tmp_path / "run")
    started = _start(dict(BASE, record_dir=data["four"], model_dir=model_dir, model="erfnet_enc",
                          init_model=data["source"]))
    assert not os.path.exists(model_dir)  # building the trainer (restore, init) writes nothing
    source, _, _ = rundir.checkpoints.restore_model(data["source"])
    source_weights, target_weights = _weights(source), _weights(started.model)
    report = started.init_report["model"]
    assert report["reinitialized"] == ERFNET_HEAD and not report["skipped"]
    assert sorted(report["loaded"]) == sorted(set(source_weights) - set(ERFNET_HEAD))
    for name in report["loaded"]:
        for a, b in zip(source_weights[name], target_weights[name], strict=True):
            np.testing.assert_array_equal(a, b)
    kernel, bias = target_weights["head"]
    assert kernel.shape == source_weights["head"][0].shape[:-1] + (4,) and bias.shape == (4,)


def test_finetuned_run_trains_with_median_frequency_weights_of_an_absent_class(data, tmp_path, caplog):
    """§5: class 'unseen' has no train pixel; median-frequency weights give it 0, the step's loss is finite.
    The log names the re-initialised layer and counts the loaded ones."""
    from rfbnet_tf.training.trainer import train

    model_dir = str(tmp_path / "run")
    with caplog.at_level(logging.INFO, logger="absl"):  # whatever verbosity an earlier in-process run left
        summary = train(dict(BASE, record_dir=data["four"], model_dir=model_dir, model="erfnet_enc",
                             init_model=data["source"], class_weights="median_frequency"))
    assert summary["steps_run"] == 1 and np.isfinite(summary["final_loss"]) and summary["final_loss"] > 0
    histogram = records.load_dataset_info(data["four"])["class_histogram"]["train"]
    present = np.asarray(histogram[:3], np.float64) / sum(histogram)
    expected = list(np.median(present) / present) + [0.0]  # the median over the classes that occur
    weights = rundir.facts.load_run_info(model_dir)["class_weight_values"]
    np.testing.assert_allclose(weights, expected, rtol=1e-6)
    assert rundir.config_file.load_run_config(model_dir).num_classes == 4
    lines = [r.getMessage() for r in caplog.records if "whole model initialised" in r.getMessage()]
    assert len(lines) == 1 and "re-initialised" in lines[0] and "['head']" in lines[0], lines
    assert f"{len(summary['init']['model']['loaded'])} layers loaded" in lines[0]
    assert "rgb_s0_u0" not in lines[0]  # counts, not every loaded name


def test_median_frequency_weights_are_finite_whatever_classes_are_absent():
    np.testing.assert_array_equal(median_frequency_weights([0, 5, 0]), [0.0, 1.0, 0.0])
    assert np.all(np.isfinite(median_frequency_weights([1, 0, 10**12, 0])))
    with pytest.raises(ValueError, match="no labelled pixel"):
        median_frequency_weights([0, 0])


def test_rgb_init_from_a_run_of_another_class_count(data, tmp_path):
    started = _start(dict(BASE, record_dir=data["four"], model_dir=str(tmp_path / "run"), model="rfbnet_erfnet_enc",
                          rgb_init=data["source"]))
    report = started.init_report["rgb"]
    assert "head" in report["skipped"] and len(report["loaded"]) > 5
    source, _, _ = rundir.checkpoints.restore_model(data["source"])
    source_weights, target_weights = _weights(source), _weights(started.model)
    for name in report["loaded"]:
        for a, b in zip(source_weights[name], target_weights[name], strict=True):
            np.testing.assert_array_equal(a, b)


def test_adapnet_pp_classifier_and_auxiliary_heads_keep_their_initialisation(monkeypatch):
    adapnet_pp_fixtures.use_tiny_adapnet_pp(monkeypatch)
    source = build_model("adapnet_pp", 10, aux_losses=True)
    target = build_model("adapnet_pp", 4, aux_losses=True)
    fresh = _weights(target)
    plan = transfer_model_weights(source, target)
    assert set(plan["reinitialized"]) == ADAPNET_PP_CLASS_LAYERS and not plan["not_in_source"]
    source_weights, target_weights = _weights(source), _weights(target)
    for name, weights in target_weights.items():
        expected = fresh[name] if name in ADAPNET_PP_CLASS_LAYERS else source_weights[name]
        for a, b in zip(expected, weights, strict=True):
            np.testing.assert_array_equal(a, b)
    # Without aux heads in the target they are not in this model; any other shape difference is refused.
    plan = transfer_model_weights(source, build_model("adapnet_pp", 4))
    assert set(plan["not_in_target"]) == {"dec_aux1_conv", "dec_aux1_bn", "dec_aux2_conv", "dec_aux2_bn"}
    depth = build_model("adapnet_pp", 10, modality="depth", depth_channels=1)
    with pytest.raises(ValueError, match=r"layer 'depth_\w+' has weight shapes .* differ in more than their class count") as error:
        transfer_model_weights(build_model("adapnet_pp", 10, modality="depth"), depth)
    assert "\n" not in str(error.value)


# ------------------------------------------------------------------------------------------ refused starts


def _snapshot(path):
    """Every directory and file (with its bytes) under ``path``; None when it does not exist."""
    if not os.path.exists(path):
        return None
    found = {}
    for directory, _, names in os.walk(path):
        found[os.path.relpath(directory, path) + "/"] = None
        for name in names:
            with open(os.path.join(directory, name), "rb") as handle:
                found[os.path.relpath(os.path.join(directory, name), path)] = handle.read()
    return found


@pytest.fixture(scope="module")
def refusals(data):
    """``{case: (train flags, error match)}``: starts refused from the sources' flags.json, and one refused only
    when the weights are loaded (a bare .weights.h5 of the 10-class model into the 4-class one)."""
    root = data["root"]
    other_backbone = root / "adapnet_pp_run"
    other_backbone.mkdir()
    files.write_json_atomically(str(other_backbone / "flags.json"), {
        "model": "adapnet_pp", "num_classes": 10, "model_options": {"modality": "rgb"}})
    bare = root / "bare"
    bare.mkdir()
    shutil.copy(rundir.layout.final_weights_path(data["source"]), bare / "model.weights.h5")
    rfbnet = dict(model="rfbnet_erfnet_enc")
    return {
        "backbone": (dict(model="erfnet_enc", init_model=str(other_backbone)),
                     "holds another model \\(model: 'adapnet_pp' there, 'erfnet_enc' here"),
        "modality": (dict(model="erfnet_enc", modality="depth", init_model=data["source"]),
                     "model_options.modality: 'rgb' there, 'depth' here"),
        "stream": (dict(rfbnet, depth_init=data["source"]), "holds a 'rgb' model, not a 'depth' one"),
        "weights": (dict(rfbnet, rgb_init=str(bare / "model.weights.h5")), "does not fit a 'rgb' 'erfnet_enc' "
                    "model with 4 classes"),
    }


@pytest.mark.parametrize("case", ["backbone", "modality", "stream", "weights"])
@pytest.mark.parametrize("state", ["missing", "started"])
def test_a_refused_start_leaves_model_dir_as_it_was(data, refusals, tmp_path, case, state):
    """``missing``: model_dir (and its parent) did not exist; ``started``: it holds what a start of the same run
    without the refused source wrote (flags.json, run_info.json: a run stopped before its first checkpoint)."""
    from rfbnet_tf.training.trainer import train

    overrides, match = refusals[case]
    model_dir = str(tmp_path / "new" / "run")
    flags_ = dict(BASE, record_dir=data["four"], model_dir=model_dir, **overrides)
    if state == "started":
        plain = {k: v for k, v in flags_.items() if k not in ("init_model", "rgb_init", "depth_init")}
        checked_run.write_run_config(checked_run.prepare_run(configs.resolve(plain)))
    before, parent = _snapshot(model_dir), sorted(os.listdir(tmp_path))
    with pytest.raises(ValueError, match=match) as error:
        train(flags_)
    assert "\n" not in str(error.value)
    assert _snapshot(model_dir) == before and sorted(os.listdir(tmp_path)) == parent


def test_a_refused_start_leaves_a_trained_run_as_it_was(data, refusals, tmp_path):
    from rfbnet_tf.training.trainer import train

    model_dir = str(tmp_path / "run")
    shutil.copytree(data["source"], model_dir)
    overrides, match = refusals["backbone"]
    before = _snapshot(model_dir)
    assert any(name.startswith("checkpoints/") for name in before) and "final.keras" in before
    with pytest.raises(ValueError, match=match):
        train(dict(BASE, record_dir=data["ten"], model_dir=model_dir, steps=2, **overrides))
    assert _snapshot(model_dir) == before
