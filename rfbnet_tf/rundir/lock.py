"""An exclusive lock on a run directory: one trainer per ``model_dir``.

``model_dir/.lock`` is created with ``O_CREAT | O_EXCL`` and holds the owner's PID, host name and start time.
A second trainer finds it and stops with a one-line message naming the owner.  A lock left by a process that no
longer runs on this host is stale: it is removed with a warning and the lock taken (the stale file is first
renamed to a unique name, so two starting trainers cannot both take it).  A lock held from another host cannot
be checked from here and is always respected; its message says how to remove it.

The lock leaves no trace: releasing it also removes the directories that taking it created (``model_dir`` and
missing parents) when they are still empty, so a start refused while holding the lock leaves the disk as it was.
"""

from __future__ import annotations

import datetime
import json
import os
import socket
import uuid

from absl import logging

from rfbnet_tf.utils import processes

LOCK_FILENAME = ".lock"


class RunDirectoryLocked(FileExistsError):
    """Another live process holds the run directory's lock file (a user error: the message is one line)."""


def _read_owner(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None  # vanished or half-written: treated by the caller


class RunLock:
    """``with RunLock(model_dir): ...`` holds ``model_dir/.lock`` for the duration of the block."""

    def __init__(self, model_dir):
        self.model_dir = os.fspath(model_dir)
        self.path = os.path.join(self.model_dir, LOCK_FILENAME)
        self.owner = {"pid": os.getpid(), "host": socket.gethostname(),
                      "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
        self.held = False
        self.created = []  # directories acquire() created, deepest first

    def _make_directories(self):
        missing, path = [], os.path.abspath(self.model_dir)
        while not os.path.isdir(path) and os.path.dirname(path) != path:
            missing.append(path)
            path = os.path.dirname(path)
        os.makedirs(self.model_dir, exist_ok=True)
        self.created = missing

    def _try_create(self) -> bool:
        try:
            descriptor = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(self.owner, handle)
        return True

    def acquire(self):
        self._make_directories()
        for _ in range(3):
            if self._try_create():
                self.held = True
                return self
            owner = _read_owner(self.path)
            if owner is None:
                continue  # released or still being written between our two calls: try again
            same_host = owner.get("host") == self.owner["host"]
            if not same_host or processes.pid_alive(int(owner.get("pid", -1))):
                where = "this host" if same_host else f"host {owner.get('host')!r}"
                raise RunDirectoryLocked(
                    f"model_dir {self.model_dir!r} is in use by PID {owner.get('pid')} on {where} since "
                    f"{owner.get('started')}: another trainer is running there (if it is gone, delete {self.path})")
            stale = f"{self.path}.stale-{uuid.uuid4().hex}"
            try:
                os.rename(self.path, stale)
            except FileNotFoundError:
                continue  # another starter moved it first
            os.remove(stale)
            logging.warning("removed the stale lock of PID %s (no longer running) in %s", owner.get("pid"),
                            self.model_dir)
        raise RunDirectoryLocked(f"could not take the lock {self.path} (it keeps changing): is another trainer "
                                 "starting in the same model_dir?")

    def release(self):
        if self.held and (_read_owner(self.path) or {}).get("pid") == self.owner["pid"]:
            os.remove(self.path)
        self.held = False
        for directory in self.created:
            try:
                os.rmdir(directory)  # only while empty: a run that wrote there keeps it
            except OSError:
                break
        self.created = []

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
        return False
