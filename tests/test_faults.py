"""The fault battery (issue "training and data that hold under faults"), each case at tiny size.

Record directories (prepare_data): a full disk while writing shards, an ``--overwrite`` that fails at its last
write, temporaries of killed runs, a run killed in the middle of swapping the directory, partial overwrites at
another size.  Run directories: a NaN state and non-finite checkpoints (tests/test_train.py), two trainers on
one model_dir (tests/test_run_lock.py).
"""

import hashlib
import os
import subprocess
import sys

import pytest

from rfbnet_tf import prepare_data
from rfbnet_tf.datasets import preparation, records, shards

SIZE = (32, 48)


def _prepare(out, **kwargs):
    arguments = dict(num_workers=1, examples_per_shard=2, synthetic_train=3, synthetic_val=2, synthetic_size=SIZE,
                     seed=3, progress=False)
    return prepare_data.prepare("synthetic", str(out), **{**arguments, **kwargs})


def _snapshot(directory):
    """{name: sha256} of every file of a directory: what must survive a failed overwrite unchanged."""
    return {name: hashlib.sha256(open(os.path.join(directory, name), "rb").read()).hexdigest()
            for name in sorted(os.listdir(directory))}


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

    original_write = prepare_data.ShardWriter.write
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
    from rfbnet_tf.evaluation.evaluator import evaluate
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
        evaluate(model_dir, progress=False)

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
    from rfbnet_tf import run_directory
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
    readable = run_directory._readable
    monkeypatch.setattr(run_directory, "_readable", lambda path: scans.append(path) or readable(path))

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
    assert scans == [os.path.join(run_directory.checkpoint_dir(model_dir), "ckpt-1")]  # once per start
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
    result = subprocess.run(
        [sys.executable, "-m", "rfbnet_tf.export", f"--model_dir={tmp_path}", f"--export_dir={afile}/x"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 1, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: --export_dir='{afile}/x' cannot be created: '{afile}' is a file, not a directory"]
    assert "Traceback" not in result.stderr and afile.read_text() == "root:x:0:0"
