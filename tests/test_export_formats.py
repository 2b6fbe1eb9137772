"""export --format=onnx / litert: for every model family (ERFNetEnc, AdapNet++, SSMA, RFBNet) at a tiny size (short
backbones, tests/short_backbones.py: every kind of layer, dilation and fusion stage, a fraction of the graph to
convert; rfbnet_erfnet_enc took ≈ 70 s at full depth), the ONNX model run by ONNX Runtime and the LiteRT model run
by the LiteRT interpreter give the probabilities of the reloaded SavedModel to 1e-4 and its class ids (up to
near-ties); the ONNX dims are named batch, height, width and README's ONNX Runtime client runs; the log names what
the files do not carry; a missing converter is one user-error line."""

import json
import os
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest
import tensorflow as tf

from rfbnet_tf import cli
from rfbnet_tf.inference import format_export, litert_export, onnx_export, saved_model_export
from tests import run_dir_fixtures as fx
from tests import short_backbones
from tests.label_checks import assert_class_ids_match

pytest.importorskip("tf2onnx")
pytest.importorskip("onnxruntime")

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")
IMAGE_SIZE = (32, 48)  # the runs' training size: a multiple of every family's size divisor (≤ 16 here)
ODD_SIZE = (21, 37)  # not the training size: the resize policy runs inside the ONNX graph
FAMILIES = ("erfnet_enc", "adapnet_pp", "ssma_erfnet_enc", "rfbnet_erfnet_enc")


@pytest.fixture(scope="module", params=FAMILIES)
def exported(request, tmp_path_factory):
    """One run per family (short backbones), exported in all three formats through the export binary's library."""
    root = tmp_path_factory.mktemp(request.param)
    model_dir = str(root / "run")
    config = fx.run_config(str(root / "no_records"), model=request.param, image_size=IMAGE_SIZE)
    with pytest.MonkeyPatch.context() as monkeypatch:
        short_backbones.use_short_backbones(monkeypatch)
        fx.make_run_dir(model_dir, config)
        paths = {fmt: saved_model_export.export_model(saved_model_export.ExportConfig(model_dir, export_format=fmt,
                                                                                      verify=fmt != "saved_model"))
                 for fmt in format_export.FORMATS}
    return {"model": request.param, "model_dir": model_dir, "paths": paths,
            "saved_model": tf.saved_model.load(paths["saved_model"]).signatures["serving_default"]}


def _images(model_name, size, seed):
    rng = np.random.default_rng(seed)
    keys = ("rgb",) if model_name in ("erfnet_enc", "adapnet_pp") else ("rgb", "depth")
    return {key: rng.integers(0, 256, (1, *size, 3), dtype=np.uint8) for key in keys}


def _reference(exported, images):
    out = exported["saved_model"](**{k: tf.constant(v) for k, v in images.items()})
    return {k: v.numpy() for k, v in out.items()}


def _check(reference, got, resized=False):
    """1e-4 on the model graph. After the resize policy's bilinear resize of uint8 images, rounded back to
    integers, ONNX Runtime lands on the other side of many exact .5 values (upsampling makes quarter fractions):
    one grey level on some input pixels, ~2.6e-4 measured on the probabilities; 1e-2 there."""
    assert got["probabilities"].shape == reference["probabilities"].shape
    tolerance = 1e-2 if resized else 1e-4
    error = np.max(np.abs(got["probabilities"] - reference["probabilities"]))
    assert error <= tolerance, error
    assert_class_ids_match(got["class_ids"], reference["probabilities"], tolerance=tolerance)
    assert np.ptp(reference["probabilities"]) > 0.1  # not a constant output


def test_onnx_matches_saved_model(exported):
    assert exported["paths"]["onnx"] == os.path.join(exported["model_dir"], "export.onnx")
    session = onnx_export.onnx_session(exported["paths"]["onnx"])
    assert sorted(i.name for i in session.get_inputs()) == sorted(_images(exported["model"], (1, 1), 0))
    for value in session.get_inputs() + session.get_outputs():  # named, not tf2onnx's unk__N
        assert value.shape[:3] == ["batch", "height", "width"], (value.name, value.shape)
    for size, seed in ((IMAGE_SIZE, 1), (ODD_SIZE, 2)):
        images = _images(exported["model"], size, seed)
        _check(_reference(exported, images), onnx_export.run_onnx(session, images), resized=size == ODD_SIZE)


def test_readme_onnx_client_runs(exported):
    """README's ONNX Runtime client, in a fresh process without the package, on HHA and RGB files."""
    if exported["model"] != "rfbnet_erfnet_enc":
        pytest.skip("README's client is for the multimodal (HHA) runs")
    with open(README, encoding="utf-8") as handle:
        code = re.search(r"<!-- onnx client -->\n```python\n(.*?)```", handle.read(), re.S).group(1)
    assert len([line for line in code.splitlines() if line.strip() and not line.startswith("import")]) <= 5
    assert set(re.findall(r"^\s*(?:import|from)\s+(\w+)", code, re.M)) <= {"cv2", "onnxruntime", "numpy"}
    root = os.path.dirname(exported["model_dir"])
    images = _images(exported["model"], ODD_SIZE, 5)
    for key, name in (("rgb", "frame_color.png"), ("depth", "frame_hha.png")):
        assert cv2.imwrite(os.path.join(root, name), cv2.cvtColor(images[key][0], cv2.COLOR_RGB2BGR))
    code = code.replace("runs/synthetic/export.onnx", exported["paths"]["onnx"])
    script = os.path.join(root, "onnx_client.py")
    with open(script, "w", encoding="utf-8") as handle:
        handle.write("import sys\nsys.modules['rfbnet_tf'] = None  # the client must not need the package\n" + code)
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    subprocess.run([sys.executable, script], cwd=root, env=env, check=True, capture_output=True, timeout=300)
    labels = cv2.imread(os.path.join(root, "frame_labels.png"), cv2.IMREAD_UNCHANGED)
    reference = _reference(exported, images)
    assert labels.shape == ODD_SIZE and labels.dtype == np.uint8
    assert_class_ids_match(labels[None], reference["probabilities"], tolerance=1e-2)  # the resize policy: 1e-2


def test_litert_matches_saved_model(exported):
    assert exported["paths"]["litert"] == os.path.join(exported["model_dir"], "export.tflite")
    with open(exported["paths"]["litert"], "rb") as handle:
        runner = litert_export.litert_runner(handle.read())
    images = _images(exported["model"], IMAGE_SIZE, 3)
    _check(_reference(exported, images), runner(**images))
    with open(exported["paths"]["litert"] + ".json", encoding="utf-8") as handle:
        assert json.load(handle)["model"] == exported["model"]


def test_raw_depth_run_names_the_signature_left_out(tmp_path, monkeypatch):
    model_dir = str(tmp_path / "run")
    fx.make_run_dir(model_dir, fx.run_config(str(tmp_path / "no_records"), model="ssma_erfnet_enc",
                                             depth_input="depth", image_size=IMAGE_SIZE))
    monkeypatch.setattr(onnx_export, "convert", lambda module, opset=17: b"onnx-bytes")
    messages = []
    monkeypatch.setattr(format_export.logging, "info", lambda fmt, *args: messages.append(fmt % args))
    path = saved_model_export.export_model(saved_model_export.ExportConfig(model_dir, export_format="onnx",
                                                                           verify=False))
    with open(path, "rb") as handle:
        assert handle.read() == b"onnx-bytes"
    assert any("not carried (use the SavedModel): serving_depth_metres" in m for m in messages), messages
    with pytest.raises(FileExistsError):
        saved_model_export.export_model(saved_model_export.ExportConfig(model_dir, export_format="onnx", verify=False))


def test_missing_converter_is_one_error_line(tmp_path, monkeypatch, capsys):
    model_dir = str(tmp_path / "run")
    fx.make_run_dir(model_dir, fx.run_config(str(tmp_path / "no_records"), model="erfnet_enc", image_size=IMAGE_SIZE))

    def missing(module, opset=17):
        raise format_export.missing_converter("tf2onnx", ImportError("No module named 'tf2onnx'"))

    monkeypatch.setattr(onnx_export, "convert", missing)
    config = saved_model_export.ExportConfig(model_dir, export_format="onnx")
    main = cli.exits_on_user_error(lambda argv: saved_model_export.export_model(config))
    with pytest.raises(SystemExit) as exit_info:
        main(["export"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "rfbnet_tf[onnx]" in err[0], err
    assert not os.path.exists(os.path.join(model_dir, "export.onnx"))


def test_export_with_batch_norm_folded(tmp_path):
    model_dir = str(tmp_path / "run")
    fx.make_run_dir(model_dir, fx.run_config(str(tmp_path / "no_records"), model="erfnet_enc", image_size=IMAGE_SIZE))
    plain = saved_model_export.export_model(saved_model_export.ExportConfig(model_dir, verify=False))
    folded = saved_model_export.export_model(saved_model_export.ExportConfig(model_dir, str(tmp_path / "folded"),
                                                                             fold_batch_norm=True))
    plain, folded = tf.saved_model.load(plain), tf.saved_model.load(folded)
    # erfnet_enc: 26 of its 29 BNs fold into convolutions that already have a bias: γ, β, mean, variance gone
    assert len(plain.model_variables) - len(folded.model_variables) == 26 * 4
    images = _images("erfnet_enc", ODD_SIZE, 4)
    expected = {k: v.numpy() for k, v in plain.signatures["serving_default"](
        **{k: tf.constant(v) for k, v in images.items()}).items()}
    got = {k: v.numpy() for k, v in folded.signatures["serving_default"](
        **{k: tf.constant(v) for k, v in images.items()}).items()}
    _check(expected, got)
