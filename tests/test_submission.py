"""Benchmark submissions from an official-layout Cityscapes fixture: prepare (the test split has no labels) →
predict --format=cityscapes → cityscapesScripts' own pixel-level evaluator scores the val submission with the mIoU
that evaluate --full_resolution reports; the files are labelIds at the native size, one per frame, named as the
evaluator matches them.  ScanNet: NYU40 ids at 640x480, named {scene}_{frame:06d}.png."""

import glob
import os
import re

import cv2
import numpy as np
import pytest


from rfbnet_tf.datasets import preparation
from rfbnet_tf.drawing import palettes
from rfbnet_tf.datasets import cityscapes, records, scannet
from rfbnet_tf.evaluation.evaluator import EvaluationConfig, evaluate
from rfbnet_tf.evaluation import submission
from tests import fixture_trees, train_fixtures
from tests import run_dir_fixtures as fx
from tests import short_backbones

_fast_graphs = pytest.fixture(scope="module", autouse=True)(train_fixtures.fast_graphs)

# The short ERFNetEnc (tests/short_backbones.py): no assertion here depends on the backbone's depth.
_short_erfnet = pytest.fixture(scope="module", autouse=True)(short_backbones.short_erfnet)

# cityscapesScripts helpers/labels.py: the 19 evaluated label ids in train-id order (hand copy).
EVALUATED_LABEL_IDS = [7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33]


@pytest.fixture(scope="module")
def cityscapes_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("cityscapes_submission")
    tree = str(root / "download")
    truth = fixture_trees.write_cityscapes_tree(
        tree, {"train": {"aachen": 1}, "val": {"frankfurt": 2}, "test": {"berlin": 1}}, unlabelled=("test",))
    record_dir = str(root / "records")
    preparation.prepare("cityscapes", record_dir, input_dir=tree, splits=("train", "val", "test"), num_workers=1,
                         progress=False)
    model_dir = str(root / "run")
    # Trained at half the stored size: the full-resolution path resizes the logits to 64x128.
    fx.make_run_dir(model_dir, fx.run_config(record_dir, model="erfnet_enc", model_options={"modality": "rgb"},
                                             image_size=(32, 64), class_names=cityscapes.CLASS_NAMES), seed=3)
    return {"root": root, "tree": tree, "truth": truth, "record_dir": record_dir, "model_dir": model_dir}


def test_label_tables_and_palette_match_cityscapes_scripts():
    from cityscapesscripts.helpers import labels

    by_train_id = {label.trainId: label for label in labels.labels if label.trainId not in (255, -1)}
    assert list(cityscapes.TRAIN_ID_TO_LABEL_ID) == [by_train_id[k].id for k in range(19)]
    assert list(cityscapes.TRAIN_ID_TO_LABEL_ID) == EVALUATED_LABEL_IDS
    assert [tuple(by_train_id[k].color) for k in range(19)] == list(cityscapes.PALETTE)


def test_cityscapes_submission_scored_by_cityscapes_scripts_equals_evaluate(cityscapes_run, tmp_path):
    from cityscapesscripts.evaluation import evalPixelLevelSemanticLabeling as cs_eval

    run = cityscapes_run
    out = str(tmp_path / "val_submission")
    written = submission.write_submission(run["model_dir"], run["record_dir"], "val", "cityscapes", out,
                                          progress=False)
    assert sorted(os.listdir(out)) == ["frankfurt_000000_000019_labelIds.png", "frankfurt_000001_000020_labelIds.png"]
    assert sorted(written) == sorted(glob.glob(os.path.join(out, "*.png")))
    for path in written:
        ids = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        assert ids.dtype == np.uint8 and ids.shape == fixture_trees.CITYSCAPES_SIZE  # native size, one channel
        assert set(np.unique(ids)) <= set(EVALUATED_LABEL_IDS)  # label ids, not train ids
        assert len(np.unique(ids)) > 1
    expected = evaluate(EvaluationConfig(run["model_dir"], split="val", full_resolution=True,
                                         output_dir=str(tmp_path / "eval"),
                                         progress=False))

    args = cs_eval.args
    args.predictionPath, args.predictionWalk = out, None
    args.evalInstLevelScore, args.JSONOutput, args.quiet = False, False, True
    ground_truth = sorted(glob.glob(os.path.join(run["tree"], "gtFine", "val", "*", "*_gtFine_labelIds.png")))
    predictions = [cs_eval.getPrediction(args, path) for path in ground_truth]
    scores = cs_eval.evaluateImgLists(predictions, ground_truth, args)
    assert scores["averageScoreClasses"] == pytest.approx(expected["miou"], abs=1e-6)
    per_class = [expected["per_class_iou"][name] for name in cityscapes.CLASS_NAMES]
    theirs = [scores["classScores"][name] for name in cityscapes.CLASS_NAMES]
    np.testing.assert_allclose(np.array(theirs, float), np.array([np.nan if v is None else v for v in per_class]),
                               atol=1e-6)


def test_unlabelled_test_split_is_prepared_and_submitted(cityscapes_run, tmp_path):
    run = cityscapes_run
    info = records.load_dataset_info(run["record_dir"])
    assert info["splits"]["test"]["num_examples"] == 1
    assert info["palette"] == [list(c) for c in cityscapes.PALETTE] and info["resized_to"] is None
    (example,) = fixture_trees.read_records(run["record_dir"], "test")
    assert np.all(example["label"] == 255)  # no labels: everything ignore
    out = str(tmp_path / "test_submission")
    (path,) = submission.write_submission(run["model_dir"], run["record_dir"], "test", "cityscapes", out,
                                          progress=False)
    assert re.fullmatch(r"berlin_000000_000019.*\.png", os.path.basename(path))
    with pytest.raises(FileExistsError, match="already exists and is not empty"):
        submission.write_submission(run["model_dir"], run["record_dir"], "test", "cityscapes", out, progress=False)
    with pytest.raises(ValueError, match="needs scannet records"):
        submission.write_submission(run["model_dir"], run["record_dir"], "test", "scannet", str(tmp_path / "s"))
    with pytest.raises(FileNotFoundError, match="split 'nope'"):
        submission.write_submission(run["model_dir"], run["record_dir"], "nope", "cityscapes", str(tmp_path / "n"))
    assert sorted(os.listdir(tmp_path)) == ["test_submission"]  # failures leave no directory behind


def test_run_carries_the_dataset_palette_and_predict_draws_with_it(cityscapes_run, tmp_path):
    from rfbnet_tf import rundir

    info = rundir.facts.load_run_info(cityscapes_run["model_dir"])
    palette = palettes.run_palette(info["palette"])
    np.testing.assert_array_equal(palette[:19], cityscapes.PALETTE)
    assert palette[255].tolist() == [0, 0, 0] and palette[0].tolist() != [0, 0, 0]
    for dataset in (cityscapes, scannet):
        colours = np.asarray(dataset.PALETTE)
        assert len({tuple(c) for c in colours}) == len(dataset.CLASS_NAMES)  # distinct, none black
        assert not np.any(np.all(colours == 0, axis=1))
    assert scannet.PALETTE[0] == (174, 199, 232) and scannet.PALETTE[-1] == (82, 84, 163)  # wall, otherfurniture


def test_scannet_submission_names_ids_and_size():
    assert submission.submission_name("scannet", "scene0707_00/1200") == "scene0707_00_001200.png"
    assert submission.submission_name("cityscapes", "berlin_000000_000019") == "berlin_000000_000019_labelIds.png"
    train_ids = np.array([[0, 19], [16, 2]], np.uint8)
    ids = submission.benchmark_ids("scannet", np.kron(train_ids, np.ones((240, 320), np.uint8)))
    assert ids.shape == (480, 640)
    np.testing.assert_array_equal(ids[::240, ::320], [[1, 39], [33, 3]])  # NYU40 ids of wall, otherfurn, toilet, cabinet
    small = submission.benchmark_ids("scannet", train_ids)  # another stored size: resized to 640x480 (nearest)
    assert small.shape == (480, 640) and small[0, 0] == 1 and small[-1, -1] == 3
