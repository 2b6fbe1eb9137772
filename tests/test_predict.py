"""rfbnet_tf.predict: written PNGs (colours = palette of the predicted ids, ids = the Keras model's argmax up to near-ties,
overlay = alpha blend), raw depth → completed depth → HHA as prepare_data does it, the improvement/error map
(hand-made case and files), file pairing, intrinsics parsing and clear errors: ground-truth values that are no class
of the run; a warning for depth in the wrong units."""

import os

import cv2
import numpy as np
import pytest

from rfbnet_tf import cli
from rfbnet_tf.drawing import palettes
from rfbnet_tf.inference import depth_input, image_files, prediction
from rfbnet_tf.drawing import error_map
from rfbnet_tf.preprocessing.depth_completion import complete_depth
from rfbnet_tf.preprocessing.hha import depth_to_hha
from tests import run_dir_fixtures as fx
from tests import short_backbones
from tests.label_checks import assert_class_ids_match

SIZE = (32, 48)  # the runs' training size: the resize policy is the identity here
INTRINSICS = "40,40,23.5,15.5"
NUM_CLASSES = len(fx.CLASS_NAMES)
LOGIT_TOLERANCE = 1e-4  # argmax may flip between kernels where two logits are this close


def _write(path, image):
    image = np.asarray(image)
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    assert cv2.imwrite(str(path), image)


def _read(path):
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if image.ndim == 3 else image


_short_erfnet = pytest.fixture(scope="module", autouse=True)(short_backbones.short_erfnet)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict")
    record_dir = str(root / "records")
    fx.write_records(record_dir, {"train": fx.random_frames(0, 1, SIZE)})
    main_dir, other_dir = str(root / "rfbnet"), str(root / "rgb_only")
    main = fx.make_run_dir(main_dir, fx.run_config(record_dir, image_size=SIZE))
    other = fx.make_run_dir(other_dir, fx.run_config(record_dir, model="erfnet_enc", image_size=SIZE), seed=3)
    frames = fx.random_frames(9, 2, SIZE)
    for kind in ("rgb", "hha", "label", "raw"):
        os.makedirs(root / kind)
    for stem, frame in zip(("a", "b"), frames):
        _write(root / "rgb" / f"{stem}.jpg" if stem == "b" else root / "rgb" / f"{stem}.png", frame["rgb"])
        _write(root / "hha" / f"{stem}.png", frame["hha"])
        _write(root / "label" / f"{stem}.png", frame["label"])
        _write(root / "raw" / f"{stem}.png", frame["depth_mm"])
    _write(root / "hha" / "unpaired.png", frames[0]["hha"])  # no RGB partner: ignored
    return {"root": root, "main_dir": main_dir, "other_dir": other_dir, "main": main, "other": other}


def _keras_logits(model, rgb, depth=None):
    inputs = fx.normalized(rgb[None], fx.NORMALIZATION["rgb"])
    if depth is not None:
        inputs = {"rgb": inputs, "depth": fx.normalized(depth[None], fx.NORMALIZATION["hha"])}
    return model(inputs, training=False).numpy()[0]


def _ids_of_colours(colours, palette):
    """Class ids of a colourised label map (the palette's colours are distinct for the classes in use)."""
    codes = {tuple(int(c) for c in colour): k for k, colour in enumerate(palette[:NUM_CLASSES])}
    return np.array([codes[tuple(int(c) for c in pixel)] for pixel in colours.reshape(-1, 3)]).reshape(
        colours.shape[:2])


def test_predict_writes_palette_colours_overlays_and_error_maps(setup):
    root = setup["root"]
    out = root / "out"
    written = prediction.predict(prediction.PredictConfig(
        setup["main_dir"], str(root / "rgb"), str(out), depth=str(root / "hha"), label=str(root / "label"),
        compare_model_dir=setup["other_dir"], alpha=0.25, progress=False))
    assert [entry["stem"] for entry in written] == ["a", "b"]
    palette = palettes.voc_palette()
    palette[255] = (224, 224, 192)  # VOC's void colour: the ignore label differs from class 0 (black in VOC)
    legend = _read(out / "legend.png")
    assert legend.shape == (20 * (NUM_CLASSES + 1), 260, 3)
    for row, label in enumerate(list(range(NUM_CLASSES)) + [255]):  # one swatch per class, then ignore
        np.testing.assert_array_equal(legend[row * 20 + 10, 10], palette[label])
    for stem in ("a", "b"):
        rgb = _read(next(p for p in (root / "rgb").iterdir() if p.stem == stem))
        hha = _read(root / "hha" / f"{stem}.png")
        label = _read(root / "label" / f"{stem}.png")
        ids = _read(out / f"{stem}_class_ids.png")
        assert_class_ids_match(ids, _keras_logits(setup["main"], rgb, hha), LOGIT_TOLERANCE)
        other_logits = _keras_logits(setup["other"], rgb)
        colours = _read(out / f"{stem}_labels.png")
        np.testing.assert_array_equal(colours, palette[ids])
        other_colours = _read(out / f"{stem}_compare_labels.png")
        other_ids = _ids_of_colours(other_colours, palette)  # the compared model's ids as written
        np.testing.assert_array_equal(other_colours, palette[other_ids])
        assert_class_ids_match(other_ids, other_logits, LOGIT_TOLERANCE)
        np.testing.assert_array_equal(_read(out / f"{stem}_ground_truth.png"), palette[label])
        expected_overlay = np.rint(0.75 * rgb.astype(float) + 0.25 * palette[ids].astype(float))
        np.testing.assert_array_equal(_read(out / f"{stem}_overlay.png"), expected_overlay)
        errors = _read(out / f"{stem}_error_map.png")
        labelled = label != 255
        red = labelled & (ids != label)
        green = labelled & (ids == label) & (other_ids != label)
        assert red.any() and green.any()
        np.testing.assert_array_equal(errors[red], np.tile([255, 0, 0], (red.sum(), 1)))
        np.testing.assert_array_equal(errors[green], np.tile([0, 255, 0], (green.sum(), 1)))
        np.testing.assert_array_equal(errors[~labelled], np.tile([128, 128, 128], ((~labelled).sum(), 1)))
        np.testing.assert_array_equal(errors[labelled & ~red & ~green], 0)
    assert not (out / "unpaired_labels.png").exists()


def test_raw_depth_is_completed_and_hha_encoded_like_prepare_data(setup):
    root = setup["root"]
    raw_mm = _read(root / "raw" / "a.png")
    raw_mm[5:9, 10:20] = 0  # holes to complete
    _write(root / "raw" / "a.png", raw_mm)
    out = root / "out_raw"
    prediction.predict(prediction.PredictConfig(setup["main_dir"], str(root / "rgb" / "a.png"), str(out),
                                                depth=str(root / "raw" / "a.png"), intrinsics=INTRINSICS,
                                                progress=False))
    raw = raw_mm.astype(np.float32) / 1000.0
    completed = np.clip(complete_depth(raw, max_depth=10.0), 0.0, 10.0)
    matrix = np.array([[40.0, 0, 23.5], [0, 40.0, 15.5], [0, 0, 1]])
    hha = depth_to_hha(completed, matrix, measured_mask=raw > 0)
    np.testing.assert_array_equal(depth_input.model_depth_input(raw_mm, "hha", SIZE, matrix), hha)
    rgb = _read(root / "rgb" / "a.png")
    assert_class_ids_match(_read(out / "a_class_ids.png"), _keras_logits(setup["main"], rgb, hha), LOGIT_TOLERANCE)
    metres = depth_input.model_depth_input(raw_mm, "depth", SIZE)
    assert metres.shape == SIZE + (1,) and metres.dtype == np.float32
    np.testing.assert_allclose(metres[..., 0], completed)


def test_improvement_error_map_hand_made():
    label = np.array([[0, 1, 2], [255, 1, 0]])
    mine = np.array([[0, 2, 2], [1, 1, 1]])
    other = np.array([[1, 1, 2], [0, 0, 1]])
    got = error_map.improvement_error_map(label, mine, other)
    black, red, green, grey = (0, 0, 0), (255, 0, 0), (0, 255, 0), (128, 128, 128)
    expected = np.array([[green, red, black], [grey, green, red]], np.uint8)
    np.testing.assert_array_equal(got, expected)
    without_other = error_map.improvement_error_map(label, mine)
    np.testing.assert_array_equal(without_other, np.array([[black, red, black], [grey, black, red]], np.uint8))
    with pytest.raises(ValueError, match=r"label's shape \(2, 3\)"):
        error_map.improvement_error_map(label, mine[:1])
    np.testing.assert_array_equal(
        error_map.overlay(np.full((1, 1, 3), 100, np.uint8), np.full((1, 1, 3), 201, np.uint8), 0.5), [[[150, 150, 150]]]
    )
    with pytest.raises(ValueError, match="alpha must be a number in"):
        error_map.overlay(np.zeros((1, 1, 3)), np.zeros((1, 1, 3)), 1.5)


def test_pairing_and_intrinsics(setup, tmp_path):
    root = setup["root"]
    pairs = image_files.pair_files(str(root / "rgb"), str(root / "hha"), str(root / "label"))
    assert [stem for stem, _ in pairs] == ["a", "b"]
    assert pairs[1][1]["rgb"].endswith("b.jpg") and pairs[1][1]["depth"].endswith(os.path.join("hha", "b.png"))
    os.makedirs(tmp_path / "few")
    _write(tmp_path / "few" / "a.png", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match=r"no depth file .* for the RGB stem\(s\) \['b'\]"):
        image_files.pair_files(str(root / "rgb"), str(tmp_path / "few"))
    with pytest.raises(ValueError, match="both be files or both be directories"):
        image_files.pair_files(str(root / "rgb"), str(root / "hha" / "a.png"))
    np.testing.assert_array_equal(image_files.parse_intrinsics("10,20,3,4"), [[10, 0, 3], [0, 20, 4], [0, 0, 1]])
    (tmp_path / "intrinsic_depth.txt").write_text("5 0 2 0\n0 6 3 0\n0 0 1 0\n0 0 0 1\n")
    np.testing.assert_array_equal(image_files.parse_intrinsics(str(tmp_path / "intrinsic_depth.txt")),
                                  [[5, 0, 2], [0, 6, 3], [0, 0, 1]])
    with pytest.raises(ValueError, match="need 4, 9 or 16 numbers, received 3"):
        image_files.parse_intrinsics("1,2,3")


def test_clear_errors(setup, tmp_path):
    root = setup["root"]
    with pytest.raises(ValueError, match="the model uses depth"):
        prediction.predict(prediction.PredictConfig(setup["main_dir"], str(root / "rgb"), str(tmp_path / "o"),
                                                    progress=False))
    with pytest.raises(ValueError, match="needs the depth camera's intrinsics"):
        prediction.predict(prediction.PredictConfig(setup["main_dir"], str(root / "rgb" / "a.png"), str(tmp_path / "o"),
                                                    depth=str(root / "raw" / "a.png"), progress=False))
    with pytest.raises(FileNotFoundError, match="nowhere"):
        prediction.predict(prediction.PredictConfig(str(tmp_path / "nowhere"), str(root / "rgb"), str(tmp_path / "o")))
    with pytest.raises(ValueError, match="label .* must be an 8-bit single-channel"):
        image_files.read_label(str(root / "rgb" / "a.png"))


def test_label_values_outside_the_run_are_one_error_line(setup, tmp_path, capsys):
    """A 7 in the ground truth of a 3-class run is refused (it would be drawn like void and red in the error map):
    one line naming the file and the values, exit 1, before the model runs; the ignore label is fine."""
    root = setup["root"]
    label = _read(root / "label" / "a.png")
    assert (label == 255).any()
    bad = label.copy()
    bad[0, :2], bad[1, 0] = 7, NUM_CLASSES
    os.makedirs(tmp_path / "labels")
    _write(tmp_path / "labels" / "a.png", bad)
    predict = cli.exits_on_user_error(lambda argv: prediction.predict(prediction.PredictConfig(
        setup["main_dir"], str(root / "rgb" / "a.png"), str(tmp_path / "out"), depth=str(root / "hha" / "a.png"),
        label=str(tmp_path / "labels" / "a.png"), progress=False)))
    with pytest.raises(SystemExit) as exit_info:
        predict(["predict"])
    assert exit_info.value.code == 1
    error = capsys.readouterr().err
    path = str(tmp_path / "labels" / "a.png")
    assert error == (f"error: label {path!r} holds {NUM_CLASSES}, 7: not a class id of this {NUM_CLASSES}-class run "
                     f"(0..{NUM_CLASSES - 1}) nor its ignore label 255\n")
    assert not (tmp_path / "out").exists()  # nothing half-done
    np.testing.assert_array_equal(image_files.read_label(str(root / "label" / "a.png"), 255, NUM_CLASSES), label)


def test_depth_in_the_wrong_units_is_warned_about(setup, tmp_path, monkeypatch):
    """The frame's depth stored in 1/10 mm, predicted with --depth_units=mm: one warning naming the file and the flag
    (the prediction still runs on the pixels within max_depth); in its units, no warning."""
    root = setup["root"]
    tenths = _read(root / "raw" / "b.png").astype(np.int64) * 10  # 0.5-5 m: 5-50 m read as mm
    os.makedirs(tmp_path / "depth")
    _write(tmp_path / "depth" / "b.png", tenths.astype(np.uint16))
    warned = []
    monkeypatch.setattr(depth_input.logging, "warning", lambda message, *args: warned.append(message % args))
    for units, out in (("mm", "wrong"), ("1e-4m", "right")):
        prediction.predict(prediction.PredictConfig(setup["main_dir"], str(root / "rgb" / "b.jpg"), str(tmp_path / out),
                                                    depth=str(tmp_path / "depth" / "b.png"), intrinsics=INTRINSICS,
                                                    depth_units=units, progress=False))
    assert len(warned) == 1, warned
    assert str(tmp_path / "depth" / "b.png") in warned[0] and "check --depth_units" in warned[0]
