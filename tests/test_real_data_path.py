"""The real-data path as a new user meets it: the named flagfile without prepared records gives one line naming the
exact prepare_data command and creates nothing; --create_synthetic writes only where synthetic records belong;
train --helpshort lists train's flags."""

import os
import re
import sys

import pytest

from rfbnet_tf import configs
from rfbnet_tf.training import checked_run, record_checks
from tests import warm_python

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_NATIVE_LOG = re.compile(r"^([IWEF]\d{4} |WARNING: All log messages before absl::InitializeLog)")


# One process: train's flag definitions and key flags (what --helpshort prints), then the binary's main on the
# named flagfile exactly as ``python -m rfbnet_tf.train --flagfile=experiments/cityscapes.flags`` runs it.
_SCRIPT = """
import sys
from absl import app, flags
from rfbnet_tf import cli, train
train._define_flags()
print(flags.FLAGS.module_help(train))
app.run(train.main, argv=cli.resolve_flagfiles(["train", "--flagfile=experiments/cityscapes.flags"]))
"""


def test_named_flagfile_without_records_names_the_prepare_command_and_creates_nothing(tmp_path):
    result = warm_python.run([sys.executable, "-c", _SCRIPT], cwd=tmp_path, capture_output=True, text=True,
                            timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ROOT})
    lines = [line for line in result.stderr.splitlines() if not _NATIVE_LOG.match(line)]
    assert result.returncode == 1
    assert len(lines) == 1, result.stderr[-3000:]
    assert lines[0].startswith("error: --record_dir=data/cityscapes does not exist: prepare it with python -m "
                               "rfbnet_tf.prepare_data --dataset=cityscapes --input_dir=/path/to/cityscapes "
                               "--output_dir=data/cityscapes ")
    for package in ("leftImg8bit", "disparity", "camera", "gtFine"):
        assert package in lines[0]
    assert os.listdir(tmp_path) == []  # no data/, no runs/
    for flag in ("--model:", "--record_dir:", "--steps:", "--[no]create_synthetic:"):  # train --helpshort
        assert flag in result.stdout, result.stdout[:2000]


def _config(record_dir, model_dir, **overrides):
    return configs.resolve(dict(record_dir=str(record_dir), model_dir=str(model_dir), model="erfnet_enc",
                                steps=1, progress=False, **overrides))


@pytest.mark.parametrize("name, setup, match", [
    ("cityscapes", None, "--create_synthetic renders synthetic frames, not cityscapes: .*--dataset=cityscapes"),
    ("scannet_frames", None, "not scannet"),
    ("mine", "file", "would replace --record_dir=.*mine, which holds other files"),
])
def test_create_synthetic_only_writes_a_synthetic_record_dir(tmp_path, name, setup, match):
    record_dir = tmp_path / name
    if setup == "file":
        record_dir.mkdir()
        (record_dir / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=match):
        checked_run.prepare_run(_config(record_dir, tmp_path / "run", create_synthetic=True))
    assert sorted(os.listdir(tmp_path)) == ([name] if setup else [])
    record_checks.check_synthetic_target(tmp_path / "synthetic_records")  # absent, named for synthetic data: allowed
    record_checks.check_synthetic_target(tmp_path / "records")  # absent, names no real dataset: allowed


def test_prepare_command_per_record_dir_name():
    assert "--dataset=scannet --input_dir=/path/to/scannet --output_dir=d/scannet_25k " in (
        record_checks.prepare_command("d/scannet_25k"))
    assert record_checks.prepare_command("data/synthetic").startswith(
        "python -m rfbnet_tf.prepare_data --dataset=synthetic --output_dir=data/synthetic (or pass --create_synthetic)")
    assert "--dataset={cityscapes,scannet,nyuv2,sunrgbd,synthetic,folder}" in record_checks.prepare_command("records")
