"""``python -m MODULE ARGS`` and ``python -c CODE ARGS`` for the binary tests, without each paying for a fresh import
of TensorFlow (≈ 4.5 s of CPU a process on the CI machine, the largest part of a binary test that stops at a user
error).

Each xdist worker starts one server process, once, that imports TensorFlow, Keras and the library modules the
binaries are made of (never a binary: ``tests/test_import_contract.py``), and runs nothing. Each command is then
a fork of that server: the child takes the command's working directory, environment, argv, stdin (``/dev/null``),
stdout and stderr, runs the module as ``__main__`` (``runpy``, as ``python -m`` does) or the code, and exits with
its status (``SystemExit``'s code; 1 and the traceback for an uncaught exception; atexit handlers run). Forking a
process that has imported TensorFlow but run no operation is safe: its thread pools start at the first operation,
in the child.

What a fork cannot show, the tests that need it run real processes (``subprocess``): start-up noise and
``--help`` (tests/test_cli.py), what a process imports (test_prepare_data, test_keras_task, test_serving_raw),
hash-seed independence (test_synthetic), signals (test_rundir_checkpoints) and other backends. :func:`run` falls back
to ``subprocess.run`` itself for a command it cannot serve: another interpreter or option, a keyword it does not
take, or an environment that differs from the server's in a variable read at import time.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import shlex
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMPORTED = ("rfbnet_tf", "rfbnet_tf.cli", "rfbnet_tf.configs", "rfbnet_tf.training.trainer",
            "rfbnet_tf.evaluation.evaluator", "rfbnet_tf.inference.prediction",
            "rfbnet_tf.inference.saved_model_export", "rfbnet_tf.datasets.preparation")
"""What the server imports before it forks (library modules only)."""
IMPORT_TIME_PREFIXES = ("TF_", "KERAS_", "CUDA_", "XLA_", "OMP_", "PYTHON", "LD_")
"""Environment variables read while importing: a command whose environment differs from the server's in one of
these runs as a real process."""
CLONE_NEWNS = 0x00020000
MOUNT_FAILED = 97
"""The exit status of a command whose private mounts could not be made (as with ``unshare --mount sh -c``)."""

_server = None
_START_ENVIRONMENT = dict(os.environ)
"""The environment the server starts with (this process's when this module is imported, before any test patches it)."""


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
        return _real(argv, cwd=cwd, env=env, timeout=timeout, check=check, mounts=mounts, after=after, **kwargs)
    with tempfile.TemporaryDirectory() as directory:
        out, err = os.path.join(directory, "stdout"), os.path.join(directory, "stderr")
        reply = _warm_server().command({"argv": list(argv[1:]), "cwd": os.fspath(cwd or os.getcwd()), "env": env,
                                        "timeout": timeout, "stdout": out, "stderr": err, "mounts": mounts,
                                        "after": after})
        stdout, stderr = (open(path, encoding="utf-8", errors="replace").read() for path in (out, err))
    if reply["timed_out"]:
        raise subprocess.TimeoutExpired(argv, timeout, output=stdout, stderr=stderr)
    result = subprocess.CompletedProcess(argv, reply["returncode"], stdout, stderr)
    if check:
        result.check_returncode()
    return result


def _servable(argv, env):
    return (len(argv) >= 3 and argv[0] == sys.executable and argv[1] in ("-m", "-c")
            and all(env.get(key) == _START_ENVIRONMENT.get(key) for key in set(env) | set(_START_ENVIRONMENT)
                    if key.startswith(IMPORT_TIME_PREFIXES) and key != "PYTHONPATH")
            and REPO in env.get("PYTHONPATH", REPO).split(os.pathsep))


def _real(argv, *, mounts, after, **kwargs):
    if mounts is not None or after is not None:
        lines = [f"{mounts or 'true'} || exit {MOUNT_FAILED}", '"$@"', "status=$?", after or "true", "exit $status"]
        argv = ["unshare", "--mount", "sh", "-c", "\n".join(lines), "sh", *argv]
    return subprocess.run(argv, capture_output=True, text=True, **kwargs)


class _Server:
    """The client side of one warm server: a JSON line per command on its stdin, one per reply on its stdout."""

    def __init__(self):
        self.log = tempfile.NamedTemporaryFile(prefix="warm_python_", suffix=".log", delete=False)
        path = os.pathsep.join(filter(None, [REPO, _START_ENVIRONMENT.get("PYTHONPATH")]))
        environment = {**_START_ENVIRONMENT, "PYTHONPATH": path}
        self.process = subprocess.Popen([sys.executable, "-c", "from tests import warm_python; warm_python.serve()"],
                                        cwd=REPO, env=environment, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=self.log, text=True)
        atexit.register(self.close)

    def command(self, request):
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        limit = None if request["timeout"] is None else request["timeout"] + 120  # the server kills at the timeout
        if not select.select([self.process.stdout], [], [], limit)[0]:
            raise RuntimeError(f"the warm server did not answer in {limit} s (its log: {self.log.name})")
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the warm server ended: {open(self.log.name).read()[-3000:]}")
        return json.loads(line)

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
    """Import :data:`IMPORTED`, then fork once per command read from stdin; answer each on the original stdout."""
    import importlib

    for name in IMPORTED:
        importlib.import_module(name)
    replies = os.fdopen(os.dup(1), "w")
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 1)  # nothing but replies on the reply pipe
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            replies.close()
            _child(request)
        returncode, timed_out = _wait(pid, request["timeout"])
        replies.write(json.dumps({"returncode": returncode, "timed_out": timed_out}) + "\n")
        replies.flush()


def _wait(pid, timeout):
    """The child's exit status (negative: the signal), killing its process group at ``timeout`` seconds."""
    import time

    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status), False
        if deadline is not None and time.monotonic() > deadline:
            try:
                os.killpg(pid, 9)
            except ProcessLookupError:
                pass
            _, status = os.waitpid(pid, 0)
            return os.waitstatus_to_exitcode(status), True
        time.sleep(0.02)


def _child(request):
    """Run one command in this forked process and exit with its status; never returns."""
    import atexit as child_atexit
    import runpy
    import traceback

    code = 1
    try:
        os.setpgid(0, 0)
        _redirect(0, os.devnull, os.O_RDONLY)
        for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
            _redirect(fd, path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        if request["mounts"] is not None and not _private_mounts(request["mounts"]):
            os._exit(MOUNT_FAILED)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        option, target, *arguments = request["argv"]
        try:
            if option == "-m":
                sys.path[0] = os.getcwd()
                sys.argv = [target, *arguments]  # runpy puts the module's file first, as python -m does
                runpy.run_module(target, run_name="__main__", alter_sys=True)
            else:
                sys.path[0] = ""
                sys.argv = ["-c", *arguments]
                exec(compile(target, "<string>", "exec"), {"__name__": "__main__", "__builtins__": __builtins__})
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


def _redirect(fd, path, mode):
    opened = os.open(path, mode, 0o644)
    os.dup2(opened, fd)
    os.close(opened)


def _private_mounts(lines):
    """A mount namespace of this process's own, private (``unshare --mount``), then ``lines``: whether all worked."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS) != 0:
        print(f"unshare: {os.strerror(ctypes.get_errno())}", file=sys.stderr)
        return False
    script = f"mount --make-rprivate / && {lines}"
    return subprocess.run(["sh", "-c", script], stdout=2).returncode == 0


def quote(path) -> str:
    """``path`` for a shell line of ``mounts`` / ``after``."""
    return shlex.quote(os.fspath(path))
