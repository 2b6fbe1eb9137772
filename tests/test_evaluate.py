"""rfbnet_tf.evaluate on a tiny hand-written record set: mIoU against an independent numpy computation
(training-size and full-resolution scoring), the JSON and PNG outputs, the console table, clear errors;
the confusion-matrix image."""

import json
import os

import cv2
import numpy as np
import pytest
import tensorflow as tf


from rfbnet_tf.evaluation import evaluator
from rfbnet_tf.drawing import confusion_plot
from tests import run_dir_fixtures as fx
from tests import short_backbones
from tests.label_checks import assert_confusion_matches

# The short ERFNetEnc (tests/short_backbones.py): no assertion here depends on the backbone's depth.
_short_erfnet = pytest.fixture(scope="module", autouse=True)(short_backbones.short_erfnet)

STORED = (40, 56)  # stored frames: not a valid model size (the full-resolution path resizes back to it)
MODEL_SIZE = (32, 48)  # the run's training image_size


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluate")
    record_dir = str(root / "records")
    frames = fx.random_frames(1, 3, STORED)
    fx.write_records(record_dir, {"val": frames})
    config = fx.run_config(record_dir, image_size=MODEL_SIZE)
    model_dir = str(root / "run")
    model = fx.make_run_dir(model_dir, config, step=7, seed=2)
    return {"model_dir": model_dir, "record_dir": record_dir, "frames": frames, "model": model}


def _reference_logits(model, frames):
    """Independent path: numpy frames → bilinear resize to the model size, rounded → normalise → model."""
    stats = fx.NORMALIZATION
    rgb = np.stack([f["rgb"] for f in frames]).astype(np.float32)
    hha = np.stack([f["hha"] for f in frames]).astype(np.float32)
    # the records hold uint8 images: the pipeline rounds them back to integers after resizing
    rgb = np.clip(np.rint(tf.image.resize(rgb, MODEL_SIZE, method="bilinear").numpy()), 0, 255)
    hha = np.clip(np.rint(tf.image.resize(hha, MODEL_SIZE, method="bilinear").numpy()), 0, 255)
    inputs = {"rgb": fx.normalized(rgb, stats["rgb"]), "depth": fx.normalized(hha, stats["hha"])}
    return model(inputs, training=False)


def _miou_of_confusion(confusion):
    """VOC mIoU of a confusion matrix by hand (classes absent from labels and predictions dropped)."""
    ious = []
    for k in range(confusion.shape[0]):
        union = confusion[k, :].sum() + confusion[:, k].sum() - confusion[k, k]
        if union:
            ious.append(confusion[k, k] / union)
    return float(np.mean(ious))


def test_miou_matches_numpy_at_training_size(run, capsys):
    result = evaluator.evaluate(evaluator.EvaluationConfig(run["model_dir"], progress=False))
    logits = _reference_logits(run["model"], run["frames"])
    predictions = np.argmax(logits.numpy(), axis=-1)
    labels = np.stack([
        tf.image.resize(f["label"][..., None], MODEL_SIZE, method="nearest").numpy()[..., 0] for f in run["frames"]
    ])
    assert len(np.unique(predictions)) >= 2  # a non-trivial prediction
    # argmax may flip at near-ties on another CPU kernel: the matrix must match everywhere else.
    assert_confusion_matches(result["confusion_matrix"], labels, logits.numpy())
    miou_of_result = _miou_of_confusion(np.array(result["confusion_matrix"]))
    assert result["miou"] == pytest.approx(miou_of_result, abs=1e-12)
    matrix = np.array(result["confusion_matrix"])
    assert result["pixel_accuracy"] == pytest.approx(np.trace(matrix) / matrix.sum(), abs=1e-12)
    recalls = [matrix[k, k] / matrix[k].sum() for k in range(len(matrix)) if matrix[k].sum()]
    assert result["mean_class_accuracy"] == pytest.approx(np.mean(recalls), abs=1e-12)
    assert [v for v in result["per_class_accuracy"].values() if v is not None] == pytest.approx(recalls, abs=1e-12)
    assert result["checkpoint_step"] == 7 and result["num_examples"] == 3 and not result["full_resolution"]
    assert result["class_names"] == fx.CLASS_NAMES and result["split"] == "val"

    eval_dir = os.path.join(run["model_dir"], "eval")
    with open(os.path.join(eval_dir, "val.json"), encoding="utf-8") as handle:
        stored = json.load(handle)
    assert stored["miou"] == pytest.approx(result["miou"], abs=1e-12)
    assert set(stored["per_class_iou"]) == set(fx.CLASS_NAMES)
    assert stored["record_dir"] == os.path.abspath(run["record_dir"])
    image = cv2.imread(os.path.join(eval_dir, "val_confusion.png"))
    assert image is not None and image.ndim == 3
    table = capsys.readouterr().out
    assert "mean IoU" in table and f"{100 * result['miou']:6.2f}" in table and "chair" in table


def test_full_resolution_scores_resized_logits_against_stored_labels(run):
    result = evaluator.evaluate(evaluator.EvaluationConfig(run["model_dir"], full_resolution=True, progress=False))
    logits = _reference_logits(run["model"], run["frames"])
    labels = np.stack([f["label"] for f in run["frames"]])
    matrix = np.array(result["confusion_matrix"])
    assert matrix.sum() == np.count_nonzero(labels != 255)  # every stored labelled pixel counted
    resized = tf.image.resize(logits, STORED, method="bilinear").numpy()
    assert_confusion_matches(matrix, labels, resized)
    assert result["miou"] == pytest.approx(_miou_of_confusion(matrix), abs=1e-12)
    assert result["full_resolution"]
    assert os.path.isfile(os.path.join(run["model_dir"], "eval", "val_full_resolution.json"))


def test_clear_errors(run, tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        evaluator.evaluate(evaluator.EvaluationConfig(str(tmp_path / "nowhere")))
    with pytest.raises(FileNotFoundError, match=r"'test'.*available splits: \['val'\]"):
        evaluator.evaluate(evaluator.EvaluationConfig(run["model_dir"], split="test"))
    with pytest.raises(ValueError, match="batch_size must be 1"):
        evaluator.evaluate(evaluator.EvaluationConfig(run["model_dir"], full_resolution=True, batch_size=2))
    with pytest.raises(FileNotFoundError, match="flags.json"):
        os.makedirs(tmp_path / "empty")
        evaluator.evaluate(evaluator.EvaluationConfig(str(tmp_path / "empty")))


def test_format_table_marks_absent_classes():
    table = evaluator.format_table(["a", "bb"], [0.5, float("nan")], 0.5, 0.75)
    lines = table.splitlines()
    assert lines[1].split() == ["a", "50.00"] and lines[2].split() == ["bb", "n/a"]
    assert lines[-2].split()[-1] == "50.00" and lines[-1].split()[-1] == "75.00"
    with_class_accuracy = evaluator.format_table(["a", "bb"], [0.5, float("nan")], 0.5, 0.75, 0.625).splitlines()
    assert with_class_accuracy[-1].split() == ["mean", "class", "acc.", "62.50"]


def test_confusion_image_cells_are_row_normalised_colours():
    confusion = np.array([[3, 1, 0], [0, 0, 0], [2, 2, 4]])
    image, (top, left) = confusion_plot.render_confusion(confusion, ["x", "y", "z"], cell=30)
    expected = {(0, 0): 0.75, (0, 1): 0.25, (0, 2): 0.0, (2, 0): 0.25, (2, 2): 0.5}
    for (i, j), value in expected.items():
        colour = np.rint(255 + (np.array([8, 48, 107]) - 255) * value)
        np.testing.assert_array_equal(image[top + i * 30 + 2, left + j * 30 + 2], colour)
    np.testing.assert_array_equal(image[top + 30 + 2, left + 2], confusion_plot.EMPTY_ROW_COLOUR)  # no ground truth
    np.testing.assert_allclose(confusion_plot.row_normalize(confusion)[2], [0.25, 0.25, 0.5])
    with pytest.raises(ValueError, match="need 3 class names"):
        confusion_plot.render_confusion(confusion, ["x"])
