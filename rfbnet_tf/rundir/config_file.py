"""``flags.json``: a run's configuration, read in both formats into one typed :class:`RunConfig`
(:func:`load_run_config`), and the model it builds (:func:`build_from_run_config`). The directory's files:
:mod:`rfbnet_tf.rundir.layout`."""

from __future__ import annotations

import dataclasses
import os

import keras

from rfbnet_tf.configs import ExperimentConfig
from rfbnet_tf.configs.experiment import FLAG_NAMES, flag_defaults
from rfbnet_tf.configs.model import ADD_POINT_NONE, DEPTH_CHANNELS, OPTION_FIELDS
from rfbnet_tf.models.registry import saved_model_options
from rfbnet_tf.rundir.layout import FLAGS_FILENAME, FLAGS_FORMAT, RUN_INFO_FILENAME, missing_run_info_error, read_run_file


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """A run's whole configuration: its experiment (``flags.json``) and the dataset facts it was trained with
    (``run_info.json``; a format-1 ``flags.json`` holds them itself). A fact is None when the run's files do not
    record it (``load_run_config(..., require_facts=False)``)."""

    config: ExperimentConfig
    num_classes: int | None = None
    class_names: tuple | None = None
    ignore_label: int | None = None
    dataset: str | None = None
    class_weight_values: tuple | None = None

    @property
    def model(self):
        return self.config.model

    @property
    def data(self):
        return self.config.data

    @property
    def optimizer(self):
        return self.config.optimizer

    @property
    def train(self):
        return self.config.train

    @property
    def model_options(self) -> dict:
        """The ``build_model`` options of the run's network."""
        return self.config.model.build_options()


def _facts(content: dict) -> dict:
    """The :class:`RunConfig` facts held in ``content`` (``run_info.json``, or a format-1 ``flags.json``)."""
    facts = {}
    if content.get("num_classes") is not None:
        facts["num_classes"] = int(content["num_classes"])
    for key in ("class_names", "class_weight_values"):
        if content.get(key) is not None:
            facts[key] = tuple(content[key])
    if content.get("ignore_label") is not None:
        facts["ignore_label"] = int(content["ignore_label"])
    if "dataset" in content:
        facts["dataset"] = content["dataset"]
    return facts


def _format1_experiment(content: dict, model_dir) -> ExperimentConfig:
    """The experiment of a format-1 ``flags.json`` (the flat flags, ``model_options`` and facts): flags it lacks
    (written before they existed) take their defaults, and the model section takes the options the network was
    built with (``model_options``, completed by ``registry.SAVED_BEFORE``; an option it lacks: the model's
    default)."""
    experiment = ExperimentConfig.from_flags({
        **flag_defaults(), "model_dir": None if model_dir is None else os.fspath(model_dir),
        **{name: value for name, value in content.items() if name in FLAG_NAMES}})
    saved = saved_model_options(experiment.model.name, content["model_options"])  # the name is checked by now
    fields = {key: (ADD_POINT_NONE if key == "add_point" and value is None else value)
              for key, value in saved.items() if key in OPTION_FIELDS}
    depth_input = {channels: key for key, channels in DEPTH_CHANNELS.items()}.get(saved.get("depth_channels"))
    if depth_input is not None and "depth_input" not in content:  # a channel count no input has: refused below
        fields["depth_input"] = depth_input
    experiment = experiment.replace(model=fields)
    built = experiment.model.build_options()
    differing = {key: value for key, value in saved.items() if built.get(key) != value}
    if differing:
        raise ValueError(f"model_options {differing} are not what its flags build ({built})")
    return experiment


def run_config_from_content(content, model_dir=None, run_info: dict | None = None) -> RunConfig:
    """The :class:`RunConfig` of a ``flags.json`` content (either format) and, for format 2, the run's
    ``run_info.json`` content (None: no facts). ``model_dir``: where a format-1 file lies (its ``model_dir``
    flag when it has none). Raises ``ValueError`` on a content that is no run configuration."""
    if not isinstance(content, dict):
        raise ValueError("not a run configuration (a JSON object)")
    if content.get("format") == FLAGS_FORMAT:
        return RunConfig(ExperimentConfig.from_dict(content), **_facts(run_info or {}))
    missing = [key for key in ("model", "num_classes", "model_options") if key not in content]
    if missing:
        raise ValueError(f"lacks the key(s) {missing}")
    return RunConfig(_format1_experiment(content, model_dir), **_facts(content))


def load_run_config(model_dir, require_facts=True) -> RunConfig:
    """The :class:`RunConfig` of the run in ``model_dir``.

    Reads ``flags.json`` (format 2: the :class:`rfbnet_tf.configs.ExperimentConfig` sections, with the facts in
    ``run_info.json``; format 1, older runs: all of it flat in ``flags.json``, converted here).

    ``require_facts=False``: a format-2 run whose ``run_info.json`` is missing loads without the facts.

    Raises:
      FileNotFoundError: naming the missing ``flags.json`` (or, for a format-2 run, ``run_info.json``) path.
      ValueError: naming the file, when it is no valid run configuration.
    """
    path = os.path.join(os.fspath(model_dir), FLAGS_FILENAME)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path!r} not found: {os.fspath(model_dir)!r} is not a model_dir written by rfbnet_tf.train")
    content = read_run_file(model_dir, FLAGS_FILENAME)
    info = None
    if isinstance(content, dict) and content.get("format") == FLAGS_FORMAT:
        if os.path.isfile(os.path.join(os.fspath(model_dir), RUN_INFO_FILENAME)):
            info = read_run_file(model_dir, RUN_INFO_FILENAME)
        elif require_facts:
            raise missing_run_info_error(model_dir)
    try:
        return run_config_from_content(content, model_dir, info)
    except (TypeError, ValueError, KeyError) as error:
        raise ValueError(f"{path!r} is not a valid run configuration: {error}") from None


def build_from_run_config(run: RunConfig) -> keras.Model:
    """The run's network with fresh weights: ``build_model(model name, num_classes, **model_options)``."""
    from rfbnet_tf.models import build_model

    return build_model(run.model.name, run.num_classes, **run.model_options)
