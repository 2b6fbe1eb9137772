"""rfbnet_tf.configs: the typed run configuration — validation in one place, the flat-flag and flags.json forms
round-trip, older (format-1) flags.json files still load, and run_info.json records the environment."""

import dataclasses
import json
import os

import pytest

from rfbnet_tf import configs, rundir
from rfbnet_tf.configs.experiment import FLAG_SECTIONS, flag_defaults
from rfbnet_tf.datasets.augment import AugmentConfig

REQUIRED = {"record_dir": "r", "model_dir": "m"}


def test_sections_are_frozen_and_validated_once_on_construction():
    config = configs.resolve({**REQUIRED, "image_size": "64,80", "crop_size": ["32", "48"], "steps": "7"})
    assert config.data.image_size == [64, 80] and config.data.crop_size == [32, 48] and config.train.steps == 7
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.train.steps = 8
    for bad, match in [({"batch_size": 0}, r"--batch_size=0: must be an int >= 1"),
                       ({"learning_rate": float("nan")}, "--learning_rate=nan"),
                       ({"image_size": "32,x"}, "--image_size"),
                       ({"image_size": [32, 48], "crop_size": [64, 64]}, "larger than --image_size"),
                       ({"model": "erfnet_enc", "gates": False}, "--gates=False does not apply to --model=erfnet_enc"),
                       ({"bogus": 1}, r"unknown train flag\(s\) \['--bogus'\]")]:
        with pytest.raises(ValueError, match=match):
            configs.resolve({**REQUIRED, **bad})
    with pytest.raises(ValueError, match="--batch_size=-1"):  # the sections check themselves, also when built directly
        configs.TrainConfig(model_dir="m", batch_size=-1)


def test_every_flag_belongs_to_exactly_one_section():
    sections = {section for section, _ in FLAG_SECTIONS.values()}
    assert sections == {"model", "data", "optimizer", "train"}
    assert len(FLAG_SECTIONS) == len(configs.FLAG_NAMES) == len(set(configs.FLAG_NAMES))
    assert FLAG_SECTIONS["model"] == ("model", "name") and FLAG_SECTIONS["optimizer"] == ("optimizer", "name")


def test_derived_values_weight_decay_and_model_options():
    erfnet = configs.resolve({**REQUIRED, "model": "rfbnet_erfnet_enc", "add_point": "none", "depth_input": "depth"})
    assert erfnet.optimizer.weight_decay == 1e-4  # ERFNetEnc (Sec. IV-B)
    assert erfnet.model.build_options() == {"depth_channels": 1, "shrink_depth": True, "gates": True,
                                            "add_point": None, "combination": "ssma"}
    assert configs.resolve({**REQUIRED, "model": "adapnet_pp"}).optimizer.weight_decay == 5e-4
    assert configs.resolve({**REQUIRED, "weight_decay": 0}).optimizer.weight_decay == 0.0  # set: kept


def test_augment_flag_embeds_the_augment_config():
    assert configs.resolve(REQUIRED).data.augment == AugmentConfig()
    assert configs.resolve({**REQUIRED, "augment": "false"}).data.augment == AugmentConfig.disabled()
    custom = AugmentConfig(flip=0.25, scale_range=(0.75, 1.5))
    config = configs.ExperimentConfig(data=configs.DataConfig(record_dir="r", augment=custom),
                                      train=configs.TrainConfig(model_dir="m"))
    assert config.flags()["augment"]["scale_range"] == [0.75, 1.5]
    assert configs.ExperimentConfig.from_dict(json.loads(json.dumps(config.as_dict()))).data.augment == custom


def test_flat_flags_and_flags_json_round_trip():
    config = configs.resolve({**REQUIRED, "model": "ssma_erfnet_enc", "shrink_depth": True, "image_size": [64, 80],
                              "class_weights": "1,2.5", "augment": False, "seed": 3})
    content = json.loads(json.dumps(config.as_dict()))  # what flags.json holds
    assert content["format"] == 2 and set(content) == {"format", "model", "data", "optimizer", "train"}
    assert content["model"]["name"] == "ssma_erfnet_enc" and content["train"]["class_weights"] == "1.0,2.5"
    assert content["data"]["augment"]["flip"] == 0.0
    assert configs.ExperimentConfig.from_dict(content) == config
    assert configs.ExperimentConfig.from_flags(config.flags()) == config


def test_load_run_config_reads_both_formats(tmp_path):
    config = configs.resolve({**REQUIRED, "model": "erfnet_enc", "modality": "depth", "depth_input": "depth"})
    new = tmp_path / "new"
    new.mkdir()
    (new / rundir.layout.FLAGS_FILENAME).write_text(json.dumps(config.as_dict()))
    with pytest.raises(FileNotFoundError, match="run_info.json.*python -m rfbnet_tf.backfill_run_info --model_dir="):
        rundir.config_file.load_run_config(new)
    assert rundir.config_file.load_run_config(new, require_facts=False).model.name == "erfnet_enc"
    (new / rundir.layout.RUN_INFO_FILENAME).write_text(json.dumps(
        {"num_classes": 4, "class_names": list("abcd"), "ignore_label": 255, "dataset": "synthetic"}))
    loaded = rundir.config_file.load_run_config(new)
    assert loaded.model.name == "erfnet_enc" and loaded.num_classes == 4 and loaded.class_names == tuple("abcd")
    assert loaded.model_options == {"modality": "depth", "depth_channels": 1} and loaded.optimizer.weight_decay == 1e-4
    old = tmp_path / "old"  # format 1: flat flags and facts, some flags missing (older versions)
    old.mkdir()
    (old / rundir.layout.FLAGS_FILENAME).write_text(json.dumps(
        {"model": "erfnet_enc", "num_classes": 4, "model_options": {"modality": "rgb", "depth_channels": 3}}))
    loaded_old = rundir.config_file.load_run_config(old)
    assert loaded_old.num_classes == 4 and loaded_old.model.depth_input == flag_defaults()["depth_input"] == "hha"


def test_a_format1_run_is_typed_with_the_options_it_was_built_with(tmp_path):
    """Converted once, where the file is read: the model section takes the saved model_options (add_point None is
    the flag's 'none', depth_channels 1 means --depth_input=depth when the file predates that flag); a file whose
    options its flags cannot build (1 depth channel with --depth_input=hha) is refused naming the file."""
    old = tmp_path / "old"
    old.mkdir()
    (old / rundir.layout.FLAGS_FILENAME).write_text(json.dumps(
        {"model": "rfbnet_erfnet_enc", "num_classes": 5, "class_names": list("abcde"), "record_dir": "data/x",
         "batch_size": 3, "model_options": {"add_point": None, "gates": False, "depth_channels": 1}}))
    run = rundir.config_file.load_run_config(old)
    assert (run.model.add_point, run.model.gates, run.model.depth_input) == ("none", False, "depth")
    assert run.model_options["add_point"] is None and run.model_options["depth_channels"] == 1
    assert run.train.model_dir == str(old) and run.train.batch_size == 3 and run.data.record_dir == "data/x"
    assert (run.num_classes, run.class_names, run.ignore_label) == (5, tuple("abcde"), None)
    (old / rundir.layout.FLAGS_FILENAME).write_text(json.dumps(
        {"model": "erfnet_enc", "num_classes": 5, "depth_input": "hha",
         "model_options": {"modality": "depth", "depth_channels": 1}}))
    with pytest.raises(ValueError, match=r"flags\.json' is not a valid run configuration: model_options "
                                         r"\{'depth_channels': 1\} are not what its flags build"):
        rundir.config_file.load_run_config(old)
    (old / rundir.layout.FLAGS_FILENAME).write_text(json.dumps(
        {"model": "erfnet_enc", "num_classes": 5, "model_options": {"modality": "depth", "depth_channels": 2}}))
    with pytest.raises(ValueError, match=r"not a valid run configuration: model_options \{'depth_channels': 2\}"):
        rundir.config_file.load_run_config(old)  # a channel count no depth input gives


def test_training_needs_the_directories_a_config_may_lack(tmp_path):
    from rfbnet_tf.training import checked_run

    with pytest.raises(ValueError, match="^--record_dir is required"):
        checked_run.prepare_run(configs.resolve({"model_dir": str(tmp_path / "run")}))
    with pytest.raises(ValueError, match="^--model_dir is required"):
        checked_run.prepare_run(configs.resolve({"record_dir": str(tmp_path)}))
    assert not os.path.exists(tmp_path / "run")


def test_environment_record_names_versions_and_commit():
    import keras
    import numpy
    import tensorflow

    environment = rundir.facts.environment()
    assert environment["versions"]["tensorflow"] == tensorflow.__version__
    assert environment["versions"]["keras"] == keras.__version__
    assert environment["versions"]["numpy"] == numpy.__version__
    commit = environment["git_commit"]
    checkout = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(configs.__file__))))
    if os.path.exists(os.path.join(checkout, ".git")):  # a clone (.git dir) or a worktree (.git file)
        assert commit is not None and len(commit) == 40 and int(commit, 16) >= 0
    else:
        assert commit is None
