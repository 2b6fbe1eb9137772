"""rfbnet_tf.cli: user errors as one stderr line and exit 1, shipped flagfiles from any directory, the console
scripts of setup.py (every ``module:function`` imports and is callable; each one's --help lists its own flags, grouped,
with defaults, exit 0)."""

import ast
import importlib
import os
import re
import shutil
import subprocess
import sys

import pytest

from rfbnet_tf import cli
from tests import warm_python

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# TensorFlow's C++ start-up lines, written before absl::InitializeLog whatever TF_CPP_MIN_LOG_LEVEL says.
_NATIVE_LOG = re.compile(r"^([IWEF]\d{4} |WARNING: All log messages before absl::InitializeLog)")


def test_error_line_is_one_line():
    assert cli.error_line(ValueError("--steps must be\n  positive")) == "error: --steps must be positive"
    assert cli.error_line(FileNotFoundError()) == "error: FileNotFoundError"


def test_exits_on_user_error(capsys):
    @cli.exits_on_user_error
    def main(argv, missing):
        raise FileNotFoundError(f"model_dir {missing!r} does not exist")

    with pytest.raises(SystemExit) as exit_info:
        main(["prog"], "runs/x")
    assert exit_info.value.code == 1
    captured = capsys.readouterr()
    assert captured.err == "error: model_dir 'runs/x' does not exist\n" and captured.out == ""


def test_bugs_keep_their_traceback_and_results_pass_through():
    @cli.exits_on_user_error
    def broken(argv):
        raise KeyError("a bug")

    with pytest.raises(KeyError, match="a bug"):
        broken(["prog"])
    assert cli.exits_on_user_error(lambda argv: 7)(["prog"]) == 7


@pytest.mark.parametrize("module, arguments, message", [
    ("rfbnet_tf.train", ["--record_dir={missing}", "--model_dir={tmp}/run", "--model=erfnet_enc"],
     "error: --record_dir={missing} does not exist: prepare it with python -m rfbnet_tf.prepare_data "
     "--dataset={{cityscapes,scannet,nyuv2,sunrgbd,synthetic,folder}} --input_dir=/path/to/download --output_dir={missing}"),
    ("rfbnet_tf.evaluate", ["--model_dir={missing}"], "error: model_dir '{missing}' does not exist"),
    ("rfbnet_tf.predict", ["--model_dir={missing}", "--rgb={tmp}", "--output_dir={tmp}/out"],
     "error: model_dir '{missing}' does not exist"),
    ("rfbnet_tf.prepare_data", ["--dataset=cityscapes", "--input_dir={missing}", "--output_dir={tmp}/records",
                                "--num_workers=1"], "error: input directory '{missing}' does not exist"),
])
def test_binaries_report_a_missing_directory_in_one_line(tmp_path, module, arguments, message):
    names = {"missing": str(tmp_path / "missing"), "tmp": str(tmp_path)}
    result = warm_python.run(
        [sys.executable, "-m", module] + [a.format(**names) for a in arguments], cwd=ROOT, capture_output=True,
        text=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ROOT})
    assert result.returncode == 1, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if not _NATIVE_LOG.match(line)]
    assert lines == [message.format(**names)], result.stderr[-3000:]
    assert result.stdout == ""


# ------------------------------------------------------------------------------------------------ flagfiles


def _flag_lines(path):
    with open(path, encoding="utf-8") as handle:
        return [line.strip() for line in handle if line.strip() and not line.startswith(("#", "//"))]


def test_shipped_flagfile_resolves_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    expected = _flag_lines(os.path.join(ROOT, "experiments", "synthetic.flags"))
    assert "--model_dir=runs/synthetic" in expected
    for argument in (["--flagfile=experiments/synthetic.flags"], ["--flagfile=synthetic.flags"],
                     ["--flagfile", "experiments/synthetic.flags"]):
        assert cli.resolve_flagfiles(["train"] + argument + ["--steps=3"]) == ["train"] + expected + ["--steps=3"]
    assert cli.find_flagfile("experiments/synthetic.flags") == os.path.join(ROOT, "experiments", "synthetic.flags")


def test_nested_shipped_flagfile_is_read_next_to_its_parent(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    parent = _flag_lines(os.path.join(ROOT, "experiments", "scannet_rfbnet_erfnet_enc.flags"))
    child = _flag_lines(os.path.join(ROOT, "experiments", "scannet_rfbnet_erfnet_enc_gr.flags"))
    nested = child.index("--flagfile=experiments/scannet_rfbnet_erfnet_enc.flags")
    resolved = cli.resolve_flagfiles(["train", "--flagfile=experiments/scannet_rfbnet_erfnet_enc_gr.flags"])
    assert resolved == ["train"] + child[:nested] + parent + child[nested + 1:]
    assert not any(a.startswith("--flagfile") for a in resolved)


def test_local_files_and_unknown_names_are_left_to_absl(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / "synthetic.flags").write_text("--steps=1\n")
    argv = ["train", "--flagfile=experiments/synthetic.flags", "--flagfile=nowhere.flags",
            "--flagfile=other/synthetic.flags", "--", "--flagfile=synthetic.flags"]
    assert cli.resolve_flagfiles(argv) == argv
    assert cli.find_flagfile(os.path.join(ROOT, "experiments", "x.flags")) is None  # absolute: as given


def test_train_flags_parse_a_shipped_flagfile_outside_the_repository(tmp_path, monkeypatch):
    from absl import flags

    from rfbnet_tf import configs

    monkeypatch.chdir(tmp_path)
    values = flags.FlagValues()
    configs.define_flags(values)
    values(cli.resolve_flagfiles(["train", "--flagfile=experiments/synthetic.flags", "--steps=3"]))
    assert values.model == "rfbnet_erfnet_enc" and values.steps == 3 and values.model_dir == "runs/synthetic"


# ------------------------------------------------------------------------------------------------ console scripts


def _setup_console_scripts():
    """The ``console_scripts`` of setup.py's ``setup(entry_points=...)`` (a literal or a module-level name)."""
    with open(os.path.join(ROOT, "setup.py"), encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    constants = {target.id: node.value for node in tree.body if isinstance(node, ast.Assign)
                 for target in node.targets if isinstance(target, ast.Name)}
    (call,) = [node for node in ast.walk(tree) if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "setup"]
    (entry_points,) = [k.value for k in call.keywords if k.arg == "entry_points"]
    (key, value), = zip(entry_points.keys, entry_points.values)
    assert ast.literal_eval(key) == "console_scripts"
    return ast.literal_eval(constants[value.id] if isinstance(value, ast.Name) else value)


def test_setup_console_scripts_match_the_cli_list_and_import():
    scripts = dict(line.replace(" ", "").split("=") for line in _setup_console_scripts())
    assert scripts == cli.CONSOLE_SCRIPTS
    assert set(scripts) == {"rfbnet-prepare-data", "rfbnet-train", "rfbnet-evaluate", "rfbnet-export",
                            "rfbnet-predict", "rfbnet-benchmark", "rfbnet-study"}
    for target in scripts.values():
        module_name, function_name = target.split(":")
        function = getattr(importlib.import_module(module_name), function_name)
        assert callable(function) and function.__module__ == module_name, target


# ------------------------------------------------------------------------------------------------ --help


def test_wants_help_spellings():
    for argument in ("--help", "-help", "--helpshort", "-helpshort", "-?", "--help=true", "--HELP=1"):
        assert cli.wants_help(["prog", "--steps=3", argument]), argument
    for argv in (["prog"], ["prog", "--helpfull"], ["prog", "--nohelp"], ["prog", "--help=false"],
                 ["prog", "--", "--help"], ["prog", "--helper"]):
        assert not cli.wants_help(argv), argv


def test_help_text_groups_the_flags_with_their_defaults():
    from absl import flags

    values = flags.FlagValues()
    flags.DEFINE_string("model_dir", None, "Run directory.", required=True, flag_values=values)
    flags.DEFINE_integer("steps", 150, "Training steps.", flag_values=values)
    flags.DEFINE_boolean("progress", True, "Progress bar.", flag_values=values)
    flags.DEFINE_string("checkpoint", None, "Weights.", flag_values=values)
    flags.DEFINE_string("split", None, "Split (default: the run's).", flag_values=values)
    own = [values[name] for name in ("model_dir", "steps", "progress", "checkpoint", "split")]
    text = cli.help_text("rfbnet-x", "Does x.\n", own, {"input": ["model_dir", "checkpoint"], "run": ["steps"]})
    assert text.startswith("usage: rfbnet-x [flags]\n\nDoes x.\n\ninput:\n  --model_dir: Run directory.\n"
                           "    (required)\n  --checkpoint: Weights.\n    (default: unset)\n\nrun:\n"
                           "  --steps: Training steps.\n    (default: '150')\n\nother:\n"
                           "  --[no]progress: Progress bar.\n    (default: 'true')\n"
                           "  --split: Split (default: the run's).\n\n"), text
    with pytest.raises(KeyError, match="seed"):
        cli.help_text("rfbnet-x", "", own, {"run": ["seed"]})


def _flag_groups(script):
    """The ``--help`` groups of a console script's binary (train: the config sections)."""
    if script == "rfbnet-train":
        from rfbnet_tf.configs import flags as config_flags

        return config_flags.flag_groups()
    return importlib.import_module(cli.CONSOLE_SCRIPTS[script].split(":")[0]).FLAG_GROUPS


def test_every_console_script_help_lists_its_own_flags_in_groups():
    """Each installed script when it is on PATH (``pip install -e .``; PYTHONPATH makes it run this checkout), else
    its entry function under the script's name, as the generated wrapper calls it; all at once (each imports
    TensorFlow)."""
    processes = {}
    for script, target in sorted(cli.CONSOLE_SCRIPTS.items()):
        module, function = target.split(":")
        installed = shutil.which(script)
        command = [installed] if installed else [
            sys.executable, "-c", f"import sys; sys.argv[0] = {script!r}; from {module} import {function}; {function}()"]
        argument = "--helpshort" if script == "rfbnet-study" else "--help"
        processes[script] = subprocess.Popen(command + [argument], cwd=ROOT, stdout=subprocess.PIPE,
                                             stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": ROOT})
    for script, process in processes.items():
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, (script, err[-3000:])
        assert not err.strip(), (script, err[-3000:])  # no TensorFlow start-up notices either
        assert out.startswith(f"usage: {script} [flags]\n"), out[:300]
        groups = _flag_groups(script)
        headings = re.findall(r"^(\w[\w ]*):$", out, re.M)
        assert headings[-len(groups):] == list(groups), (script, headings)  # in order, and no "other" group
        for heading, names in groups.items():
            section = out.split(f"\n{heading}:\n", 1)[1].split("\n\n", 1)[0]
            for name in names:
                assert re.search(rf"^  --(\[no\])?{name}:( |$)", section, re.M), (script, heading, name)
        if script == "rfbnet-train":
            assert list(groups) == ["model", "data", "optimisation", "run"]
            assert "  --batch_size: Global mini-batch" in out and "    (default: '9')" in out
