"""rfbnet_tf.rundir.lock: one trainer per model_dir; stale locks of dead processes are taken over; a live
owner (this host or another) is named in a one-line error."""

import json
import os
import socket
import subprocess
import sys

import pytest

from rfbnet_tf.rundir.lock import LOCK_FILENAME, RunDirectoryLocked, RunLock


def _write_owner(model_dir, pid, host=None):
    os.makedirs(model_dir, exist_ok=True)
    with open(os.path.join(model_dir, LOCK_FILENAME), "w", encoding="utf-8") as handle:
        json.dump({"pid": pid, "host": host or socket.gethostname(), "started": "2026-01-01T00:00:00+00:00"}, handle)


def test_lock_is_exclusive_and_released(tmp_path):
    model_dir = str(tmp_path / "run")
    with RunLock(model_dir) as lock:
        with open(lock.path, encoding="utf-8") as handle:
            assert json.load(handle)["pid"] == os.getpid()
        with pytest.raises(RunDirectoryLocked, match=rf"PID {os.getpid()} on this host"):
            RunLock(model_dir).acquire()
    assert not os.path.exists(os.path.join(model_dir, LOCK_FILENAME))
    with RunLock(model_dir):  # free again
        pass


def test_the_lock_removes_the_directories_it_created_while_they_are_empty(tmp_path):
    model_dir = tmp_path / "new" / "run"
    with RunLock(str(model_dir)):
        assert model_dir.is_dir()
    assert os.listdir(tmp_path) == []  # a start refused while holding the lock leaves no trace
    with RunLock(str(model_dir)):
        (model_dir / "flags.json").write_text("{}")
    assert os.listdir(model_dir) == ["flags.json"]  # a run that wrote there keeps its directory


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    model_dir = str(tmp_path / "run")
    _write_owner(model_dir, int(dead.stdout))
    with RunLock(model_dir) as lock:
        with open(lock.path, encoding="utf-8") as handle:
            assert json.load(handle)["pid"] == os.getpid()
    assert sorted(os.listdir(model_dir)) == []  # neither the lock nor the renamed stale file is left


def test_live_owner_on_this_host_and_any_owner_elsewhere_are_respected(tmp_path):
    model_dir = str(tmp_path / "run")
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) as live:
        try:
            _write_owner(model_dir, live.pid)
            with pytest.raises(RunDirectoryLocked) as error:
                RunLock(model_dir).acquire()
            assert f"PID {live.pid}" in str(error.value) and "\n" not in str(error.value)
        finally:
            live.kill()
    _write_owner(model_dir, 1, host="another-machine")
    with pytest.raises(RunDirectoryLocked, match="host 'another-machine'.*delete"):
        RunLock(model_dir).acquire()


def test_a_second_trainer_on_a_locked_model_dir_stops_before_writing(tmp_path):
    from rfbnet_tf.training.trainer import train
    from tests import train_fixtures

    record_dir = train_fixtures.make_records(tmp_path / "records")
    model_dir = str(tmp_path / "run")
    with RunLock(model_dir):
        with pytest.raises(RunDirectoryLocked, match="another trainer is running"):
            train(dict(train_fixtures.TINY_RUN, record_dir=record_dir, model_dir=model_dir, model="erfnet_enc",
                       steps=1))
        assert os.listdir(model_dir) == [LOCK_FILENAME]  # nothing written beside the lock
