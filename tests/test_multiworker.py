"""``--distribution_strategy=multi_worker_mirrored`` for real: two worker processes on this machine (``TF_CONFIG``
on 127.0.0.1, two free ports), one CPU replica each, tiny records (32x48) and model (the short ERFNetEnc on depth,
tests/short_backbones.py).

One test, four runs: a single-worker reference; two workers killed after the chief's checkpoint of step 2 (one
worker first, then the other, which waits in a collective for its dead peer); both restarted, resuming from the
chief's last checkpoint, and stopped by a SIGTERM to the chief alone (both finish the step, the chief saves it,
both exit 143); both restarted again, to the end.  Every loss equals the single worker's at the same step.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np

from rfbnet_tf import rundir
from rfbnet_tf.training import distribution
from tests import train_fixtures, warm_python

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
RUN = dict(train_fixtures.TINY_RUN, model="erfnet_enc", modality="depth", depth_input="depth", batch_size=4,
           shuffle_buffer=0, steps=6, checkpoint_every=2, learning_rate=1e-4, summary_every=100)


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def _start_workers(flags_, temp_dirs, pause):
    """Two workers (worker 0 is the chief); worker i's $TMPDIR is temp_dirs[i]."""
    hosts = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    workers = []
    for index, temp_dir in enumerate(temp_dirs):
        env = dict(os.environ, PYTHONPATH=REPO, TMPDIR=str(temp_dir),
                   TF_CONFIG=json.dumps({"cluster": {"worker": hosts}, "task": {"type": "worker", "index": index}}))
        workers.append(warm_python.Popen(
            [sys.executable, os.path.join(HERE, "multiworker_worker.py"), json.dumps(flags_), str(pause)],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return workers


def _finish(workers, timeout=300, status=0):
    outputs = [worker.communicate(timeout=timeout) for worker in workers]
    for worker, (_, stderr) in zip(workers, outputs):
        assert worker.returncode == status, stderr[-4000:]
    return outputs if status else [json.loads(stdout.split("SUMMARY ", 1)[1]) for stdout, _ in outputs]


def _wait_for_checkpoint(workers, model_dir, step):
    """Until the chief's newest checkpoint is at ``step`` or later (or a worker ended, or 240 s passed)."""
    deadline = time.monotonic() + 240
    state = os.path.join(rundir.layout.checkpoint_dir(model_dir), "checkpoint")
    while time.monotonic() < deadline and all(w.poll() is None for w in workers):
        if os.path.exists(state) and rundir.checkpoints.checkpoint_step(
                rundir.checkpoints.latest_checkpoint(model_dir) or "missing") >= step:
            return
        time.sleep(0.05)


def _losses(stdout):
    return [float(line.split()[1]) for line in stdout.splitlines() if line.startswith("LOSS ")]


def _single_worker_run(flags_):
    """The reference: the same run with the default strategy (one replica), in a process of its own like the workers
    (a fork of the warm server, tests/warm_python.py: no state of earlier tests in this process can change its
    arithmetic)."""
    env = dict(os.environ, PYTHONPATH=REPO)
    env.pop("TF_CONFIG", None)
    process = warm_python.Popen([sys.executable, os.path.join(HERE, "multiworker_worker.py"), json.dumps(flags_)],
                                cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return _finish([process])[0]


def test_two_workers_match_one_only_the_chief_saves_and_a_killed_run_resumes(tmp_path):
    from rfbnet_tf.datasets.preparation import prepare

    records = str(tmp_path / "records")  # three train shards: tf.distribute's default would shard by file
    prepare("synthetic", records, synthetic_train=6, synthetic_val=2, synthetic_size=(32, 48), examples_per_shard=2,
            num_workers=1, progress=False)
    reference = _single_worker_run(dict(RUN, record_dir=records, model_dir=str(tmp_path / "single")))

    model_dir = tmp_path / "multi"
    temp_dirs = [tmp_path / "tmp0", tmp_path / "tmp1"]
    for directory in temp_dirs:
        directory.mkdir()
    flags_ = dict(RUN, record_dir=records, model_dir=str(model_dir), distribution_strategy="multi_worker_mirrored")

    # Run 1: killed (worker 1 first) once the chief has saved step 2.
    workers = _start_workers(flags_, temp_dirs, pause=0.5)
    _wait_for_checkpoint(workers, model_dir, 2)
    for worker in reversed(workers):
        worker.send_signal(signal.SIGKILL)
    chief_out, chief_err = workers[0].communicate()
    workers[1].communicate()
    assert workers[0].returncode == -signal.SIGKILL, chief_err[-4000:]
    killed_at = rundir.checkpoints.checkpoint_step(rundir.checkpoints.latest_checkpoint(model_dir))
    assert 2 <= killed_at < RUN["steps"] - 2 and not (model_dir / rundir.layout.FINAL_WEIGHTS_FILENAME).exists()

    # The same global batches and updates as one worker: in float64 (multiworker_worker.comparable_arithmetic)
    # the losses agree to 1e-7 (measured); a wrong data shard, gradient sum or unsynchronized batch norm
    # changes them by 1e-2 or more.
    losses = _losses(chief_out)
    assert len(losses) >= killed_at
    np.testing.assert_allclose(losses, reference["losses"][:len(losses)], rtol=1e-6)

    # A killed save and a dead worker's private directory, as a kill at another moment leaves them.
    (model_dir / "checkpoints" / f"ckpt-{killed_at + 1}_temp").mkdir()
    stale = temp_dirs[1] / f"{distribution.WORKER_CHECKPOINTS_PREFIX}{workers[1].pid}-x"
    stale.mkdir(exist_ok=True)

    # Run 2: both restarted, from the chief's last checkpoint; SIGTERM to the chief alone once it saved a newer one.
    workers = _start_workers(flags_, temp_dirs, pause=0.5)
    _wait_for_checkpoint(workers, model_dir, killed_at + 2)
    workers[0].send_signal(signal.SIGTERM)
    outputs = _finish(workers, status=143)
    stopped_at = rundir.checkpoints.checkpoint_step(rundir.checkpoints.latest_checkpoint(model_dir))
    assert killed_at + 2 <= stopped_at < RUN["steps"]
    for _, stderr in outputs:  # both workers stopped after the same step, the one the chief saved
        assert f"interrupted by SIGTERM at step {stopped_at}: checkpoint saved" in stderr, stderr[-4000:]
    for stdout, _ in outputs:
        np.testing.assert_allclose(_losses(stdout), reference["losses"][killed_at:stopped_at], rtol=1e-6)

    # Run 3: both restarted again; they resume from the chief's last checkpoint and finish.
    summaries = _finish(_start_workers(flags_, temp_dirs, pause=0.0))
    for summary in summaries:
        assert summary["num_replicas"] == 2 and summary["start_step"] == stopped_at and summary["step"] == RUN["steps"]
        assert summary["checkpoint"] == os.path.join(rundir.layout.checkpoint_dir(model_dir), f"ckpt-{RUN['steps']}")
    assert summaries[0]["losses"] == summaries[1]["losses"]
    # The exact data position on resume: the same batches as the uninterrupted single worker.
    np.testing.assert_allclose(summaries[0]["losses"], reference["losses"][stopped_at:], rtol=1e-6)
    assert rundir.checkpoints.checkpoint_step(rundir.checkpoints.latest_checkpoint(model_dir)) == RUN["steps"]
    # Only the chief's checkpoints exist: the non-chief's private copies are gone, nothing else was written.
    for directory in temp_dirs:
        assert not [n for n in os.listdir(directory) if n.startswith(distribution.WORKER_CHECKPOINTS_PREFIX)]
    assert not [name for name in os.listdir(rundir.layout.checkpoint_dir(model_dir)) if name.endswith("_temp")]
    assert sorted(os.listdir(model_dir)) == sorted([
        "checkpoints", "flags.json", "run_info.json", "logs", "final.weights.h5", "final.keras", "train_summary.json"])
