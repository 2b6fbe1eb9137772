"""The fault battery (issue "training and data that hold under faults"), each case at tiny size.

Record directories (prepare_data): a full disk while writing shards, an ``--overwrite`` that fails at its last
write, temporaries of killed runs, a run killed in the middle of swapping the directory, partial overwrites at
another size.  Run directories: a NaN state and non-finite checkpoints (tests/test_train.py), two trainers on
one model_dir (tests/test_rundir_lock.py).
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from rfbnet_tf.datasets import record_directory
from rfbnet_tf.datasets import preparation, records, shards
from tests import short_backbones, warm_python

SIZE = (32, 48)
# The short ERFNetEnc (tests/short_backbones.py) for every model this process builds: no assertion here depends on
# the backbone's depth. The binaries run in their own processes (full backbone) stop before loading any weights.
_short_erfnet = pytest.fixture(scope="module", autouse=True)(short_backbones.short_erfnet)


def _prepare(out, **kwargs):
    arguments = dict(num_workers=1, examples_per_shard=2, synthetic_train=3, synthetic_val=2, synthetic_size=SIZE,
                     seed=3, progress=False)
    return preparation.prepare("synthetic", str(out), **{**arguments, **kwargs})


def _snapshot(directory):
    """{relative path: sha256} of every file under a directory: what must survive a failed overwrite unchanged."""
    return {os.path.relpath(os.path.join(root, name), directory):
            hashlib.sha256(open(os.path.join(root, name), "rb").read()).hexdigest()
            for root, _, names in os.walk(directory) for name in sorted(names)}


def _dead_pid():
    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True).stdout)


@pytest.fixture()
def prepared(tmp_path):
    out = tmp_path / "records"
    _prepare(out)
    return out


def test_disk_full_while_writing_keeps_the_original_error_and_leaves_nothing(prepared, monkeypatch):
    before = _snapshot(prepared)
    written = []

    def write(self, example):
        if len(written) == 2:
            raise OSError(28, "No space left on device")
        written.append(example)
        original_write(self, example)

    def close(self):
        if self.writer is not None:
            self.writer = None
            raise OSError(28, "No space left on device (while closing)")

    original_write = record_directory.ShardWriter.write
    monkeypatch.setattr(preparation.ShardWriter, "write", write)
    monkeypatch.setattr(preparation.ShardWriter, "_close", close)
    with pytest.raises(OSError, match=r"No space left on device$"):  # the write's error, not the close's
        _prepare(prepared, overwrite=True)
    assert _snapshot(prepared) == before
    assert sorted(os.listdir(prepared.parent)) == ["records"]  # no staging directory, no temporary shard


def test_overwrite_failing_at_its_last_write_leaves_the_old_records(prepared, monkeypatch):
    before = _snapshot(prepared)

    def fail(path, *args, **kwargs):
        raise OSError(f"could not write {path}")

    monkeypatch.setattr(preparation, "write_json_atomically", fail)
    with pytest.raises(OSError, match="dataset_info.json"):
        _prepare(prepared, overwrite=True, seed=4)
    assert _snapshot(prepared) == before
    info = records.load_dataset_info(str(prepared))
    for split in info["splits"].values():  # the info still lists exactly the shards on disk
        assert all(os.path.isfile(os.path.join(prepared, name)) for name in split["files"])
    assert sorted(os.listdir(prepared.parent)) == ["records"]


def test_overwrite_of_one_split_keeps_the_others_and_replaces_it(prepared):
    train_before = {k: v for k, v in _snapshot(prepared).items() if k.startswith("train-")}
    (prepared / "NOTES.txt").write_text("mine")
    _prepare(prepared, overwrite=True, splits=("val",), synthetic_val=3, seed=5)
    after = _snapshot(prepared)
    assert {k: v for k, v in after.items() if k.startswith("train-")} == train_before
    info = records.load_dataset_info(str(prepared))
    assert info["splits"]["val"]["num_examples"] == 3 and info["splits"]["train"]["num_examples"] == 3
    assert (prepared / "NOTES.txt").read_text() == "mine"  # the user's files stay


def test_partial_overwrite_at_another_size_is_refused(prepared):
    before = _snapshot(prepared)
    with pytest.raises(ValueError, match=r"keeps the splits \['train'\] at \[32, 48\].*one directory"):
        _prepare(prepared, overwrite=True, splits=("val",), synthetic_size=(16, 32))
    assert _snapshot(prepared) == before


def test_temporaries_of_dead_processes_are_removed_and_live_ones_kept(prepared):
    dead = _dead_pid()
    (prepared / f".tmp-{dead}-train-00000.tfrecord").write_bytes(b"x" * 100)
    staging = prepared.parent / f"records.tmp-{dead}"
    staging.mkdir()
    (staging / "train-00000-of-00001.tfrecord").write_bytes(b"x")
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as live:
        try:
            live_file = prepared / f".tmp-{live.pid}-val-00000.tfrecord"
            live_file.write_bytes(b"busy")
            _prepare(prepared, overwrite=True, splits=("val",))
            assert live_file.exists() and live_file.read_bytes() == b"busy"  # another writer's file: untouched
        finally:
            live.kill()
    assert not staging.exists() and not (prepared / f".tmp-{dead}-train-00000.tfrecord").exists()


def test_a_run_killed_while_swapping_is_undone_at_the_next_start(prepared):
    before = _snapshot(prepared)
    aside = prepared.parent / f"records.tmp-{_dead_pid()}-old"
    os.rename(prepared, aside)  # killed between "old directory aside" and "new directory in"
    _prepare(prepared, overwrite=True, splits=("val",), seed=8)
    after = _snapshot(prepared)
    assert {k: v for k, v in after.items() if k.startswith("train-")} == {
        k: v for k, v in before.items() if k.startswith("train-")}
    assert not aside.exists()


def test_a_truncated_shard_is_named(prepared):
    import tensorflow as tf

    from rfbnet_tf.datasets import pipeline

    assert shards.corrupt_shard(str(prepared), "train") is None
    shard = os.path.join(prepared, "train-00001-of-00002.tfrecord")
    with open(shard, "r+b") as handle:
        handle.truncate(os.path.getsize(shard) - 100)
    with pytest.raises(tf.errors.DataLossError) as raw:  # what tf.data says: no file name
        for _ in pipeline.make_dataset(str(prepared), "train", batch_size=1, training=False):
            pass
    assert "train-00001" not in str(raw.value)
    error = shards.read_error(str(prepared), "train", raw.value)
    assert isinstance(error, ValueError) and repr(shard) in str(error) and "\n" not in str(error)
    assert shards.read_error(str(prepared), "val", raw.value) is raw.value  # val reads: nothing to name


def test_evaluate_and_train_name_a_truncated_shard(tmp_path):
    from rfbnet_tf.evaluation.evaluator import EvaluationConfig, evaluate
    from rfbnet_tf.training.trainer import train
    from tests import run_dir_fixtures as fx
    from tests import train_fixtures

    record_dir = str(tmp_path / "records")
    fx.write_records(record_dir, {"val": fx.random_frames(1, 3, (32, 48))})
    model_dir = str(tmp_path / "run")
    fx.make_run_dir(model_dir, fx.run_config(record_dir, image_size=(32, 48)), step=1)
    shard = os.path.join(record_dir, "val-00000-of-00001.tfrecord")
    with open(shard, "r+b") as handle:
        handle.truncate(os.path.getsize(shard) - 100)
    with pytest.raises(ValueError, match=rf"shard '{shard}' of split 'val' is corrupt"):
        evaluate(EvaluationConfig(model_dir, progress=False))

    train_records = train_fixtures.make_records(tmp_path / "train_records")
    train_shard = sorted(name for name in os.listdir(train_records) if name.startswith("train-"))[-1]
    path = os.path.join(train_records, train_shard)
    with open(path, "r+b") as handle:
        handle.truncate(os.path.getsize(path) - 100)
    with pytest.raises(ValueError, match=rf"shard '{path}' of split 'train' is corrupt"):
        train(dict(train_fixtures.TINY_RUN, record_dir=train_records, model_dir=str(tmp_path / "trained"),
                   model="erfnet_enc", steps=20, shuffle_buffer=0))


# ------------------------------------------------------------------------------------------ run directories


@pytest.fixture()
def fast_graphs():
    from tests import train_fixtures

    yield from train_fixtures.fast_graphs()


def test_resume_scans_the_checkpoints_once_and_removes_what_killed_processes_left(tmp_path, monkeypatch,
                                                                                   fast_graphs):
    from rfbnet_tf import rundir
    from rfbnet_tf.training.trainer import train
    from tests import train_fixtures

    model_dir = tmp_path / "run"
    flags_ = dict(train_fixtures.TINY_RUN, record_dir=train_fixtures.make_records(tmp_path / "records"),
                  model_dir=str(model_dir), model="erfnet_enc", modality="depth", depth_input="depth", steps=1)
    train(flags_)
    dead = _dead_pid()
    left = [model_dir / "checkpoints" / "ckpt-2_temp", model_dir / f".tmp-{dead}-final.weights.h5",
            model_dir / f"flags.json.tmp-{dead}", model_dir / f".tmp-{dead}-export"]
    left[0].mkdir()  # what a save killed before TensorFlow's rename leaves (no PID: the run lock makes it stale)
    (left[0] / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"x" * 100)
    for path in left[1:3]:
        path.write_bytes(b"x")
    left[3].mkdir()
    scans = []
    readable = rundir.checkpoints._readable
    monkeypatch.setattr(rundir.checkpoints, "_readable", lambda path: scans.append(path) or readable(path))

    with pytest.raises(ValueError, match="--batch_size=2 \\(now 4\\)"):
        train(dict(flags_, batch_size=4))  # refused before any scan or write
    assert scans == [] and all(path.exists() for path in left)
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as live:
        try:
            busy = model_dir / f".tmp-{live.pid}-export"
            busy.mkdir()
            summary = train(dict(flags_, steps=2))  # resumes at step 1 and trains one more step
        finally:
            live.kill()
    assert summary["start_step"] == 1 and summary["step"] == 2 and summary["steps_run"] == 1
    assert scans == [os.path.join(rundir.layout.checkpoint_dir(model_dir), "ckpt-1")]  # once per start
    assert not [path for path in left if path.exists()] and busy.exists()


def test_export_removes_the_temporaries_of_killed_exports_only(tmp_path, monkeypatch):
    import types

    from rfbnet_tf.inference import saved_model_export

    dead = _dead_pid()
    mine = [tmp_path / f".tmp-{dead}-model", tmp_path / f".tmp-{dead}-old-model"]
    others = [tmp_path / f".tmp-{dead}-another_model", tmp_path / "model.tmp"]
    for path in mine + others:
        path.mkdir()
    (mine[0] / "saved_model.pb").write_bytes(b"partial")

    def save(module, path, signatures=None):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(saved_model_export.tf.saved_model, "save", save)
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as live:
        try:
            busy = tmp_path / f".tmp-{live.pid}-model"
            busy.mkdir()
            with pytest.raises(OSError, match="simulated"):
                saved_model_export.save_module(types.SimpleNamespace(signatures=dict), str(tmp_path / "model"))
        finally:
            live.kill()
    assert not [path for path in mine if path.exists()]
    assert all(path.exists() for path in others) and busy.exists()


def test_export_dir_under_a_file_is_one_line_naming_the_flag(tmp_path):
    afile = tmp_path / "passwd"
    afile.write_text("root:x:0:0")
    result = warm_python.run(
        [sys.executable, "-m", "rfbnet_tf.export", f"--model_dir={tmp_path}", f"--export_dir={afile}/x"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 1, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: --export_dir='{afile}/x' cannot be created: '{afile}' is a file, not a directory"]
    assert "Traceback" not in result.stderr and afile.read_text() == "root:x:0:0"


# ------------------------------------------------------------------------------- read-only and full disks

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUIET = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": REPO}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """Records (a val split) and a run trained on them (``run_dir_fixtures``: flags.json, run_info.json, final
    weights, train_summary.json), for evaluate / export / predict."""
    from tests import run_dir_fixtures as fx

    base = tmp_path_factory.mktemp("faults_run")
    record_dir = str(base / "records")
    fx.write_records(record_dir, {"val": fx.random_frames(1, 2, SIZE)})
    model_dir = str(base / "run")
    fx.make_run_dir(model_dir, fx.run_config(record_dir, model="erfnet_enc", image_size=SIZE))
    return record_dir, model_dir


def _binary(module, arguments, **kwargs):
    """``python -m module arguments`` through ``disk_faults.run``: (exit status, stderr's message lines, stdout)."""
    from tests import disk_faults
    from tests.binary_output import message_lines

    result = disk_faults.run([sys.executable, "-m", module, *arguments], cwd=REPO, env=QUIET, timeout=600, **kwargs)
    assert result.returncode != 97, result.stderr  # the mount itself failed
    return result.returncode, message_lines(result.stderr), result.stdout


def _train_records(tmp_path):
    from tests import train_fixtures

    return train_fixtures.make_records(tmp_path / "records")


def test_train_on_a_read_only_model_dir_is_one_line_before_any_work(tmp_path):
    records = _train_records(tmp_path)
    model_dir = tmp_path / "run"
    model_dir.mkdir()
    status, lines, _ = _binary("rfbnet_tf.train", [f"--record_dir={records}", f"--model_dir={model_dir}",
                                                   "--model=erfnet_enc", "--steps=1", "--noprogress"],
                               read_only=[model_dir])
    assert status == 1 and lines == [f"error: cannot write to '{model_dir}' (Read-only file system): pass "
                                     "--model_dir=DIR to write elsewhere"]
    assert os.listdir(model_dir) == []


@pytest.mark.parametrize("module, arguments, where, flag", [
    ("rfbnet_tf.evaluate", [], "{run}/eval' ('{run}': ", "--output_dir"),  # nothing evaluated before the error
    ("rfbnet_tf.export", [], "{run}' (", "--export_dir"),
    ("rfbnet_tf.predict", ["--rgb={records}", "--output_dir={run}"], "{run}' (", "--output_dir"),
])
def test_evaluate_export_and_predict_into_a_read_only_run_name_the_flag_first(run_dir, module, arguments, where,
                                                                              flag):
    record_dir, model_dir = run_dir
    before = _snapshot(model_dir)
    names = {"run": model_dir, "records": record_dir}
    status, lines, stdout = _binary(module, [f"--model_dir={model_dir}", *(a.format(**names) for a in arguments)],
                                    read_only=[model_dir])
    assert status == 1 and lines == [f"error: cannot write to '{where.format(**names)}Read-only file system): pass "
                                     f"{flag}=DIR to write elsewhere"]
    assert stdout == "" and _snapshot(model_dir) == before


def test_a_disk_filling_during_a_checkpoint_is_one_line_and_keeps_the_previous_one(tmp_path):
    """The model_dir is a 36 MB tmpfs: flags, logs and the first checkpoint of the tiny ERFNetEnc (weights and
    Adam slots ≈ 22.6 MB) fit, the second does not."""
    from rfbnet_tf import rundir

    records = _train_records(tmp_path)
    model_dir, left = tmp_path / "run", tmp_path / "left"
    model_dir.mkdir()
    left.mkdir()
    status, lines, _ = _binary(
        "rfbnet_tf.train", [f"--record_dir={records}", f"--model_dir={model_dir}", "--model=erfnet_enc", "--steps=3",
                            "--checkpoint_every=1", "--noaugment", "--val_every=0", "--image_summary_every=0",
                            "--noprogress", "--batch_size=2"],
        full=(model_dir, "36m"), copy_to=left)
    checkpoints = os.path.join(model_dir, "checkpoints")
    assert status == 1 and lines == [f"error: could not write '{checkpoints}/ckpt-2' (No space left on device): the "
                                     f"last good checkpoint '{checkpoints}/ckpt-1' is kept"]
    assert sorted(os.listdir(left / "checkpoints")) == ["checkpoint", "ckpt-1.data-00000-of-00001", "ckpt-1.index"]
    assert rundir.checkpoints.latest_checkpoint(str(left)).endswith("ckpt-1") and not (left / ".lock").exists()


def test_the_atomic_writer_on_a_full_disk_names_the_file_and_keeps_the_previous_one(tmp_path):
    from tests import disk_faults

    directory = tmp_path / "small"
    directory.mkdir()
    code = textwrap.dedent(f"""
        import json, os
        from rfbnet_tf.utils import files
        path = os.path.join({str(directory)!r}, "a.json")
        files.write_json_atomically(path, {{"kept": True}})
        try:
            files.write_json_atomically(path, {{"big": "x" * 200000}})
        except files.WriteError as error:
            print(json.dumps([str(error), open(path).read(), sorted(os.listdir({str(directory)!r}))]))
    """)
    result = disk_faults.run([sys.executable, "-c", code], full=(directory, "64k"), cwd=REPO, env=QUIET, timeout=120)
    message, content, names = json.loads(result.stdout)
    assert message == f"could not write '{directory}/a.json' (No space left on device): the previous file is kept"
    assert json.loads(content) == {"kept": True} and names == ["a.json"]


# ------------------------------------------------------------------------------------- damaged run files

_REMEDIES = {
    "flags.json": "remove it and rerun the run's train command (same flags): it resumes from the newest checkpoint "
                  "and writes it again",
    "run_info.json": "write it again from the run's records: python -m rfbnet_tf.backfill_run_info --model_dir={run} "
                     "--overwrite",
    "train_summary.json": "remove it and rerun the run's train command (same flags): it resumes from the newest "
                          "checkpoint and writes it again",
    "val_history.json": "remove it (the earlier validations stay in the TensorBoard logs, logs/val) and rerun the "
                        "run's train command: it records the validations from there on",
    "dataset_info.json": "prepare the records again: python -m rfbnet_tf.prepare_data --output_dir={records} "
                         "--overwrite (with the dataset's other flags)",
}


def _damage(path, how):
    """Empty the file, or cut it in the middle (a copy killed half-way)."""
    text = open(path).read()
    with open(path, "w") as handle:
        handle.write("" if how == "empty" else text[:len(text) // 2])
    return "empty" if how == "empty" else "not valid JSON: "


def _damaged_line(path, what, directories):
    remedy = _REMEDIES[os.path.basename(path)].format(**directories)
    return f"'{path}' is damaged ({what}" + ("" if what == "empty" else "...") + f"): {remedy}"


def _matches(line, expected):
    """``expected`` with "..." standing for json's own message."""
    head, _, tail = expected.partition("...")
    return line.startswith(head) and line.endswith(tail) if tail else line == expected


@pytest.fixture()
def damaged_run(run_dir, tmp_path):
    """A private copy of the module's records and run."""
    record_dir, model_dir = (str(tmp_path / name) for name in ("records", "run"))
    shutil.copytree(run_dir[0], record_dir)
    shutil.copytree(run_dir[1], model_dir)
    config = os.path.join(model_dir, "flags.json")
    with open(config) as handle:
        content = json.load(handle)
    with open(config, "w") as handle:
        json.dump(dict(content, record_dir=record_dir), handle)
    return {"records": record_dir, "run": model_dir}


@pytest.mark.parametrize("module, name, how, arguments", [
    ("rfbnet_tf.evaluate", "flags.json", "empty", []),
    ("rfbnet_tf.export", "run_info.json", "truncated", []),
    ("rfbnet_tf.predict", "flags.json", "truncated", ["--rgb={records}", "--output_dir={tmp}/out"]),
    ("rfbnet_tf.evaluate", "dataset_info.json", "empty", []),
])
def test_binaries_name_a_damaged_run_file_in_one_line(damaged_run, tmp_path, module, name, how, arguments):
    directory = damaged_run["records" if name == "dataset_info.json" else "run"]
    path = os.path.join(directory, name)
    what = _damage(path, how)
    names = dict(damaged_run, tmp=str(tmp_path))
    status, lines, _ = _binary(module, [f"--model_dir={damaged_run['run']}", *(a.format(**names) for a in arguments)])
    assert status == 1 and len(lines) == 1, lines
    assert _matches(lines[0], "error: " + _damaged_line(path, what, damaged_run)), lines[0]


@pytest.mark.parametrize("name", ["flags.json", "run_info.json", "train_summary.json"])
@pytest.mark.parametrize("call", ["evaluate", "export", "predict"])
def test_evaluate_export_and_predict_name_each_damaged_run_file(damaged_run, tmp_path, name, call):
    from rfbnet_tf import cli
    from rfbnet_tf.evaluation.evaluator import EvaluationConfig, evaluate
    from rfbnet_tf.inference.prediction import PredictConfig, predict
    from rfbnet_tf.inference.saved_model_export import ExportConfig, export_model

    run = damaged_run["run"]
    path = os.path.join(run, name)
    what = _damage(path, "empty")
    calls = {"evaluate": lambda: evaluate(EvaluationConfig(run, progress=False)),
             "export": lambda: export_model(ExportConfig(run)),
             "predict": lambda: predict(PredictConfig(run, damaged_run["records"], str(tmp_path / "out"),
                                                      progress=False))}
    with pytest.raises(ValueError) as error:
        calls[call]()
    assert cli.error_line(error.value) == "error: " + _damaged_line(path, what, damaged_run)


@pytest.fixture(scope="module")
def trained_one_step(tmp_path_factory):
    """A real one-step run (train's own flags.json, run_info.json, checkpoint, summary) and its flags."""
    from rfbnet_tf.training.trainer import train
    from tests import train_fixtures

    base = tmp_path_factory.mktemp("trained_one_step")
    flags_ = dict(train_fixtures.TINY_RUN, record_dir=train_fixtures.make_records(base / "records"),
                  model_dir=str(base / "run"), model="erfnet_enc", modality="depth", depth_input="depth", steps=1)
    for _ in train_fixtures.fast_graphs():
        train(flags_)
    return flags_


@pytest.mark.parametrize("name", ["flags.json", "train_summary.json", "val_history.json", "dataset_info.json"])
def test_train_names_each_damaged_run_file_and_nothing_changes(trained_one_step, tmp_path, name):
    from rfbnet_tf import cli, rundir
    from rfbnet_tf.training.trainer import train

    directories = {"records": str(tmp_path / "records"), "run": str(tmp_path / "run")}
    shutil.copytree(trained_one_step["record_dir"], directories["records"])
    shutil.copytree(trained_one_step["model_dir"], directories["run"])
    flags_ = dict(trained_one_step, record_dir=directories["records"], model_dir=directories["run"], steps=2)
    path = os.path.join(directories["records" if name == "dataset_info.json" else "run"], name)
    if name == "val_history.json":
        rundir.layout.write_val_history(directories["run"], [])
    what = _damage(path, "truncated")
    before = _snapshot(directories["run"])
    with pytest.raises(ValueError) as error:
        train(flags_)
    assert _matches(cli.error_line(error.value), "error: " + _damaged_line(path, what, directories))
    assert _snapshot(directories["run"]) == before  # nothing written (refused before the lock and flags.json)
