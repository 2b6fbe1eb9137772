"""The train binary and its pieces: loss, weight decay, poly schedule, flags, end-to-end runs on tiny records.

End-to-end runs use 32x48 synthetic records (6 train / 2 val frames) and a handful of steps.
"""

import glob
import json
import math
import os
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf
from absl import flags

from rfbnet_tf.utils import files
from rfbnet_tf import configs, rundir
from rfbnet_tf.training import checked_run, losses, optimization, steps
from rfbnet_tf.training.class_weights import median_frequency_weights, parse_class_weights
from tests import short_backbones, train_fixtures, warm_python

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The short ERFNetEnc (tests/short_backbones.py) for every model this module builds: no assertion here depends on
# the backbone's depth (the RFB gate maps are drawn for the first and the last fused unit, whichever it is).
_short_erfnet = pytest.fixture(scope="module", autouse=True)(short_backbones.short_erfnet)
LAST_FUSED_UNIT = len(short_backbones.SHORT_FUSED_DILATIONS) - 1


# ------------------------------------------------------------------------------------------ loss


def test_cross_entropy_ignores_255_by_hand():
    labels = np.array([[[0, 255], [1, 1]]])
    logits = np.array([[[[2.0, 0.0], [100.0, -100.0]], [[0.0, 0.0], [1.0, 3.0]]]], np.float32)
    a, b = math.log(1 + math.exp(-2)), math.log(2)  # -log softmax of the true class
    assert float(losses.segmentation_loss(labels, logits)) == pytest.approx((2 * a + b) / 3, rel=1e-6)
    # Class weights: Σ w·ce over the valid pixels divided by their number (TF1 SUM_BY_NONZERO_WEIGHTS).
    weighted = losses.segmentation_loss(labels, logits, class_weights=[2.0, 0.5])
    assert float(weighted) == pytest.approx((2 * a + 0.5 * b + 0.5 * a) / 3, rel=1e-6)
    total, count = losses.cross_entropy_sums(labels, logits)
    assert float(count) == 3 and float(total) == pytest.approx(2 * a + b, rel=1e-6)
    assert float(losses.segmentation_loss(np.full((1, 2, 2), 255), logits)) == 0.0


def test_aux_loss_weights():
    assert losses.aux_loss_weights(1) == (1.0,)
    assert losses.aux_loss_weights(3) == (1.0, 0.6, 0.5)


def _tiny_model():
    inputs = keras.Input((4, 4, 2))
    x = keras.layers.Conv2D(3, 3, padding="same", name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same", name="dw")(x)
    x = keras.layers.Dense(2, name="dense")(x)
    model = keras.Model(inputs, x)
    rng = np.random.default_rng(0)
    for variable in model.weights:
        variable.assign(rng.normal(size=variable.shape).astype("float32") + 0.5)
    return model


def test_weight_decay_is_half_lambda_sum_of_squared_kernels():
    model = _tiny_model()
    kernels = [model.get_layer("conv").kernel, model.get_layer("dw").kernel, model.get_layer("dense").kernel]
    expected = 3e-3 * sum(float(np.sum(np.square(k.numpy()))) for k in kernels) / 2
    assert sorted(v.path for v in losses.decayed_variables(model)) == sorted(k.path for k in kernels)
    assert float(losses.l2_weight_decay(model, 3e-3)) == pytest.approx(expected, rel=1e-6)
    with tf.GradientTape() as tape:
        penalty = losses.l2_weight_decay(model, 3e-3)
    gradients = tape.gradient(penalty, [kernels[0], model.get_layer("conv").bias])
    np.testing.assert_allclose(gradients[0], 3e-3 * kernels[0].numpy(), rtol=1e-6)
    assert gradients[1] is None  # biases are not decayed
    with pytest.raises(ValueError, match="-1"):
        losses.l2_weight_decay(model, -1)


def test_train_step_adds_weight_decay_to_loss_and_gradient():
    """One SGD step with and without decay from the same weights: loss differs by λΣ‖W‖²/2 and the kernels
    by exactly -lr·λ·W."""
    strategy = tf.distribute.get_strategy()
    labels = np.array([[[0, 1, 255, 1]] * 4])
    batch = (np.random.default_rng(1).normal(size=(1, 4, 4, 2)).astype("float32"), labels)
    results, updated = {}, {}
    for decay in (0.0, 0.01):
        model = _tiny_model()
        initial = model.get_layer("dense").kernel.numpy()
        optimizer = keras.optimizers.SGD(learning_rate=0.1)
        step = tf.Variable(0, dtype=tf.int64)
        train_step = steps.make_train_step(model, optimizer, strategy, step, num_classes=2, weight_decay=decay,
                                           modality="x")
        results[decay] = train_step(iter(tf.data.Dataset.from_tensors(({"x": batch[0]}, batch[1]))))
        updated[decay] = model.get_layer("dense").kernel.numpy()
    expected_penalty = float(losses.l2_weight_decay(_tiny_model(), 0.01))
    assert float(results[0.01]["weight_decay"]) == pytest.approx(expected_penalty, rel=1e-6)
    assert float(results[0.01]["loss"] - results[0.0]["loss"]) == pytest.approx(expected_penalty, rel=1e-5)
    assert float(results[0.0]["cross_entropy"]) == pytest.approx(float(results[0.01]["cross_entropy"]), rel=1e-6)
    np.testing.assert_allclose(updated[0.01] - updated[0.0], -0.1 * 0.01 * initial, rtol=1e-4, atol=1e-7)
    assert int(step.numpy()) == 1
    assert int(np.sum(results[0.0]["confusion"])) == 12  # 16 pixels, 4 labelled 255


# ------------------------------------------------------------------------------------------ schedule


def test_poly_learning_rate():
    schedule = optimization.poly_schedule(5e-4, 100, power=0.9)
    for step in (0, 1, 10, 50, 99, 100):
        assert float(schedule(step)) == pytest.approx(5e-4 * (1 - step / 100) ** 0.9, rel=1e-5, abs=1e-12)
    assert float(schedule(150)) == 0.0
    with pytest.raises(ValueError, match="0"):
        optimization.poly_schedule(5e-4, 0)


@pytest.mark.parametrize("start", [5e-4, 1e-4, 1e-5])
def test_poly_schedule_of_12_ends_at_1e_4(start):
    """TF 1's polynomial_decay (end_learning_rate default 1e-4), as [12]'s create_optimizer runs it:
    (lr − end)·(1 − step/steps)^power + end; 1e-4 stays constant, 1e-5 rises."""
    schedule = optimization.poly_schedule(start, 100, power=0.9, end_learning_rate=1e-4)
    for step in (0, 10, 50, 100, 150):
        expected = (start - 1e-4) * (1 - min(step, 100) / 100) ** 0.9 + 1e-4
        assert float(schedule(step)) == pytest.approx(expected, rel=1e-5)
    assert float(schedule(100)) == pytest.approx(1e-4)
    if start < 1e-4:
        assert float(schedule(50)) > start


def test_adam_epsilon_is_passed_on():
    schedule = optimization.poly_schedule(5e-4, 10)
    assert optimization.make_optimizer("adam", schedule).epsilon == pytest.approx(1e-7)
    assert optimization.make_optimizer("adam", schedule, epsilon=1e-8).epsilon == pytest.approx(1e-8)


def test_median_frequency_weights():
    # frequencies 0.1, 0.2, 0.7, 0 -> median of present (0.2) / f; absent class -> 0
    np.testing.assert_allclose(median_frequency_weights([10, 20, 70, 0]), [2.0, 1.0, 0.2 / 0.7, 0.0], rtol=1e-6)
    np.testing.assert_allclose(parse_class_weights("1,2,3", 3), [1, 2, 3])
    with pytest.raises(ValueError, match="3 values"):
        parse_class_weights("1,2", 3)


# ------------------------------------------------------------------------------------------ flags


def _parse(*argv):
    flag_values = flags.FlagValues()
    configs.define_flags(flag_values)
    flag_values(["train", "--record_dir=r", "--model_dir=m", *argv])
    return flag_values


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--batch_size=0"], "--batch_size=0"),
        (["--learning_rate=-1"], "--learning_rate=-1"),
        (["--image_size=32,x"], "--image_size"),
        (["--crop_size=64"], "--crop_size"),
        (["--model=erfnet_enc", "--gates=false"], "--gates=False does not apply"),
        (["--image_size=32,48", "--crop_size=64,64"], "larger than --image_size"),
        (["--class_weights=1,a"], "--class_weights"),
    ],
)
def test_bad_flags_are_refused_by_the_config_once_parsed(argv, match):
    """absl parses; the config checks each value and the cross-flag rules (once, where the binary resolves its
    flags, before any work)."""
    flag_values = _parse(*argv)
    with pytest.raises(ValueError, match=match):
        configs.resolve(flag_values)


@pytest.mark.parametrize("argv, match", [(["--model=nope"], "--model"),
                                         (["--distribution_strategy=gpu"], "--distribution_strategy"),
                                         (["--steps=1.5"], "--steps")])
def test_values_absl_cannot_parse_fail_at_parse_time(argv, match):
    with pytest.raises(flags.IllegalFlagValueError, match=match):
        _parse(*argv)


def test_flags_resolve_model_options_and_paper_weight_decay():
    config = configs.resolve(_parse("--add_point=none", "--depth_input=depth", "--gates=false"))
    assert config.model.build_options() == {"depth_channels": 1, "shrink_depth": True, "gates": False,
                                       "add_point": None, "combination": "ssma"}
    assert config.optimizer.weight_decay == 1e-4  # ERFNetEnc (Sec. IV-B)
    assert configs.resolve({"record_dir": "r", "model_dir": "m", "model": "adapnet_pp"}).optimizer.weight_decay == 5e-4
    with pytest.raises(ValueError, match="--steps=0"):
        configs.resolve({"record_dir": "r", "model_dir": "m", "steps": 0})
    with pytest.raises(ValueError, match="--bogus"):
        configs.resolve({"record_dir": "r", "model_dir": "m", "bogus": 1})


# ------------------------------------------------------------------------------------------ end to end

BASE = train_fixtures.TINY_RUN


@pytest.fixture(scope="module")
def record_dir(tmp_path_factory):
    return train_fixtures.make_records(tmp_path_factory.mktemp("records"))


@pytest.mark.parametrize(
    "overrides, error, match",
    [
        (dict(record_dir="/does/not/exist"), FileNotFoundError, "does not exist"),
        (dict(val_split="test", val_every=5), ValueError, "--val_split='test'"),
        (dict(class_weights="1,2"), ValueError, "--class_weights='1.0,2.0'.*10 values"),
        (dict(crop_size=[24, 48]), ValueError, "--crop_size=.*multiples of 16"),
        (dict(rgb_init="/no/model"), FileNotFoundError, "--rgb_init='/no/model'"),
    ],
)
def test_disk_checks_fail_before_work(record_dir, tmp_path, overrides, error, match):
    flags_ = {**BASE, "record_dir": record_dir, "model_dir": str(tmp_path / "run"), "steps": 2, **overrides}
    with pytest.raises(error, match=match):
        checked_run.prepare_run(configs.resolve(flags_))
    assert not os.path.exists(tmp_path / "run")


def _events(directory):
    """{tag: [(step, value or None)]} of the event files in ``directory``."""
    found = {}
    for path in glob.glob(os.path.join(directory, "events.out.tfevents.*")):
        for record in tf.data.TFRecordDataset(path):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                tensor = tf.make_ndarray(value.tensor)
                scalar = float(tensor) if tensor.dtype != object and tensor.size == 1 else None
                found.setdefault(value.tag, []).append((event.step, scalar))
    return found


@pytest.fixture(scope="module")
def rfbnet_run(record_dir, unimodal_run, tmp_path_factory):
    """rfbnet_erfnet_enc, 30 steps, its RGB encoder initialised from the unimodal run (two-stage training)."""
    from rfbnet_tf.training.trainer import train

    model_dir = str(tmp_path_factory.mktemp("rfbnet") / "run")
    flags_ = dict(BASE, record_dir=record_dir, model_dir=model_dir, model="rfbnet_erfnet_enc", steps=30,
                  learning_rate=2e-3, summary_every=5, checkpoint_every=15, val_every=30, image_summary_every=30,
                  rgb_init=unimodal_run[1])
    return train(flags_), model_dir


def test_rfbnet_loss_falls_and_model_dir_is_complete(rfbnet_run):
    summary, model_dir = rfbnet_run
    losses_ = summary["losses"]
    assert len(losses_) == 30 and summary["step"] == 30 and summary["start_step"] == 0
    assert np.mean(losses_[-5:]) < 0.8 * np.mean(losses_[:5]), losses_
    config = rundir.config_file.load_run_config(model_dir)
    assert config.model.name == "rfbnet_erfnet_enc" and config.num_classes == 10
    assert config.class_names[0] == "floor" and config.data.image_size == [32, 48]
    assert config.model.depth_input == "hha" and config.model_options["depth_channels"] == 3
    with open(os.path.join(model_dir, "flags.json"), encoding="utf-8") as handle:  # the experiment's sections
        content = json.load(handle)
    assert content["format"] == 2 and content["model"]["name"] == "rfbnet_erfnet_enc"
    assert content["data"]["image_size"] == [32, 48] and content["train"]["steps"] == 30
    info = rundir.facts.load_run_info(model_dir)  # the dataset facts and the environment
    assert info["num_classes"] == 10 and info["versions"]["tensorflow"] == tf.__version__
    assert rundir.checkpoints.checkpoint_step(rundir.checkpoints.latest_checkpoint(model_dir)) == 30
    assert os.path.isfile(os.path.join(model_dir, "final.weights.h5"))
    assert 0.0 <= summary["val_miou"] <= 1.0
    train_events = _events(os.path.join(model_dir, "logs", "train"))
    val_events = _events(os.path.join(model_dir, "logs", "val"))
    for tag in ("3_training/total_loss", "1_headline/loss", "3_training/weight_decay", "1_headline/learning_rate",
                "1_headline/miou", "2_class_iou/floor"):
        assert tag in train_events, sorted(train_events)
    for tag in ("1_headline/miou", "1_headline/loss", "4_images/rgb", "4_images/depth", "4_images/ground_truth",
                "4_images/prediction", "5_gates/rfb_s0_u0", f"5_gates/rfb_s0_u{LAST_FUSED_UNIT}"):
        assert tag in val_events, sorted(val_events)
    # The learning rate logged at step 5 is the one step 5 used: poly at 4 of 30 steps.
    learning_rate = dict(train_events["1_headline/learning_rate"])[5]
    assert learning_rate == pytest.approx(2e-3 * (1 - 4 / 30) ** 0.9, rel=1e-5)
    # The last checkpoint and final.weights.h5 hold the same weights.
    from_checkpoint, _, step = rundir.checkpoints.restore_model(model_dir)
    from_final, _, final_step = rundir.checkpoints.restore_model(model_dir, "final")
    assert step == final_step == 30
    for a, b in zip(from_checkpoint.weights, from_final.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


_fast_graphs = pytest.fixture(scope="module", autouse=True)(train_fixtures.fast_graphs)


@pytest.fixture(scope="module")
def unimodal_run(tmp_path_factory):
    """A model_dir of an RGB erfnet_enc laid out as the binary writes it (flags.json, final.weights.h5), with
    random weights: the source of two-stage initialisation (no training needed to check the copy)."""
    model_dir = str(tmp_path_factory.mktemp("unimodal") / "run")
    os.makedirs(model_dir)
    config = {"model": "erfnet_enc", "num_classes": 10, "model_options": {"modality": "rgb", "depth_channels": 3}}
    model = rundir.config_file.build_from_run_config(rundir.config_file.run_config_from_content(config))
    rng = np.random.default_rng(5)
    for variable in model.trainable_weights:  # batch-norm moving statistics keep their valid initial values
        variable.assign(rng.normal(size=variable.shape).astype("float32") * 0.05)
    files.write_json_atomically(os.path.join(model_dir, "flags.json"), config)
    rundir.checkpoints.save_weights_atomically(model, rundir.layout.final_weights_path(model_dir))
    return None, model_dir


def test_two_stage_init_loads_the_unimodal_encoder(unimodal_run, rfbnet_run):
    from rfbnet_tf.models import build_model
    from rfbnet_tf.models.weight_transfer import _weight_layers
    from rfbnet_tf.training.stream_init import initialize_streams

    source_dir = unimodal_run[1]
    summary, rfbnet_dir = rfbnet_run
    assert summary["init"]["rgb"]["skipped"] == ["head"]
    config = rundir.config_file.load_run_config(rfbnet_dir)
    target = build_model(config.model.name, config.num_classes, **config.model_options)
    report = initialize_streams(target, config, {"rgb": source_dir, "depth": None})
    source, _, _ = rundir.checkpoints.restore_model(source_dir)
    source_layers, target_layers = dict(_weight_layers(source)), dict(_weight_layers(target))
    # Every layer of the source's encoder was loaded (all its weight layers but the head), in the source's order.
    assert summary["init"]["rgb"]["loaded"] == [name for name in source_layers if name != "head"]
    assert report["rgb"]["loaded"] == summary["init"]["rgb"]["loaded"]
    for name in report["rgb"]["loaded"]:
        for a, b in zip(source_layers[name].get_weights(), target_layers[name].get_weights()):
            np.testing.assert_array_equal(a, b)
    assert any(name.startswith("rgb_s0_u") for name in report["rgb"]["loaded"])  # units inside the RFBs
    with pytest.raises(ValueError, match="holds a 'rgb' model, not a 'depth' one"):
        initialize_streams(target, config, {"depth": source_dir})
    with pytest.raises(ValueError, match="multimodal model 'rfbnet_erfnet_enc'"):
        initialize_streams(target, config, {"rgb": rfbnet_dir})
    with pytest.raises(ValueError, match="no 'depth' stream"):
        initialize_streams(source, rundir.config_file.load_run_config(source_dir), {"depth": source_dir})


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(record_dir, tmp_path):
    """lr 1e30: the update overflows. The run stops (at the first non-finite loss, or at the first checkpoint of a
    non-finite state, whichever comes first) and no checkpoint on disk holds a NaN / inf value (the short
    ERFNetEnc: tests/short_backbones.py)."""
    from rfbnet_tf.training.trainer import train

    model_dir = str(tmp_path / "nan")
    flags_ = dict(BASE, record_dir=record_dir, model_dir=model_dir, model="erfnet_enc", modality="depth",
                  depth_input="depth", steps=10, checkpoint_every=1, learning_rate=1e30)
    with pytest.raises(FloatingPointError, match=r"at step (\d+)") as error:
        train(flags_)
    message = error.value.args[0]
    assert "\n" not in message and "last good checkpoint" in message
    state = tf.train.get_checkpoint_state(rundir.layout.checkpoint_dir(model_dir))
    for path in (state.all_model_checkpoint_paths if state else []):
        reader = tf.train.load_checkpoint(path)
        for key, dtype in reader.get_variable_to_dtype_map().items():
            if dtype.is_floating:
                assert np.all(np.isfinite(reader.get_tensor(key))), (path, key)
    latest = rundir.checkpoints.latest_checkpoint(model_dir)
    if latest is not None:
        assert repr(latest) in message
        model, _, _ = rundir.checkpoints.restore_model(model_dir)
        assert all(np.all(np.isfinite(w.numpy())) for w in model.weights)
    assert not os.path.exists(os.path.join(model_dir, "final.weights.h5"))


def test_non_finite_weights_are_refused_with_one_line(tmp_path):
    model_dir = str(tmp_path / "poisoned")
    os.makedirs(model_dir)
    config = {"model": "erfnet_enc", "num_classes": 3, "model_options": {"modality": "rgb", "depth_channels": 3}}
    model = rundir.config_file.build_from_run_config(rundir.config_file.run_config_from_content(config))
    kernel = model.trainable_weights[0]
    kernel.assign(np.full(kernel.shape, np.nan, np.float32))
    files.write_json_atomically(os.path.join(model_dir, "flags.json"), config)
    rundir.checkpoints.save_weights_atomically(model, rundir.layout.final_weights_path(model_dir))
    with pytest.raises(rundir.checkpoints.NonFiniteWeightsError, match=rf"final.weights.h5.*holds {kernel.numpy().size:,} "
                                                                 r"non-finite values in 1 variables") as error:
        rundir.checkpoints.restore_model(model_dir, "final")
    assert "\n" not in str(error.value)


def test_resume_refuses_another_model(record_dir, rfbnet_run):
    with pytest.raises(ValueError, match="model='rfbnet_erfnet_enc'.*model='erfnet_enc'"):
        checked_run.prepare_run(configs.resolve(
            dict(BASE, record_dir=record_dir, model_dir=rfbnet_run[1], model="erfnet_enc", steps=2)))


def test_resume_refuses_changed_shapes_before_writing_anything(record_dir, unimodal_run, rfbnet_run):
    from rfbnet_tf.training.trainer import train

    model_dir = rfbnet_run[1]
    flags_ = dict(BASE, record_dir=record_dir, model_dir=model_dir, model="rfbnet_erfnet_enc", steps=30,
                  learning_rate=2e-3, summary_every=5, checkpoint_every=15, val_every=30, image_summary_every=30,
                  rgb_init=unimodal_run[1])
    flags_path = os.path.join(model_dir, "flags.json")
    before = open(flags_path, encoding="utf-8").read()
    changes = (({"image_size": [64, 96]}, r"--image_size=\[32, 48\]"), ({"batch_size": 4}, "--batch_size=2"))
    for change, named in changes:
        with pytest.raises(ValueError, match=rf"resumes from a checkpoint saved with {named}.*\(now"):
            train(dict(flags_, **change))
    assert open(flags_path, encoding="utf-8").read() == before  # refused before flags.json was rewritten
    # The schedule length is no part of the saved state: a longer run resumes.
    checked_run.prepare_run(configs.resolve(dict(flags_, steps=40)))


def test_rerunning_a_finished_run_keeps_its_summary(record_dir, unimodal_run, rfbnet_run):
    from rfbnet_tf.training.trainer import train

    summary_path = os.path.join(rfbnet_run[1], "train_summary.json")
    before = open(summary_path, encoding="utf-8").read()
    flags_ = dict(BASE, record_dir=record_dir, model_dir=rfbnet_run[1], model="rfbnet_erfnet_enc", steps=30,
                  learning_rate=2e-3, summary_every=5, checkpoint_every=15, val_every=30, image_summary_every=30,
                  rgb_init=unimodal_run[1])
    again = train(flags_)
    assert again["already_trained"] and again["step"] == 30 and again["steps_run"] == 0
    assert again["val_miou"] == pytest.approx(rfbnet_run[0]["val_miou"])
    assert open(summary_path, encoding="utf-8").read() == before


def test_mirrored_strategy_on_two_logical_cpus(record_dir, tmp_path):
    model_dir = str(tmp_path / "mirrored")
    flags_ = dict(BASE, record_dir=record_dir, model_dir=model_dir, model="erfnet_enc", modality="depth",
                  depth_input="depth", steps=3, checkpoint_every=3, distribution_strategy="mirrored")
    # the short ERFNetEnc (tests/short_backbones.py): the strategy does not depend on the depth; its graph is
    # traced once per replica
    code = train_fixtures.SUBPROCESS_PRELUDE + short_backbones.SUBPROCESS_PRELUDE + textwrap.dedent(f"""
        import json
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from rfbnet_tf import train
        from rfbnet_tf.training import trainer
        from rfbnet_tf.training import distribution
        built = []
        original = distribution.synchronize_batch_norm
        distribution.synchronize_batch_norm = lambda model: built.append(model) or original(model)
        summary = trainer.train({flags_!r})
        layers = distribution.batch_norm_layers(built[0])
        summary["bn_layers"] = len(layers)
        summary["bn_synchronized"] = all(layer.synchronized for layer in layers)
        print("SUMMARY" + json.dumps({{k: v for k, v in summary.items() if k != "init"}}))
    """)
    result = warm_python.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.split("SUMMARY", 1)[1])
    assert summary["num_replicas"] == 2 and summary["step"] == 3
    assert summary["bn_layers"] > 10 and summary["bn_synchronized"]
    assert all(np.isfinite(summary["losses"]))
    assert rundir.checkpoints.checkpoint_step(rundir.checkpoints.latest_checkpoint(model_dir)) == 3
