"""``python -m MODULE ARGS``, ``python -c CODE ARGS`` and ``python SCRIPT.py ARGS`` for the binary tests, without
each paying for a fresh import of TensorFlow (≈ 4.5 s of CPU a process on the CI machine, the largest part of a
binary test that stops at a user error).

Each xdist worker starts one server process, once, that imports TensorFlow, Keras and the library modules the
binaries are made of (never a binary: ``tests/test_import_contract.py``), and runs nothing. Each command is then
a fork of that server: the child takes the command's working directory, environment, argv, stdin (``/dev/null``),
stdout and stderr (files), runs the module as ``__main__`` (``runpy``, as ``python -m`` does), the code or the
script, and exits with its status (``SystemExit``'s code; 1 and the traceback for an uncaught exception; atexit
handlers run). Forking a process that has imported TensorFlow but run no operation is safe: its thread pools start
at the first operation, in the child.

What a fork cannot show, the tests that need it run real processes (``subprocess``): start-up noise and
``--help`` (tests/test_cli.py), what a process imports (test_prepare_data, test_keras_task, test_serving_raw),
hash-seed independence (test_synthetic), a live stderr (test_prepare_data's Ctrl-C) and other backends.
:func:`run` and :class:`Popen` fall back to ``subprocess`` themselves for a command they cannot serve: another
interpreter or option, a keyword they do not take, or an environment that differs from the server's in a variable
read at import time.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMPORTED = ("rfbnet_tf", "rfbnet_tf.cli", "rfbnet_tf.configs", "rfbnet_tf.training.trainer",
            "rfbnet_tf.evaluation.evaluator", "rfbnet_tf.inference.prediction",
            "rfbnet_tf.inference.saved_model_export", "rfbnet_tf.datasets.preparation")
"""What the server imports before it forks (library modules only)."""
IMPORT_TIME_PREFIXES = ("TF_", "KERAS_", "CUDA_", "XLA_", "OMP_", "PYTHON", "LD_")
"""Environment variables read while importing: a command whose environment differs in one of these from the one the
server started with (or the value the server's own imports gave it: OpenCV sets ``LD_LIBRARY_PATH``) runs as a real
process (except :data:`RUNTIME_VARIABLES`)."""
RUNTIME_VARIABLES = frozenset({"PYTHONPATH", "TF_CONFIG"})
"""Read after the imports (``sys.path`` is set per command; ``TF_CONFIG`` when a strategy is made)."""
CLONE_NEWNS = 0x00020000
MOUNT_FAILED = 97
"""The exit status of a command whose private mounts could not be made (as with ``unshare --mount sh -c``)."""

_START_ENVIRONMENT = dict(os.environ)
"""The environment the server starts with (this process's when this module is imported, before any test patches it)."""
_server = None


def run(argv, *, cwd=None, env=None, timeout=None, capture_output=True, text=True, check=False, mounts=None,
        after=None, **kwargs) -> subprocess.CompletedProcess:
    """``subprocess.run(argv, cwd=cwd, env=env, timeout=timeout, capture_output=True, text=True)``, served by a fork
    of the warm server when it can be (see the module docstring).

    ``mounts`` (shell lines) runs first in a private mount namespace of the command (``unshare --mount``), exit
    status :data:`MOUNT_FAILED` if it fails; ``after`` (shell lines) runs in that namespace once the command has
    ended; the status stays the command's.
    """
    env = dict(os.environ if env is None else env)
    if kwargs or not (capture_output and text) or not _servable(argv, env):
        if mounts is not None or after is not None:
            lines = [f"{mounts or 'true'} || exit {MOUNT_FAILED}", '"$@"', "status=$?", after or "true", "exit $status"]
            argv = ["unshare", "--mount", "sh", "-c", "\n".join(lines), "sh", *argv]
        return subprocess.run(argv, cwd=cwd, env=env, timeout=timeout, capture_output=capture_output, text=text,
                              check=check, **kwargs)
    process = WarmProcess(argv, os.fspath(cwd or os.getcwd()), env, subprocess.PIPE, subprocess.PIPE, True,
                          mounts=mounts, after=after)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        raise subprocess.TimeoutExpired(argv, timeout, output=stdout, stderr=stderr) from None
    result = subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)
    if check:
        result.check_returncode()
    return result


def Popen(argv, *, cwd=None, env=None, stdout=None, stderr=None, text=False, **kwargs):
    """``subprocess.Popen`` with ``stdout`` / ``stderr`` each ``None`` (this process's), ``PIPE`` (read by
    ``communicate``; no live stream) or ``DEVNULL``: a :class:`WarmProcess` when the warm server can serve the
    command, else ``subprocess.Popen`` itself."""
    env = dict(os.environ if env is None else env)
    streams_ok = all(stream in (None, subprocess.PIPE, subprocess.DEVNULL) for stream in (stdout, stderr))
    if kwargs or not streams_ok or not _servable(argv, env):
        return subprocess.Popen(argv, cwd=cwd, env=env, stdout=stdout, stderr=stderr, text=text, **kwargs)
    return WarmProcess(argv, os.fspath(cwd or os.getcwd()), env, stdout, stderr, text)


def _servable(argv, env):
    if len(argv) < 2 or argv[0] != sys.executable:
        return False
    if not (argv[1] in ("-m", "-c") and len(argv) >= 3 or argv[1].endswith(".py") and os.path.isfile(argv[1])):
        return False
    imported = _warm_server().environment
    keys = {key for key in set(env) | set(_START_ENVIRONMENT) | set(imported)
            if key.startswith(IMPORT_TIME_PREFIXES) and key not in RUNTIME_VARIABLES}
    return all(env.get(key) in (_START_ENVIRONMENT.get(key), imported.get(key)) for key in keys)


class WarmProcess:
    """A command forked from the warm server, with the ``subprocess.Popen`` methods the tests use."""

    def __init__(self, argv, cwd, env, stdout, stderr, text, mounts=None, after=None):
        self.args, self.text, self.returncode = argv, text, None
        self._directory = tempfile.TemporaryDirectory(prefix="warm_python_")
        self._paths = {}
        for name, stream in (("stdout", stdout), ("stderr", stderr)):
            if stream == subprocess.PIPE:
                self._paths[name] = os.path.join(self._directory.name, name)
            elif stream == subprocess.DEVNULL:
                self._paths[name] = os.devnull
        self._server = _warm_server()
        self._id, self.pid = self._server.start({"argv": list(argv[1:]), "cwd": cwd, "env": env,
                                                  "stdout": self._paths.get("stdout"),
                                                  "stderr": self._paths.get("stderr"), "mounts": mounts,
                                                  "after": after})

    def poll(self):
        if self.returncode is None:
            self.returncode = self._server.exit_status(self._id, wait=0.0)
        return self.returncode

    def wait(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.returncode is None:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise subprocess.TimeoutExpired(self.args, timeout)
            self.returncode = self._server.exit_status(self._id, wait=left)
        return self.returncode

    def communicate(self, timeout=None):
        self.wait(timeout)
        return tuple(self._read(name) for name in ("stdout", "stderr"))

    def send_signal(self, signum):
        if self.poll() is None:  # not reaped yet: the pid is still the child's (a zombie at worst)
            os.kill(self.pid, signum)

    def kill(self):
        self.send_signal(signal.SIGKILL)

    def terminate(self):
        self.send_signal(signal.SIGTERM)

    def _read(self, name):
        path = self._paths.get(name)
        if path is None or path == os.devnull:
            return None
        with open(path, "rb") as handle:
            data = handle.read()
        return data.decode("utf-8", errors="replace") if self.text else data


class _Server:
    """The client side of one warm server: a JSON line per request on its stdin; on its stdout, its environment
    after its imports (``{"environment"}``), then a line per started command (``{"id", "pid"}``) and per ended one
    (``{"id", "returncode"}``)."""

    def __init__(self):
        self.log = tempfile.NamedTemporaryFile(prefix="warm_python_", suffix=".log", delete=False)
        path = os.pathsep.join(filter(None, [REPO, _START_ENVIRONMENT.get("PYTHONPATH")]))
        self.process = subprocess.Popen([sys.executable, "-c", "from tests import warm_python; warm_python.serve()"],
                                        cwd=REPO, env={**_START_ENVIRONMENT, "PYTHONPATH": path},
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log)
        self.next_id, self.pending, self.statuses, self.buffer, self.environment = 0, {}, {}, b"", None
        atexit.register(self.close)
        while self.environment is None:
            self._read(None)

    def start(self, request):
        self.next_id += 1
        self.process.stdin.write((json.dumps(dict(request, id=self.next_id)) + "\n").encode())
        self.process.stdin.flush()
        while self.next_id not in self.pending:
            self._read(None)
        return self.next_id, self.pending.pop(self.next_id)

    def exit_status(self, command_id, wait):
        """The command's exit status, waiting up to ``wait`` seconds (``None``: until it ends) for it."""
        deadline = None if wait is None else time.monotonic() + wait
        while command_id not in self.statuses:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not self._read(left) and left == 0.0:
                return None
        return self.statuses.pop(command_id)

    def _read(self, timeout):
        """Read the replies that arrive within ``timeout`` seconds: whether any did."""
        if b"\n" not in self.buffer:
            if not select.select([self.process.stdout], [], [], timeout)[0]:
                return False
            chunk = os.read(self.process.stdout.fileno(), 65536)
            if not chunk:
                raise RuntimeError(f"the warm server ended: {open(self.log.name).read()[-3000:]}")
            self.buffer += chunk
        while b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            reply = json.loads(line)
            if "environment" in reply:
                self.environment = reply["environment"]
            elif "pid" in reply:
                self.pending[reply["id"]] = reply["pid"]
            else:
                self.statuses[reply["id"]] = reply["returncode"]
        return True

    def close(self):
        if self.process.poll() is None:
            self.process.stdin.close()
            self.process.wait(timeout=60)
        os.unlink(self.log.name)


def _warm_server():
    global _server
    if _server is None or _server.process.poll() is not None:
        _server = _Server()
    return _server


# ------------------------------------------------------------------------------------------------ the server


def serve():
    """Import :data:`IMPORTED`, then fork once per request read from stdin; report starts and ends on stdout.

    At the end of stdin (the test process ended), the commands still running are killed."""
    import importlib

    for name in IMPORTED:
        importlib.import_module(name)
    replies = os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 1)  # nothing but replies on the reply pipe
    os.write(replies, (json.dumps({"environment": dict(os.environ)}) + "\n").encode())
    children, buffer, reading = {}, b"", True
    while reading or children:
        if reading and select.select([0], [], [], 0.02 if children else None)[0]:
            chunk = os.read(0, 65536)
            reading = bool(chunk)
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                request = json.loads(line)
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    os.close(replies)
                    _child(request)
                children[pid] = request["id"]
                os.write(replies, (json.dumps({"id": request["id"], "pid": pid}) + "\n").encode())
            if not reading:
                for pid in children:
                    _kill_group(pid)
        elif not reading:
            time.sleep(0.02)
        for pid in list(children):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                returncode = os.waitstatus_to_exitcode(status)
                os.write(replies, (json.dumps({"id": children.pop(pid), "returncode": returncode}) + "\n").encode())


def _kill_group(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _child(request):
    """Run one command in this forked process and exit with its status; never returns."""
    import atexit as child_atexit
    import runpy
    import traceback

    code = 1
    try:
        os.setpgid(0, 0)  # its own process group: killed whole at the server's end
        for fd, path, mode in ((0, os.devnull, os.O_RDONLY), (1, request["stdout"], os.O_WRONLY | os.O_CREAT),
                               (2, request["stderr"], os.O_WRONLY | os.O_CREAT)):
            if path is not None:
                opened = os.open(path, mode, 0o644)
                os.dup2(opened, fd)
                os.close(opened)
        if request["mounts"] is not None and not _private_mounts(request["mounts"]):
            os._exit(MOUNT_FAILED)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        tempfile.tempdir = None  # $TMPDIR as the command's environment says
        for entry in reversed(request["env"].get("PYTHONPATH", "").split(os.pathsep)):
            if entry and os.path.abspath(entry) not in map(os.path.abspath, sys.path):
                sys.path.insert(1, os.path.abspath(entry))  # after sys.path[0], as the interpreter puts $PYTHONPATH
        option, *arguments = request["argv"]
        try:
            if option == "-m":
                sys.path[0] = os.getcwd()
                sys.argv = arguments  # runpy puts the module's file first, as python -m does
                runpy.run_module(arguments[0], run_name="__main__", alter_sys=True)
            elif option == "-c":
                sys.path[0] = ""
                sys.argv = ["-c", *arguments[1:]]
                exec(compile(arguments[0], "<string>", "exec"), {"__name__": "__main__", "__builtins__": __builtins__})
            else:
                sys.path[0] = os.path.dirname(os.path.abspath(option))
                sys.argv = [option, *arguments]
                runpy.run_path(option, run_name="__main__")
            code = 0
        except SystemExit as exit_:
            code = _exit_status(exit_.code)
        except BaseException:  # noqa: B902 - as the interpreter: the traceback, status 1
            traceback.print_exc()
        child_atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
        if request["after"] is not None:
            subprocess.run(["sh", "-c", request["after"]], stdout=2)
    finally:
        os._exit(code)


def _exit_status(value):
    if value is None:
        return 0
    if isinstance(value, int):
        return value & 0xFF
    print(value, file=sys.stderr)
    return 1


def _private_mounts(lines):
    """A mount namespace of this process's own, private (``unshare --mount``), then ``lines``: whether all worked."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS) != 0:
        print(f"unshare: {os.strerror(ctypes.get_errno())}", file=sys.stderr)
        return False
    return subprocess.run(["sh", "-c", f"mount --make-rprivate / && {lines}"], stdout=2).returncode == 0
