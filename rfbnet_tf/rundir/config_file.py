"""``flags.json``: a run's configuration, read in both formats (:func:`load_run_config`), and the model it
builds (:func:`build_from_run_config`). The directory's files: :mod:`rfbnet_tf.rundir.layout`."""

from __future__ import annotations

import os

import keras

from rfbnet_tf.rundir.layout import FLAGS_FILENAME, FLAGS_FORMAT, RUN_FACT_KEYS, RUN_INFO_FILENAME, missing_run_info_error, read_run_file


def load_run_config(model_dir, require_facts=True) -> dict:
    """The train flags of a run with its resolved values, flat: every train flag, ``model_options``,
    ``weight_decay`` and the dataset facts ``num_classes``, ``class_names``, ``ignore_label``, ``dataset``,
    ``class_weight_values``.

    Reads ``flags.json`` (format 2: the :class:`rfbnet_tf.configs.ExperimentConfig` sections, with the facts in
    ``run_info.json``; format 1, older runs: all of it flat in ``flags.json``).

    ``require_facts=False``: a format-2 run whose ``run_info.json`` is missing loads without the facts.

    Raises:
      FileNotFoundError: naming the missing ``flags.json`` (or, for a format-2 run, ``run_info.json``) path.
      ValueError: the file lacks ``model``, ``num_classes`` or ``model_options``.
    """
    path = os.path.join(os.fspath(model_dir), FLAGS_FILENAME)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path!r} not found: {os.fspath(model_dir)!r} is not a model_dir written by rfbnet_tf.train")
    content = read_run_file(model_dir, FLAGS_FILENAME)
    if isinstance(content, dict) and content.get("format") == FLAGS_FORMAT:
        from rfbnet_tf.configs import ExperimentConfig

        try:
            experiment = ExperimentConfig.from_dict(content)
        except (TypeError, ValueError, KeyError) as error:
            raise ValueError(f"{path!r} is not a valid run configuration: {error}") from None
        config = {**experiment.flags(), "model_options": experiment.model.build_options()}
        info_path = os.path.join(os.fspath(model_dir), RUN_INFO_FILENAME)
        if os.path.isfile(info_path):
            info = read_run_file(model_dir, RUN_INFO_FILENAME)
            config.update({key: info.get(key) for key in RUN_FACT_KEYS if key in info})
        elif require_facts:
            raise missing_run_info_error(model_dir)
        else:
            return config
    elif isinstance(content, dict):
        from rfbnet_tf.configs.experiment import flag_defaults

        config = {**flag_defaults(), **content}
    else:
        raise ValueError(f"{path!r} is not a run configuration (a JSON object)")
    missing = [key for key in ("model", "num_classes", "model_options") if key not in config]
    if missing:
        raise ValueError(f"{path!r} lacks the key(s) {missing}")
    return config


def build_from_run_config(config: dict) -> keras.Model:
    """``build_model(config["model"], config["num_classes"], **config["model_options"])`` (fresh weights); options
    a saved run predates take the value it was built with (``registry.SAVED_BEFORE``)."""
    from rfbnet_tf.models import build_model
    from rfbnet_tf.models.registry import saved_model_options

    if not isinstance(config, dict) or any(k not in config for k in ("model", "num_classes", "model_options")):
        raise ValueError(f"config must be a dict with 'model', 'num_classes' and 'model_options', received {config!r}")
    options = saved_model_options(config["model"], config["model_options"])  # runs saved before an option existed
    return build_model(config["model"], int(config["num_classes"]), **options)
