"""utils.flag_configs: a binary's typed config from its absl flags (each field from the flag of its name), and the
configs of evaluate / export / predict (--bag too): every field is one of the binary's flags, each value checked
once, in the config."""

import dataclasses
import pathlib

import pytest
from absl import flags

from rfbnet_tf import evaluate as evaluate_binary
from rfbnet_tf import export as export_binary
from rfbnet_tf import predict as predict_binary
from rfbnet_tf.evaluation.evaluator import EvaluationConfig
from rfbnet_tf.inference.prediction import PredictConfig
from rfbnet_tf.inference.saved_model_export import ExportConfig
from rfbnet_tf.recordings.bag_prediction import BagRecordingConfig
from rfbnet_tf.utils import flag_configs


@dataclasses.dataclass(frozen=True)
class _Example:
    name: str
    count: int = 3
    fmt: str = dataclasses.field(default="a", metadata={flag_configs.FLAG: "format"})
    path: str | None = None

    def __post_init__(self):
        flag_configs.normalise_paths(self, "path")


def test_fields_come_from_their_flags_given_values_win_and_missing_flags_keep_defaults():
    values = flags.FlagValues()
    flags.DEFINE_string("name", "x", "", flag_values=values)
    flags.DEFINE_string("format", "a", "", flag_values=values)
    flags.DEFINE_string("unrelated", "u", "", flag_values=values)
    values(["prog", "--name=run", "--format=b"])
    assert flag_configs.from_flags(_Example, values) == _Example("run", 3, "b", None)  # no --count flag: default
    assert flag_configs.from_flags(_Example, values, name="other", count=7) == _Example("other", 7, "b")
    assert _Example("n", path=pathlib.Path("/tmp") / "p").path == "/tmp/p"  # os.fspath, once


@pytest.mark.parametrize("config, groups", [(EvaluationConfig, evaluate_binary.FLAG_GROUPS),
                                            (ExportConfig, export_binary.FLAG_GROUPS),
                                            (PredictConfig, predict_binary.FLAG_GROUPS),
                                            (BagRecordingConfig, predict_binary.FLAG_GROUPS)])
def test_every_field_is_a_flag_of_its_binary(config, groups):
    """No field silently keeps its default when the binary builds the config (``--help``'s groups name every
    flag of the binary: tests/test_cli.py)."""
    defined = {name for names in groups.values() for name in names}
    names = {field.metadata.get(flag_configs.FLAG, field.name) for field in dataclasses.fields(config)}
    assert names <= defined, sorted(names - defined)


@pytest.mark.parametrize("build, match", [
    (lambda: EvaluationConfig("run", split=""), "split must be a non-empty string"),
    (lambda: EvaluationConfig("run", batch_size=0), "batch_size must be a positive int, received 0"),
    (lambda: EvaluationConfig("run", full_resolution=True, batch_size=2), "batch_size must be 1, received 2"),
    (lambda: EvaluationConfig("run", progress="yes"), "progress must be True or False"),
    (lambda: ExportConfig("run", export_format="tflite"), "export_format must be one of"),
    (lambda: PredictConfig("run", "rgb", "out", alpha=1.5), r"alpha must be a number in \[0, 1\], received 1.5"),
    (lambda: PredictConfig("run", "rgb", "out", depth_units="cm"), "depth_units must be one of"),
    (lambda: PredictConfig("run", "rgb", "out", gates=1), "gates must be True or False"),
    (lambda: BagRecordingConfig("in.bag", "out.bag", "/rgb", empty_depth="drop"), "--empty_depth must be one of"),
    (lambda: BagRecordingConfig("in.bag", "out.bag", "/rgb", alpha=True), r"--alpha must be a number in \[0, 1\]"),
])
def test_bad_values_are_refused_by_the_config(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_export_format_is_the_format_flag():
    values = flags.FlagValues()
    for name in ("model_dir", "format"):
        flags.DEFINE_string(name, None, "", flag_values=values)
    values(["export", "--model_dir=run", "--format=onnx"])
    assert flag_configs.from_flags(ExportConfig, values) == ExportConfig("run", export_format="onnx")
