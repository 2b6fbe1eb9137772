"""``predict(PredictConfig(model_dir, rgb, output_dir, ...))``: segment RGB-D image files with a trained run and
write label maps, overlays and error maps (the library of ``python -m rfbnet_tf.predict``, whose docstring lists
the files)."""

from __future__ import annotations

import dataclasses
import os
import shutil

import cv2
import numpy as np
from absl import logging

from rfbnet_tf import rundir
from rfbnet_tf.drawing import gate_figures, palettes
from rfbnet_tf.datasets import records
from rfbnet_tf.inference import depth_input, gate_maps, image_files, input_spec, serving
from rfbnet_tf.drawing import error_map
from rfbnet_tf.utils.checks import boolean, fraction
from rfbnet_tf.utils.flag_configs import normalise_paths
from rfbnet_tf.utils.progress import Progress


@dataclasses.dataclass(frozen=True)
class PredictConfig:
    """What :func:`predict` segments and writes: the picture flags of ``python -m rfbnet_tf.predict`` as typed
    fields (the binary: ``utils.flag_configs.from_flags``), checked here, once.

    Fields:
      model_dir: a directory written by ``rfbnet_tf.train``.
      rgb, depth, label: image files or directories (paired by stem); ``depth`` is required when a
        model uses depth; ``label`` (train ids, the run's ignore label: 255, or 65535 in 16-bit files for runs of
        more than 255 classes) enables the error map.
      output_dir: where to write (created).
      compare_model_dir: a second run for the improvement/error map (its own inputs and spec).
      intrinsics: depth camera matrix ("fx,fy,cx,cy", 9 numbers or a file, see
        ``image_files.parse_intrinsics``), needed to compute HHA from raw depth (except with Cityscapes
        disparities, whose ``camera`` JSON gives it).
      max_depth: depth range in metres for raw depth (default: each run's ``max_depth`` in ``run_info.json``).
      alpha: overlay opacity of the label colours.
      checkpoint, compare_checkpoint: weights of the two runs (``rundir.checkpoints.restore_model``).
      size_policy: ``"resize"``/``"pad"``/None (``input_spec.input_spec``).
      progress: progress bar on stderr.
      depth_units: units of raw depth files (``depth_input.DEPTH_UNITS``: "mm", "1e-4m", "m",
        "cityscapes_disparity").
      resize_depth: resize depth files of another size than their RGB image (else an error); intrinsics scaled.
      camera: Cityscapes ``*_camera.json`` file or directory (``depth_units="cityscapes_disparity"``).
      gates: also write each frame's gate maps of every residual fusion block (RFBNet runs only):
        ``{stem}_gates.png`` and ``{stem}_gates.npz``.
    """

    model_dir: str
    rgb: str
    output_dir: str
    depth: str | None = None
    label: str | None = None
    compare_model_dir: str | None = None
    intrinsics: str | None = None
    max_depth: float | None = None
    alpha: float = 0.5
    checkpoint: str | None = None
    compare_checkpoint: str | None = None
    size_policy: str | None = None
    progress: bool = True
    depth_units: str = "mm"
    resize_depth: bool = False
    camera: str | None = None
    gates: bool = False

    def __post_init__(self):
        normalise_paths(self, "model_dir", "rgb", "output_dir", "depth", "label", "compare_model_dir", "camera")
        fraction("alpha", self.alpha)
        if self.depth_units not in depth_input.DEPTH_UNITS:
            raise ValueError(f"depth_units must be one of {depth_input.DEPTH_UNITS}, received {self.depth_units!r}")
        for name in ("progress", "resize_depth", "gates"):
            boolean(name, getattr(self, name))


def _write_png(path, image):
    image = np.asarray(image)
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(path, image):
        raise OSError(f"could not write {path!r}")
    return path


def _load(model_dir, checkpoint, size_policy, max_depth):
    """``(module, config, info, max_depth)`` of a run: its serving module, RunConfig, run_info.json and the
    depth range for raw depth files (``max_depth`` if given, else the run's)."""
    info = rundir.facts.load_run_info(model_dir)
    if max_depth is None:
        max_depth = info["max_depth"]
    model, config, step = rundir.checkpoints.restore_model(model_dir, checkpoint)
    return serving.ServingModule(model, input_spec.input_spec(config, info, size_policy)), config, info, max_depth


class _DepthCache:
    """Computes each depth representation (HHA / completed depth, per depth range) of one frame at most once."""

    def __init__(self, depth_image, size, intrinsics, resize_depth, source):
        self.depth_image, self.size, self.intrinsics = depth_image, size, intrinsics
        self.resize_depth, self.source = resize_depth, source
        self.cache = {}

    def get(self, kind, max_depth):
        if (kind, max_depth) not in self.cache:
            if max_depth is None:
                raise ValueError("the run's run_info.json records no max_depth: pass --max_depth")
            self.cache[kind, max_depth] = depth_input.model_depth_input(
                self.depth_image, kind, self.size, self.intrinsics, max_depth, resize_depth=self.resize_depth,
                source=self.source)
        return self.cache[kind, max_depth]


def _model_images(module, max_depth, rgb, depth_cache) -> dict:
    spec = module.spec
    return {key: rgb if key == "rgb" else depth_cache.get(spec.depth_input, max_depth) for key in spec.model_inputs}


def _class_ids(module, max_depth, rgb, depth_cache):
    return module.run(_model_images(module, max_depth, rgb, depth_cache))["class_ids"][0]


def _write_gates(gates, module, max_depth, rgb, depth_cache, output_dir, stem) -> dict:
    """``{stem}_gates.png`` (every block's gates over the RGB) and ``{stem}_gates.npz`` (the numbers)."""
    model_size, maps = gates(_model_images(module, max_depth, rgb, depth_cache))
    numbers = os.path.join(output_dir, f"{stem}_gates.npz")
    np.savez(numbers, gate_names=np.array(gate_figures.GATE_NAMES), model_input_size=np.array(model_size),
             **dict(maps))
    figure = gate_figures.gate_figure(rgb, gate_maps.frame_maps(maps, model_size, rgb.shape[:2],
                                                                module.spec.size_policy))
    return {"gates": _write_png(os.path.join(output_dir, f"{stem}_gates.png"), figure), "gate_values": numbers}


LEGEND_FILENAME = "legend.png"


def predict(config: PredictConfig) -> list:
    """Segment the frames of ``config.rgb`` (+ ``depth``) and write the images listed in the module docstring.

    Returns:
      ``[{"stem": ..., "files": {kind: path}}, ...]`` per frame.

    Raises:
      FileNotFoundError: missing model_dir / run_info.json / weights / input files.
      ValueError: unpaired files, bad images, missing depth or intrinsics, ``gates`` with a model that has no
        residual fusion blocks.
    """
    for name, path in (("model_dir", config.model_dir), ("compare_model_dir", config.compare_model_dir)):
        if path is not None and not os.path.isdir(path):
            raise FileNotFoundError(f"{name} {path!r} does not exist")
    module, run_config, info, run_max_depth = _load(config.model_dir, config.checkpoint, config.size_policy,
                                                    config.max_depth)
    modules = [(module, run_max_depth)]
    gate_model = gate_maps.GateMaps(module, f"--model_dir={config.model_dir!r}") if config.gates else None
    if config.compare_model_dir is not None:
        other, other_run_config, _, other_max_depth = _load(config.compare_model_dir, config.compare_checkpoint,
                                                            config.size_policy, config.max_depth)
        if other_run_config.num_classes != run_config.num_classes:
            raise ValueError(
                f"the compared runs predict different class counts: {run_config.num_classes} and "
                f"{other_run_config.num_classes}"
            )
        modules.append((other, other_max_depth))
    needs_depth = any("depth" in m.spec.model_inputs for m, _ in modules)
    if needs_depth and config.depth is None:
        raise ValueError("the model uses depth: give --depth (HHA images, or raw depth with --intrinsics)")
    with_camera = needs_depth and config.depth_units == "cityscapes_disparity"
    if with_camera and config.camera is None:
        raise ValueError("--depth_units=cityscapes_disparity needs --camera (the *_camera.json file or directory)")
    pairs = image_files.pair_files(config.rgb, config.depth if needs_depth else None, config.label,
                                   config.camera if with_camera else None)
    matrix = image_files.parse_intrinsics(config.intrinsics) if config.intrinsics is not None else None
    palette = rundir.facts.label_palette(info)
    created = not os.path.exists(config.output_dir)
    os.makedirs(config.output_dir, exist_ok=True)
    try:
        written = _predict_frames(config, modules, pairs, matrix, palette, info, needs_depth, gate_model)
    except BaseException:
        if created:  # no partial output directory of a failed run
            shutil.rmtree(config.output_dir, ignore_errors=True)
        raise
    logging.info("wrote predictions of %d frame(s) and %s to %s", len(written), LEGEND_FILENAME, config.output_dir)
    return written


def write_legend(output_dir, info, palette) -> str:
    """``output_dir/legend.png``: the class colours of the run whose ``run_info.json`` is ``info``."""
    return _write_png(os.path.join(output_dir, LEGEND_FILENAME),
                      palettes.legend_image(info["class_names"], palette, ignore_label=int(info["ignore_label"])))


def write_frame_images(output_dir, stem, rgb_image, class_ids, info, palette, alpha) -> dict:
    """A frame's ``{stem}_labels.png`` (colours), ``{stem}_class_ids.png`` (train ids, 8-bit; 16-bit for runs of
    more than 255 classes) and ``{stem}_overlay.png``, for the run whose ``run_info.json`` is ``info``; returns
    ``{kind: path}``."""
    colours = palettes.colorize(class_ids, palette, int(info["ignore_label"]))
    class_id_dtype = records.LABEL_DTYPES[records.label_bits(len(info["class_names"]))]
    return {
        "labels": _write_png(os.path.join(output_dir, f"{stem}_labels.png"), colours),
        "class_ids": _write_png(os.path.join(output_dir, f"{stem}_class_ids.png"), class_ids.astype(class_id_dtype)),
        "overlay": _write_png(os.path.join(output_dir, f"{stem}_overlay.png"),
                              error_map.overlay(rgb_image, colours, alpha)),
    }


def _predict_frames(config: PredictConfig, modules, pairs, matrix, palette, info, needs_depth, gate_model=None):
    """Predict every frame of ``pairs`` and write its files (and the legend) into ``config.output_dir``."""
    output_dir, resize_depth = config.output_dir, config.resize_depth
    ignore_label = int(info["ignore_label"])
    write_legend(output_dir, info, palette)

    written = []
    bar = Progress("predict", len(pairs), enabled=config.progress)
    for stem, paths in pairs:
        rgb_image = image_files.read_rgb(paths["rgb"])
        size = rgb_image.shape[:2]
        if "label" in paths:  # checked before the model runs
            truth = image_files.read_label(paths["label"], ignore_label, len(info["class_names"]))
            if truth.shape != size:
                raise ValueError(f"label {paths['label']!r} has size {truth.shape}, the RGB image {size}")
        cache = None
        if needs_depth:
            image, camera_matrix = depth_input.read_depth(paths["depth"], config.depth_units, paths.get("camera"))
            depth_input.warn_implausible_units(paths["depth"], image, modules[0][1])
            cache = _DepthCache(image, size, camera_matrix if camera_matrix is not None else matrix, resize_depth,
                                f"depth {paths['depth']!r}")
        try:
            predictions = [_class_ids(m, depth_range, rgb_image, cache) for m, depth_range in modules]
        except ValueError as error:
            raise ValueError(f"frame {stem!r}: {error}") from None
        files = write_frame_images(output_dir, stem, rgb_image, predictions[0], info, palette, config.alpha)
        if gate_model is not None:
            files.update(_write_gates(gate_model, *modules[0], rgb_image, cache, output_dir, stem))
        if len(predictions) > 1:
            files["compare_labels"] = _write_png(os.path.join(output_dir, f"{stem}_compare_labels.png"),
                                                 palettes.colorize(predictions[1], palette, ignore_label))
        if "label" in paths:
            files["ground_truth"] = _write_png(os.path.join(output_dir, f"{stem}_ground_truth.png"),
                                               palettes.colorize(truth, palette, ignore_label))
            other = predictions[1] if len(predictions) > 1 else None
            files["error_map"] = _write_png(os.path.join(output_dir, f"{stem}_error_map.png"),
                                            error_map.improvement_error_map(truth, predictions[0], other, ignore_label))
        written.append({"stem": stem, "files": files})
        bar.update()
    bar.close()
    return written
