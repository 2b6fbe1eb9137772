"""The AdapNet++ training protocol of SSMA [12] end to end on tiny synthetic records, with the width-shrunk
AdapNet++ (tests/adapnet_pp_fixtures.py): stage 1 (unimodal, from a tiny ImageNet-format file), stage 2
(``--freeze_encoders``, encoders from stage 1), stage 3 (``--init_model``, new batch size / lr / steps), for
``ssma_adapnet_pp`` and ``rfbnet_adapnet_pp``; frozen variables and their batch-norm statistics stay put while
the rest trains; a frozen stage-2 run resumes after a kill with the uninterrupted run's losses."""

import dataclasses
import json
import os
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from rfbnet_tf.utils import files
from rfbnet_tf import rundir
from rfbnet_tf import configs
from tests import adapnet_pp_fixtures, train_fixtures

# SGD: tracing Adam's update of ~470 variables costs a quarter of a tiny run's time; the protocol is the same.
BASE = dict(train_fixtures.TINY_RUN, deterministic=True, learning_rate=1e-3, summary_every=10, optimizer="sgd")
MULTIMODAL = {"ssma_adapnet_pp": {}, "rfbnet_adapnet_pp": {"shrink_depth": False}}

_fast_graphs = pytest.fixture(scope="module", autouse=True)(train_fixtures.fast_graphs)


@pytest.fixture(scope="module", autouse=True)
def tiny_backbone():
    patch = pytest.MonkeyPatch()
    adapnet_pp_fixtures.use_tiny_adapnet_pp(patch)
    yield
    patch.undo()


@pytest.fixture(scope="module")
def trained_models():
    """``{model_dir: (the trainer's model, {id(variable): value right after initialisation})}`` of every run of
    this module: ``stream_init.initialize`` (the trainer's initialisation call) is wrapped to record them, so the
    tests can look at the very model a run trained."""
    from rfbnet_tf.training import stream_init

    recorded, original = {}, stream_init.initialize

    def initialize(model, config):
        report = original(model, config)
        recorded[config.train.model_dir] = (model, {id(v): v.numpy().copy() for v in model.weights})
        return report

    patch = pytest.MonkeyPatch()
    patch.setattr(stream_init, "initialize", initialize)
    yield recorded
    patch.undo()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("protocol")
    records = train_fixtures.make_records(root / "records")
    imagenet = adapnet_pp_fixtures.write_keras_h5(root / "tiny_resnet50v2.h5", adapnet_pp_fixtures.resnet50v2_tensors())
    return root, records, imagenet


@pytest.fixture(scope="module")
def stage1(workdir, trained_models):
    """Stage 1: the unimodal RGB and depth AdapNet++ runs from the tiny ImageNet file, auxiliary losses on."""
    from rfbnet_tf.training.trainer import train

    root, records, imagenet = workdir
    runs = {}
    for stream in ("rgb", "depth"):
        flags_ = dict(BASE, model="adapnet_pp", modality=stream, aux_losses=True, steps=1, record_dir=records,
                      model_dir=str(root / f"adapnet_pp_{stream}"), **{f"{stream}_init": f"imagenet:{imagenet}"})
        runs[stream] = (train(flags_), flags_["model_dir"])
    return runs


def _stage2_flags(model, records, stage1, model_dir, **extra):
    return dict(BASE, model=model, **MULTIMODAL[model], freeze_encoders=True, steps=3, checkpoint_every=1,
                record_dir=records, rgb_init=stage1["rgb"][1], depth_init=stage1["depth"][1], model_dir=model_dir,
                **extra)


@pytest.fixture(scope="module")
def stages23(workdir, stage1, trained_models):
    """Stages 2 and 3 of both fusion models: ``{model: (stage 2 summary, its dir, stage 3 summary)}``."""
    from rfbnet_tf.training.trainer import train

    root, records, _ = workdir
    results = {}
    for model in MULTIMODAL:
        stage2_dir = str(root / f"{model}_frozen")
        stage2 = train(_stage2_flags(model, records, stage1, stage2_dir))
        stage3 = train(dict(BASE, model=model, **MULTIMODAL[model], batch_size=3, learning_rate=1e-4, steps=2,
                            record_dir=records, init_model=stage2_dir, model_dir=str(root / f"{model}_finetune")))
        results[model] = (stage2, stage2_dir, stage3)
    return results


def test_stage1_starts_from_the_imagenet_file(stage1):
    tensors = adapnet_pp_fixtures.resnet50v2_tensors()
    mapped = sum(1 for (_, weight) in tensors if weight != "bias")
    multiscale = 2  # official rates: the kept block 2 unit 4 and block 3 unit 6 split their 3x3 kernel in halves
    for stream, (summary, _) in stage1.items():
        report = summary["init"][stream]
        assert len(report["loaded"]) == mapped + multiscale, stream
        assert sum("conv1_conv/kernel" in line for line in report["loaded"]) == 1
        skipped = "\n".join(report["skipped"])
        assert f"{stream}_easpp" in skipped and f"{stream}_conv0_bn" in skipped and "conv1_conv/bias" in skipped
        assert summary["step"] == 1 and np.isfinite(summary["final_loss"])


def test_three_stages_chain_for_both_fusion_models(stage1, stages23):
    for model, (stage2, stage2_dir, stage3) in stages23.items():
        assert set(stage2["init"]) == {"rgb", "depth"}, model
        for stream in ("rgb", "depth"):
            assert stage2["init"][stream]["source"].startswith(stage1[stream][1]), (model, stream)
        assert stage2["step"] == 3 and not stage2["resumed"]
        # Stage 3: a new model_dir initialised from stage 2 with a new batch size, lr and steps is no resume.
        assert not stage3["resumed"] and stage3["start_step"] == 0 and stage3["step"] == 2, model
        report = stage3["init"]["model"]
        assert report["source"].startswith(stage2_dir) and not report["skipped"], model
        assert any(name.startswith("rgb_") for name in report["loaded"]), model
        config = rundir.config_file.load_run_config(stage3["model_dir"])
        assert (config.train.batch_size, config.optimizer.learning_rate, config.train.freeze_encoders) == (3, 1e-4, False)


def _stream_layers(keras_model):
    """The layers --freeze_encoders must freeze, found independently of ``freezing``: the ``rgb_*``/``depth_*``
    layers and the two residual units of every RFB."""
    found = []
    for layer in keras_model.layers:
        if layer.name.startswith(("rgb_", "depth_")):
            found.append(layer)
        elif layer.name.startswith("rfb_"):
            found += [layer.rgb_unit, layer.depth_unit]
    return found


@pytest.mark.parametrize("name", sorted(MULTIMODAL))
def test_frozen_streams_stay_and_the_rest_trains(name, stage1, stages23, trained_models):
    """After the three steps of stage 2, every frozen variable (BN moving statistics included) still holds the
    stage-1 value it was loaded with; every trainable variable and the moving statistics of every trainable batch
    norm changed."""
    stage2, stage2_dir, _ = stages23[name]
    model, initial = trained_models[os.path.abspath(stage2_dir)]
    frozen = [v for layer in _stream_layers(model) for v in layer.weights]
    frozen_ids = {id(v) for v in frozen}
    assert not frozen_ids & {id(v) for v in model.trainable_variables}
    assert sum("moving_mean" in v.path for v in frozen) > 40  # the streams' batch norms are among them
    for v in frozen:
        np.testing.assert_array_equal(v.numpy(), initial[id(v)], err_msg=f"{name}: frozen {v.path} changed")
    for stream in ("rgb", "depth"):  # ... and the initial values are the stage-1 encoder's
        source = {v.path: v.numpy() for v in trained_models[os.path.abspath(stage1[stream][1])][0].weights}
        loaded = [v for v in frozen if v.path.startswith(f"{stream}_") or f"/{stream}_unit/" in v.path]
        assert len(loaded) > 100
        for v in loaded:
            path = v.path
            if path.startswith("rfb_"):  # rfb_s{s}_u{i}/{stream}_unit/... is {stream}_s{s}_u{i}/... in stage 1
                rfb, _, rest = path.split("/", 2)
                path = f"{stream}_{rfb[len('rfb_'):]}/{rest}"
            np.testing.assert_array_equal(v.numpy(), source[path], err_msg=f"{name}: {v.path}")
    others = [v for v in model.weights if id(v) not in frozen_ids]
    assert {id(v) for v in model.trainable_variables} == {id(v) for v in others if v.trainable}
    assert any("moving_mean" in v.path for v in others)
    unchanged = [v.path for v in others if (v.trainable or "moving" in v.path)
                 and np.array_equal(v.numpy(), initial[id(v)])]
    # Every kernel and batch-norm statistic moved; a GFU gate bias of the first RFBs may not, in three SGD steps at
    # lr 1e-3 (its gradient is tiny while the interaction stream starts; an Adam step moved every variable).
    assert all(p.endswith("/bias") for p in unchanged), f"{name}: variables that did not change: {unchanged[:5]}"
    assert len(unchanged) <= 0.01 * len(others), f"{name}: {len(unchanged)} variables did not change: {unchanged}"


def test_frozen_stage2_resumes_after_a_kill(stages23, tmp_path):
    """A frozen stage-2 run left as a kill after its step-1 checkpoint leaves it (the checkpoints up to step 1,
    flags.json, the lock of a dead process; tests/test_rundir_checkpoints.py kills the binary itself) resumes at step 1
    and trains steps 2-3 with the losses of the uninterrupted run: a lost batch, a reset optimizer or encoders
    unfrozen on resume would change them by far more than the 1e-3 relative tolerance."""
    from rfbnet_tf.training.trainer import train

    reference, reference_dir = stages23["ssma_adapnet_pp"][:2]
    model_dir = str(tmp_path / "killed")
    shutil.copytree(reference_dir, model_dir)
    directory = rundir.layout.checkpoint_dir(model_dir)
    for name in os.listdir(directory):
        if name.startswith(("ckpt-2", "ckpt-3")):
            os.remove(os.path.join(directory, name))
    tf.compat.v1.train.update_checkpoint_state(directory, "ckpt-1", all_model_checkpoint_paths=["ckpt-1"])
    for name in ("final.weights.h5", "train_summary.json"):
        os.remove(os.path.join(model_dir, name))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    with open(os.path.join(model_dir, ".lock"), "w", encoding="utf-8") as handle:
        json.dump({"pid": int(dead.stdout), "host": socket.gethostname(), "started": 0}, handle)
    flags_ = dict(rundir.config_file.load_run_config(model_dir).config.flags(), model_dir=model_dir)

    resumed = train(flags_)
    assert resumed["resumed"] and resumed["start_step"] == 1 and resumed["step"] == 3
    expected = np.array(reference["losses"][1:])
    difference = np.abs(np.array(resumed["losses"]) - expected) / expected
    assert difference.max() < 1e-3, f"relative loss differences {difference.tolist()}"


def test_runs_saved_before_the_options_existed(tmp_path):
    """A flags.json written before ``dilations`` / ``freeze_encoders`` existed rebuilds its AdapNet++ with the
    paper's rates (the only ones then) and resumes only with them."""
    from rfbnet_tf.training import checked_run

    old = {"model": "adapnet_pp", "num_classes": 3, "depth_input": "hha",
           "model_options": {"modality": "rgb", "depth_channels": 3, "aux_losses": False}}
    assert rundir.config_file.build_from_run_config(rundir.config_file.run_config_from_content(old)).get_layer(
        "rgb_s1_u0").dilations == (1, 16)  # block 3 unit 6, paper
    files.write_json_atomically(str(tmp_path / "flags.json"), old)
    for dilations in ("paper", "official"):
        run = checked_run.Run(
            config=configs.resolve(dict(record_dir="r", model_dir=str(tmp_path), model="adapnet_pp", modality="rgb",
                                        aux_losses=False, dilations=dilations)),
            num_classes=3, class_names=("a", "b", "c"), ignore_label=255, dataset=None, class_weight_values=None)
        if dilations == "paper":
            checked_run._check_resume(run)
        else:
            with pytest.raises(ValueError, match="model_options"):
                checked_run._check_resume(run)


def test_init_and_freeze_flag_errors(tmp_path):
    """Each misuse fails before any model is built, naming the flag."""
    from rfbnet_tf.training import stream_init

    def resolve(num_classes=None, **flags_):
        """The run config ``stream_init.check_init_sources`` reads."""
        config = configs.resolve({"record_dir": "r", "model_dir": "m", **flags_})
        return rundir.config_file.RunConfig(config, num_classes=num_classes)

    def changed(run, **sections):
        return dataclasses.replace(run, config=run.config.replace(**sections))

    with pytest.raises(ValueError, match="--init_model=.*drop \\['--rgb_init'\\]"):
        resolve(model="ssma_adapnet_pp", init_model="runs/a", rgb_init="runs/b")
    with pytest.raises(ValueError, match="--freeze_encoders applies to multimodal"):
        resolve(model="adapnet_pp", freeze_encoders=True)
    with pytest.raises(ValueError, match="--dilations"):
        resolve(model="erfnet_enc", dilations="paper")
    source = tmp_path / "stage2"
    source.mkdir()
    files.write_json_atomically(str(source / "flags.json"), {
        "model": "ssma_adapnet_pp", "num_classes": 3, "depth_input": "hha",
        "model_options": {"depth_channels": 3, "shrink_depth": False, "aux_losses": True, "dilations": "official"}})
    config = resolve(model="ssma_adapnet_pp", init_model=str(source), num_classes=3, model_dir=str(tmp_path / "stage3"))
    with pytest.raises(FileNotFoundError, match="--init_model=.*no training checkpoint and no final.weights.h5"):
        stream_init.check_init_sources(config)
    (source / "final.weights.h5").write_bytes(b"")  # only looked for here; loaded by the trainer
    stream_init.check_init_sources(config)  # aux_losses may differ
    stream_init.check_init_sources(dataclasses.replace(config, num_classes=4))  # so may the class count (fine-tuning)
    with pytest.raises(ValueError, match="--init_model=.*depth_input: 'hha' there, 'depth' here"):
        stream_init.check_init_sources(changed(config, model={"depth_input": "depth"}))
    with pytest.raises(ValueError, match="--init_model=.*model_options.dilations: 'official' there, 'paper' here"):
        stream_init.check_init_sources(changed(config, model={"dilations": "paper"}))
    with pytest.raises(ValueError, match="is --model_dir itself"):
        stream_init.check_init_sources(changed(config, train={"model_dir": str(source)}))
    with pytest.raises(FileNotFoundError, match="--init_model=.*not a training run directory"):
        stream_init.check_init_sources(changed(config, train={"init_model": str(tmp_path)}))
    erfnet = resolve(model="ssma_erfnet_enc", rgb_init=f"imagenet:{source / 'flags.json'}", num_classes=3)
    with pytest.raises(ValueError, match="--rgb_init=.*for AdapNet\\+\\+ models"):
        stream_init.check_init_sources(erfnet)
    with pytest.raises(FileNotFoundError, match="--depth_init='imagenet:/no/file.h5'"):
        stream_init.check_init_sources(changed(config, train={"init_model": None, "depth_init": "imagenet:/no/file.h5"}))
