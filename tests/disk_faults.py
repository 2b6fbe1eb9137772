"""Read-only and full disks as a binary meets them, for the fault tests.

A command runs in a mount namespace of its own (``unshare --mount``: its mounts vanish with it and no other process
sees them) where a directory is bind-mounted read-only over itself (writes fail with EROFS, which root cannot
write through, unlike permission bits) or a small tmpfs is mounted on it (writes fail with ENOSPC once it is full;
what the command left there is copied out afterwards, for the test to look at).  Without the right to mount (not
root), a read-only directory falls back to removing its write permission (which a non-root user respects); a full
disk then has no stand-in and the test is skipped with the reason.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import stat
import subprocess
import tempfile

import pytest

from tests import warm_python


@functools.lru_cache(maxsize=None)
def cannot_mount() -> str | None:
    """Why this process cannot make private mounts (None when it can)."""
    if shutil.which("unshare") is None:
        return "no unshare command"
    with tempfile.TemporaryDirectory() as directory:
        probe = subprocess.run(["unshare", "--mount", "sh", "-c", f"mount -t tmpfs -o size=16k tmpfs {directory}"],
                               capture_output=True, text=True)
    return None if probe.returncode == 0 else f"unshare --mount cannot mount here: {probe.stderr.strip()}"


def run(argv, *, read_only=(), full=None, copy_to=None, **kwargs) -> subprocess.CompletedProcess:
    """``subprocess.run(argv, capture_output=True, text=True, **kwargs)`` (``tests/warm_python.run``) with every
    directory of ``read_only`` read-only and, with ``full=(directory, size)``, a tmpfs of ``size`` (e.g. ``"36m"``)
    on ``directory`` (which must exist) whose content is copied into ``copy_to`` when the command has ended."""
    reason = cannot_mount()
    if reason is None:
        lines = []
        for directory in map(shlex.quote, map(os.fspath, read_only)):
            lines += [f"mount --bind {directory} {directory}", f"mount -o remount,bind,ro {directory}"]
        if full is not None:
            lines.append(f"mount -t tmpfs -o size={full[1]} tmpfs {shlex.quote(os.fspath(full[0]))}")
        after = None
        if copy_to is not None:
            after = f"cp -a {shlex.quote(os.fspath(full[0]))}/. {shlex.quote(os.fspath(copy_to))}/"
        return warm_python.run(argv, mounts=" && ".join(lines) or "true", after=after, **kwargs)
    if full is not None:
        pytest.skip(f"a full disk needs a small tmpfs: {reason}")
    if os.geteuid() == 0:
        pytest.skip(f"root ignores permission bits and cannot mount a read-only directory here: {reason}")
    modes = {os.fspath(d): os.stat(d).st_mode for d in read_only}
    try:
        for directory, mode in modes.items():
            os.chmod(directory, mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        return warm_python.run(argv, **kwargs)
    finally:
        for directory, mode in modes.items():
            os.chmod(directory, mode)
