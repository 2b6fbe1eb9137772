"""rfbnet_tf.utils.processes: the usable-core count and whether a PID runs."""

import os
import subprocess
import sys

from rfbnet_tf.utils import processes


def test_usable_cores_is_the_affinity_mask_with_a_fallback(monkeypatch):
    assert processes.usable_cores() == len(os.sched_getaffinity(0)) >= 1
    monkeypatch.delattr(os, "sched_getaffinity")  # a platform without affinity (macOS)
    assert processes.usable_cores() == (os.cpu_count() or 1)


def test_pid_alive_of_this_process_and_of_a_finished_child():
    assert processes.pid_alive(os.getpid()) and not processes.pid_alive(0)
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                           check=True)
    assert not processes.pid_alive(int(child.stdout))  # reaped: no such process (PIDs are not reused this fast)
