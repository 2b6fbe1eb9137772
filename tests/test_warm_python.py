"""tests/warm_python.py, the harness the binary tests run on: a command forked from the warm server gives what a
real ``python`` process gives (status, stdout, stderr, argv, working directory, environment, ``$TMPDIR``, atexit,
``SystemExit`` codes and messages, tracebacks), signals reach it, timeouts kill it, and what it cannot serve runs as a
real process."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from tests import warm_python

_REPORT = textwrap.dedent("""
    import atexit, os, sys, tempfile
    atexit.register(lambda: print("atexit ran", flush=True))
    print(__name__, sys.argv[1:], os.getcwd(), os.environ.get("WARM_TEST"), tempfile.gettempdir())
    print("to stderr", file=sys.stderr)
    exit_with = sys.argv[1]
    if exit_with == "raise":
        raise ValueError("boom")
    if exit_with == "message":
        sys.exit("a message")
    sys.exit(int(exit_with))
""")


def _both(argv, tmp_path, env_value="x"):
    temp_dir = tmp_path / "tmp"
    temp_dir.mkdir(exist_ok=True)
    env = {**os.environ, "WARM_TEST": env_value, "TMPDIR": str(temp_dir)}
    real = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    warm = warm_python.run(argv, cwd=tmp_path, env=env, timeout=60)
    return real, warm


def _main_lines(stderr):
    """stderr without a traceback's file lines (the paths of runpy / the server differ)."""
    return [line for line in stderr.splitlines() if not line.startswith("  ")]


@pytest.mark.parametrize("exit_with", ["0", "3", "message", "raise"])
def test_code_gives_what_a_real_process_gives(tmp_path, exit_with):
    real, warm = _both([sys.executable, "-c", _REPORT, exit_with], tmp_path)
    assert warm.returncode == real.returncode == {"0": 0, "3": 3, "message": 1, "raise": 1}[exit_with]
    assert warm.stdout == real.stdout
    assert f"__main__ ['{exit_with}'] {tmp_path} x {tmp_path / 'tmp'}\natexit ran\n" == real.stdout
    assert _main_lines(warm.stderr) == _main_lines(real.stderr)
    if exit_with == "raise":
        assert warm.stderr.splitlines()[-1] == "ValueError: boom" and "Traceback" in warm.stderr


def test_a_module_and_a_script_run_as_main_with_their_file_first(tmp_path):
    (tmp_path / "warm_probe.py").write_text("import sys\nprint(__name__, sys.argv, sys.path[0])\n")
    for argv in ([sys.executable, "-m", "warm_probe", "a", "--b=1"],
                 [sys.executable, str(tmp_path / "warm_probe.py"), "a", "--b=1"]):
        real, warm = _both(argv, tmp_path)
        assert warm.returncode == real.returncode == 0
        assert warm.stdout == real.stdout == f"__main__ ['{tmp_path / 'warm_probe.py'}', 'a', '--b=1'] {tmp_path}\n"


def test_pythonpath_entries_of_the_command_are_importable(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "warm_probe_elsewhere.py").write_text("print(__name__)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([warm_python.REPO, str(elsewhere)])}
    argv = [sys.executable, "-m", "warm_probe_elsewhere"]
    real = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    warm = warm_python.run(argv, cwd=tmp_path, env=env, timeout=60)
    assert warm.returncode == real.returncode == 0 and warm.stdout == real.stdout == "__main__\n"


def test_signals_reach_the_command_and_a_timeout_kills_it(tmp_path):
    process = warm_python.Popen([sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"],
                                cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert isinstance(process, warm_python.WarmProcess) and process.poll() is None
    with pytest.raises(subprocess.TimeoutExpired):
        process.wait(timeout=0.2)
    process.send_signal(signal.SIGTERM)
    assert process.communicate(timeout=60) == ("up\n", "") and process.returncode == -signal.SIGTERM
    with pytest.raises(subprocess.TimeoutExpired):
        warm_python.run([sys.executable, "-c", "import time; time.sleep(60)"], cwd=tmp_path, timeout=0.5)


def test_what_it_cannot_serve_runs_as_a_real_process(tmp_path):
    code = "import sys; print(sys.modules.get('tensorflow') is None)"
    other_backend = {**os.environ, "KERAS_BACKEND": "jax"}
    assert not warm_python._servable([sys.executable, "-c", code], other_backend)
    assert warm_python.run([sys.executable, "-c", code], env=other_backend, timeout=60).stdout == "True\n"
    assert warm_python.run([sys.executable, "-c", code], timeout=60).stdout == "False\n"  # the server imported it
    assert not warm_python._servable([sys.executable, "-X", "importtime", "-c", code], dict(os.environ))
    assert not warm_python._servable(["python2", "-c", code], dict(os.environ))
    assert warm_python._servable([sys.executable, "-c", code], {**os.environ, "TF_CONFIG": "{}"})


def test_a_variable_the_imports_set_is_the_same_environment_before_and_after_them():
    """OpenCV's import sets ``LD_LIBRARY_PATH`` (in this process and in the server): a command whose environment
    was taken before such an import and one taken after it are both served; another value is not."""
    start, imported = warm_python._START_ENVIRONMENT, warm_python._warm_server().environment
    set_by_imports = [key for key, value in imported.items()
                      if key.startswith(warm_python.IMPORT_TIME_PREFIXES) and key not in warm_python.RUNTIME_VARIABLES
                      and start.get(key) != value]
    if not set_by_imports:
        pytest.skip("the server's imports set no import-time variable here")
    key = set_by_imports[0]
    before = {name: value for name, value in start.items() if name != key}
    if key in start:
        before[key] = start[key]
    for env in (before, {**start, key: imported[key]}):
        assert warm_python._servable([sys.executable, "-c", "pass"], env), key
    assert not warm_python._servable([sys.executable, "-c", "pass"], {**start, key: "/elsewhere"})
