"""``model_dir/final.keras``: a trained run as one Keras file, the :class:`~rfbnet_tf.models.RGBDSegmenter`
task (the run's normalisation and size policy + the trained network).

Training writes it at its end (:func:`write_final_task`, atomically); ``keras.saving.load_model`` opens it after
``import rfbnet_tf``. Export builds from it (:func:`serving_parts`) when it holds the weights asked for; runs
trained before it existed keep the checkpoint path.

The task's preprocessor is made from the same :class:`~rfbnet_tf.inference.input_spec.InputSpec` the export uses
(:func:`task_from_spec`), and an export built from the task reads that spec back (:func:`spec_of_task`), so
both paths serve the same numbers.
"""

from __future__ import annotations

import dataclasses
import os

import keras

from rfbnet_tf import rundir
from rfbnet_tf.inference import input_spec, serving_ops
from rfbnet_tf.models import RGBDSegmenter
from rfbnet_tf.utils import files

FINAL_KERAS_FILENAME = "final.keras"


def final_keras_path(model_dir) -> str:
    """``model_dir/final.keras``."""
    return os.path.join(os.fspath(model_dir), FINAL_KERAS_FILENAME)


def task_from_spec(network, spec: input_spec.InputSpec) -> RGBDSegmenter:
    """The task of ``network`` with the preprocessing ``spec`` describes."""
    return RGBDSegmenter(network, serving_ops.preprocessor(spec, name="preprocessor"), name=f"{network.name}_task")


def spec_of_task(task: RGBDSegmenter, size_policy=None) -> input_spec.InputSpec:
    """The serving :class:`~rfbnet_tf.inference.input_spec.InputSpec` a task's preprocessor holds; ``size_policy``
    (``"resize"`` / ``"pad"``) overrides the one the task was written with."""
    pre = task.preprocessor
    policy = pre.size_policy if size_policy is None else size_policy
    if policy not in input_spec.SIZE_POLICIES:
        raise ValueError(f"size_policy must be one of {input_spec.SIZE_POLICIES} or None, received {size_policy!r}")
    if policy == "resize" and pre.image_size is None:
        raise ValueError("size_policy 'resize' needs the run's image_size, but the task was written without one")
    depth_channels = {tensor.name: int(tensor.shape[-1]) for tensor in task.inputs}.get("depth", 3)
    return input_spec.InputSpec(
        model_inputs=tuple(pre.input_keys),
        depth_input="hha" if depth_channels == 3 else "depth",
        mean=dict(pre.mean),
        std=dict(pre.std),
        num_classes=int(task.outputs[0].shape[-1]),
        size_policy=policy,
        model_size=pre.image_size if policy == "resize" else None,
        size_divisor=pre.size_divisor,
    )


def _float32(model, config):
    """``model`` itself when it computes in float32, else a float32 rebuild holding its weights (called under the
    float32 policy): a network trained under a mixed-precision policy, saved as is, does not run when loaded under
    the default float32 policy (its units' sublayers take the global policy at load time, the units the saved one)."""
    if model.dtype_policy.name == "float32":
        return model
    copy = rundir.config_file.build_from_run_config(config)
    copy.set_weights(model.get_weights())
    return copy


def write_final_task(model_dir, model, config: rundir.config_file.RunConfig) -> str:
    """Write the task of the trained ``model`` (with the run's ``run_info.json`` statistics and ``config``'s
    size policy) to ``model_dir/final.keras``, in float32, through a temporary name and ``os.replace``; returns
    the path."""
    spec = input_spec.input_spec(config, rundir.facts.load_run_info(model_dir))
    path = final_keras_path(model_dir)
    temporary = os.path.join(os.path.dirname(path), f".tmp-{os.getpid()}-{FINAL_KERAS_FILENAME}")
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")
    try:
        with files.naming_failed_writes(path):
            task_from_spec(_float32(model, config), spec).save(temporary)
        os.replace(temporary, path)
    finally:
        keras.mixed_precision.set_global_policy(previous)
        if os.path.exists(temporary):
            os.remove(temporary)
    return path


def load_final_task(model_dir) -> RGBDSegmenter:
    """``keras.saving.load_model(model_dir/final.keras)``; ``ValueError`` if it holds no RGBDSegmenter."""
    path = final_keras_path(model_dir)
    task = keras.saving.load_model(path)
    if not isinstance(task, RGBDSegmenter):
        raise ValueError(f"{path!r} holds a {type(task).__name__}, not an RGBDSegmenter")
    rundir.checkpoints.check_finite(task.weights, f"{path!r}")
    return task


def holds_requested_weights(model_dir, checkpoint=None) -> bool:
    """Whether ``final.keras`` holds the weights ``checkpoint`` asks for (``rundir.checkpoints.restore_model``'s
    meaning): ``"final"``, or None while the latest checkpoint is the final step (or there is none)."""
    if not os.path.isfile(final_keras_path(model_dir)):
        return False
    if checkpoint == rundir.checkpoints.FINAL:
        return True
    if checkpoint is not None:
        return False
    latest = rundir.checkpoints.latest_checkpoint(model_dir)
    return latest is None or rundir.checkpoints.checkpoint_step(latest) == rundir.checkpoints.final_step(model_dir)


def serving_parts(model_dir, size_policy=None, info=None):
    """``(network, spec, config, step)`` for export from ``final.keras``: the trained network, the serving spec
    its preprocessor holds, the run's RunConfig and the final step; ``info``: the run's ``run_info.json`` when the
    caller has read it already."""
    task = load_final_task(model_dir)
    config = rundir.config_file.load_run_config(model_dir)
    # The task holds the preprocessing; serving_raw's raw-depth range and ignore label are facts of the run
    # (run_info.json).
    info = rundir.facts.load_run_info(model_dir) if info is None else info
    facts = input_spec.input_spec(config, info, size_policy)
    spec = dataclasses.replace(spec_of_task(task, size_policy), max_depth=facts.max_depth,
                               ignore_label=facts.ignore_label)
    return task.network, spec, config, rundir.checkpoints.final_step(model_dir)
