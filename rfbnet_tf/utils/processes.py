"""Processes and the temporary files they leave: is a PID alive, and removing the temporaries of dead ones.

Every writer of this package names its temporaries with its PID (``.tmp-<pid>-...`` files and directories,
``<dir>.tmp-<pid>`` staging directories).  A killed process leaves them behind; the next start of a binary that
writes to the same place calls :func:`remove_dead_temporaries`, which deletes those whose PID no longer runs on
this host and never touches those of a live process.
"""

from __future__ import annotations

import os
import re
import shutil

from absl import logging

_PID = re.compile(r"\.tmp-(\d+)(?:-|$)")


def usable_cores() -> int:
    """The CPUs this process may run on (its affinity mask: a container's share, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity on this platform (macOS)
        return os.cpu_count() or 1


def pid_alive(pid: int) -> bool:
    """True if a process with ``pid`` runs on this host (a process of another user counts as alive)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def temporary_pid(name: str) -> int | None:
    """The PID in a temporary's name (``.tmp-<pid>-rest`` or ``...tmp-<pid>``), None for other names."""
    match = _PID.search(name)
    return int(match.group(1)) if match else None


def remove_dead_temporaries(directory, prefix: str = "", suffix: str = "") -> list:
    """Delete the entries of ``directory`` whose names start with ``prefix``, end with ``suffix`` and carry the
    PID of a process that no longer runs (see the module docstring); returns the removed paths."""
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        return []
    removed = []
    for name in sorted(os.listdir(directory)):
        pid = temporary_pid(name)
        if not (name.startswith(prefix) and name.endswith(suffix)) or pid is None or pid == os.getpid() or pid_alive(pid):
            continue
        path = os.path.join(directory, name)
        shutil.rmtree(path, ignore_errors=True) if os.path.isdir(path) else os.remove(path)
        removed.append(path)
    if removed:
        logging.warning("removed %d temporary file(s) left by dead processes in %s: %s", len(removed), directory,
                        [os.path.basename(p) for p in removed])
    return removed
