"""NYUv2's 894 raw classes end to end: 16-bit label records (ignore 65535, where 255 is a class) through prepare,
the input pipeline, augmentation, loss and metrics, a tiny train + evaluate run and predict's pictures.

The records are written once (module fixture) from the official-format tree of tests/rgbd_fixtures.py at 48×64, a
tenth of 480×640 in both axes: output pixel (r, c) samples source pixel (10r + 5, 10c + 5)."""

import os

import cv2
import numpy as np
import pytest
import tensorflow as tf

from rfbnet_tf import metrics

from rfbnet_tf.datasets import preparation
from rfbnet_tf.drawing import palettes
from rfbnet_tf.datasets import augment, nyuv2, pipeline, records
from rfbnet_tf.training import losses
from tests import fixture_trees, rgbd_fixtures, train_fixtures
from tests import short_backbones

SIZE = (48, 64)
PICKS = (slice(5, None, 10), slice(5, None, 10))
IGNORE = 65535

# The short ERFNetEnc (tests/short_backbones.py): no assertion here depends on the backbone's depth.
_short_erfnet = pytest.fixture(scope="module", autouse=True)(short_backbones.short_erfnet)


def expected_train_ids(truth, frame):
    """Train ids of 1-based ``frame`` at SIZE, computed here: raw id k → k − 1; 0 and the border outside MATLAB rows
    45..471, columns 41..601 → 65535."""
    raw = truth["labels"][frame - 1].astype(np.int64)
    rows, cols = np.meshgrid(np.arange(1, 481), np.arange(1, 641), indexing="ij")  # MATLAB indices
    inside = (rows >= 45) & (rows <= 471) & (cols >= 41) & (cols <= 601)
    return np.where(inside & (raw > 0), raw - 1, IGNORE)[PICKS]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("nyuv2_tree"))
    truth = rgbd_fixtures.write_nyuv2_tree(root)
    out = str(tmp_path_factory.mktemp("nyuv2_894"))
    summary = preparation.prepare("nyuv2", out, input_dir=root, splits=("train", "test"), num_workers=1,
                                   progress=False, image_size=SIZE, nyuv2_classes=894)
    return root, truth, out, summary


def test_records_keep_raw_ids_above_255_pixel_by_pixel(prepared):
    _, truth, out, summary = prepared
    info = records.load_dataset_info(out)
    assert info["num_classes"] == 894 and info["label_bits"] == 16 and info["ignore_label"] == IGNORE
    assert summary["label_bits"] == 16 and '"classes": 894' in info["created_by"]
    # allClassName of the fixture's classMapping40.mat: "raw1" .. "raw894"
    assert info["class_names"] == [f"raw{k}" for k in range(1, 895)]
    # palette: train id t has the VOC colour of t + 1 (bits 3b, 3b+1, 3b+2 of the id → bit 7 − b of R, G, B)
    assert info["palette"][0] == [128, 0, 0] and info["palette"][299] == [64, 0, 128 + 64 + 32]  # 300 = 0b100101100
    assert info["palette"][893] == [64 + 32 + 16, 128 + 64, 128 + 64 + 32]  # 894 = 0b1101111110
    assert len({tuple(c) for c in info["palette"]}) == 894 and [0, 0, 0] not in info["palette"]
    parsed = {**fixture_trees.read_records_by_name(out, "train"), **fixture_trees.read_records_by_name(out, "test")}
    assert sorted(parsed) == ["0001", "0002", "0003", "0004", "0005"]
    for name, got in parsed.items():
        assert got["label"].dtype == np.uint16
        np.testing.assert_array_equal(got["label"][..., 0], expected_train_ids(truth, int(name)))
    stored = np.concatenate([got["label"].ravel() for got in parsed.values()])
    assert {299, 893, 255, 254, IGNORE} <= set(stored.tolist())  # raw ids 300, 894, 256, 255 and the ignore label
    train = np.concatenate([parsed[n]["label"].ravel() for n in ("0001", "0003", "0004")]).astype(np.int64)
    assert info["class_histogram"]["train"] == np.bincount(train[train != IGNORE], minlength=894).tolist()


def test_names_repeated_in_all_class_name_get_their_raw_id(tmp_path):
    import scipy.io

    names = [f"raw{k}" for k in range(1, 895)]
    names[9] = names[299] = "lamp"
    names[5] = " "
    scipy.io.savemat(str(tmp_path / "classMapping40.mat"), {"allClassName": rgbd_fixtures._cell(names)})
    got = nyuv2.class_names(894, str(tmp_path))
    assert got[9] == "lamp #10" and got[299] == "lamp #300" and got[5] == "class 6" and len(set(got)) == 894
    scipy.io.savemat(str(tmp_path / "classMapping40.mat"), {"allClassName": rgbd_fixtures._cell(names[:40])})
    nyuv2.raw_class_names.cache_clear()
    with pytest.raises(ValueError, match="allClassName' must name the 894 raw classes, got 40"):
        nyuv2.class_names(894, str(tmp_path))
    with pytest.raises(ValueError, match="--input_dir is required for dataset 'nyuv2'"):
        preparation.prepare("nyuv2", str(tmp_path / "out"), nyuv2_classes=894, progress=False)


def test_pipeline_keeps_ids_and_ignore_and_pads_with_65535(prepared):
    _, truth, out, _ = prepared
    labels = [label.numpy() for _, label in pipeline.make_dataset(out, "test", batch_size=1, training=False)]
    np.testing.assert_array_equal(labels[0][0], expected_train_ids(truth, 2))  # test = frames 2, 5
    assert labels[0].dtype == np.int32
    # zoom-out by 0.5 into a 48×64 crop: the frame covers a 24×32 part, the rest is padding
    config = augment.AugmentConfig.disabled(scale_range=(0.5, 0.5), crop_size=SIZE)
    batch = next(iter(pipeline.make_dataset(out, "test", batch_size=2, training=True, augment=config, seed=1)))
    padded = batch[1].numpy()
    assert (padded == IGNORE).mean() > 0.7  # a fill of 255 would be class 255
    assert set(np.unique(padded)) <= set(range(894)) | {IGNORE}


@pytest.mark.parametrize("dtype, fill, first", [(tf.uint16, 65535, 250), (tf.uint8, 255, 240)])
def test_augmentation_fill_is_the_ignore_label_of_the_dtype(dtype, fill, first):
    label = tf.cast(tf.reshape(tf.range(12) + first, [3, 4, 1]), dtype)  # uint16: 250..261, 255 a class
    example = {"label": label, "rgb": tf.zeros([3, 4, 3], tf.uint8)}
    fused = augment.random_crop(example, 0, (5, 6))["label"]  # static sizes: the XLA kernel

    @tf.function(input_signature=[tf.TensorSpec([None, None, 1], dtype), tf.TensorSpec([None, None, 3], tf.uint8)])
    def dynamic(label, rgb):  # unknown input size: ImageProjectiveTransformV3
        return augment.random_crop({"label": label, "rgb": rgb}, 0, (5, 6))["label"]

    for got in (fused, dynamic(label, example["rgb"])):
        got = got.numpy()[..., 0]
        assert got.dtype == dtype.as_numpy_dtype and (got == fill).sum() == 30 - 12
        assert sorted(got[got != fill].tolist()) == sorted(label.numpy().ravel().tolist())
    assert augment.label_fill(dtype) == fill


def test_loss_and_metrics_ignore_65535_and_count_class_255():
    rng = np.random.default_rng(0)
    num_classes = 300
    labels = rng.choice([3, 255, 299, IGNORE], size=(2, 4, 5))
    logits = rng.normal(size=(2, 4, 5, num_classes)).astype(np.float32)
    valid = labels != IGNORE
    flat_logits, flat_labels = logits[valid], labels[valid]
    log_softmax = flat_logits - np.log(np.exp(flat_logits).sum(-1, keepdims=True))
    expected = -log_softmax[np.arange(flat_labels.size), flat_labels].sum()
    total, count = losses.cross_entropy_sums(labels, logits, ignore_label=IGNORE)
    assert float(count) == valid.sum() and (labels == 255).sum() > 0
    np.testing.assert_allclose(float(total), expected, rtol=1e-5)
    predictions = rng.choice([3, 255, 299], size=labels.shape)
    confusion = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(confusion, (labels[valid], predictions[valid]), 1)
    np.testing.assert_array_equal(metrics.confusion_matrix(labels, predictions, num_classes, IGNORE), confusion)
    metric = metrics.MeanIoUMetric(num_classes, ignore_label=IGNORE)
    metric.update_state(labels, predictions)
    np.testing.assert_array_equal(metric.confusion(), confusion)
    assert confusion[255].sum() == (labels == 255).sum()


@pytest.fixture(scope="module")
def trained(prepared, tmp_path_factory):
    from rfbnet_tf.evaluation import evaluator
    from rfbnet_tf.training.trainer import train

    gen = train_fixtures.fast_graphs()
    next(gen)
    try:
        _, _, out, _ = prepared
        model_dir = str(tmp_path_factory.mktemp("run894") / "run")
        flags_ = dict(train_fixtures.TINY_RUN, record_dir=out, model_dir=model_dir, model="erfnet_enc", steps=2,
                      augment=True, crop_size=[32, 48], val_split="test", image_summary_every=2)
        summary = train(flags_)
        result = evaluator.evaluate(evaluator.EvaluationConfig(model_dir, split="test", progress=False))
    finally:
        next(gen, None)
    return model_dir, summary, result


def test_train_and_evaluate_on_16_bit_records(prepared, trained):
    _, truth, _, _ = prepared
    model_dir, summary, result = trained
    assert summary["step"] == 2 and all(np.isfinite(summary["losses"]))
    # every labelled test pixel is scored once, in its class's row; 65535 in none, 255 (raw id 256) in row 255
    truth_ids = np.concatenate([expected_train_ids(truth, f).ravel() for f in (2, 5)]).astype(np.int64)
    rows = np.asarray(result["confusion_matrix"]).sum(axis=1)
    np.testing.assert_array_equal(rows, np.bincount(truth_ids[truth_ids != IGNORE], minlength=894))
    assert rows[255] > 0 and result["num_examples"] == 2
    image = cv2.imread(os.path.join(model_dir, "eval", "test_confusion.png"))
    assert image.shape[0] < 4000  # 4-pixel cells, no names


def test_predict_writes_16_bit_ids_and_colours_classes_above_255(prepared, trained, tmp_path):
    from rfbnet_tf.inference import prediction
    from rfbnet_tf.drawing import error_map

    _, truth, out, _ = prepared
    model_dir, _, _ = trained
    frame = fixture_trees.read_records_by_name(out, "test")["0002"]
    label = frame["label"][..., 0]
    for kind, image in (("rgb", cv2.cvtColor(frame["rgb"], cv2.COLOR_RGB2BGR)), ("label", label)):
        os.makedirs(tmp_path / kind)
        cv2.imwrite(str(tmp_path / kind / "f.png"), image)
    written = prediction.predict(prediction.PredictConfig(model_dir, str(tmp_path / "rgb"), str(tmp_path / "pred"),
                                                          label=str(tmp_path / "label"), progress=False))
    files = written[0]["files"]
    ids = cv2.imread(files["class_ids"], cv2.IMREAD_UNCHANGED)
    assert ids.dtype == np.uint16 and ids.shape == SIZE and ids.max() < 894
    # ground truth colours by hand: VOC colour of the raw id (= train id + 1), the ignore label black
    colours = cv2.cvtColor(cv2.imread(files["ground_truth"]), cv2.COLOR_BGR2RGB)
    ignored = label == IGNORE
    np.testing.assert_array_equal(colours[ignored], 0)
    raw = label[~ignored].astype(np.int64) + 1
    by_hand = np.stack([sum(((raw >> (3 * b + c)) & 1) << (7 - b) for b in range(8)) for c in range(3)], -1)
    np.testing.assert_array_equal(colours[~ignored], by_hand)
    errors = cv2.cvtColor(cv2.imread(files["error_map"]), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(errors[ignored], np.broadcast_to(error_map.IGNORE_COLOUR, (ignored.sum(), 3)))
    assert not (errors[label == 255] == error_map.IGNORE_COLOUR).all(-1).any()  # 255 is a class here
    legend = cv2.imread(os.path.join(tmp_path / "pred", prediction.LEGEND_FILENAME))
    assert legend.shape[0] == 20 * 895
    eight_bit = tmp_path / "label8"
    os.makedirs(eight_bit)
    cv2.imwrite(str(eight_bit / "f.png"), np.minimum(label, 254).astype(np.uint8))
    with pytest.raises(ValueError, match="must be a 16-bit single-channel train-id PNG \\(ignore label 65535\\)"):
        prediction.predict(prediction.PredictConfig(model_dir, str(tmp_path / "rgb"), str(tmp_path / "pred8"),
                                                    label=str(eight_bit),
                                                    progress=False))


def test_colorize_with_the_ignore_label_65535():
    labels = np.array([[0, 255, 893, IGNORE]])
    palette = palettes.run_palette(nyuv2.PALETTE_894.tolist(), IGNORE)
    assert palette.shape == (65536, 3)
    image = palettes.colorize(labels, palette, IGNORE)
    np.testing.assert_array_equal(image[0], [nyuv2.PALETTE_894[0], nyuv2.PALETTE_894[255], nyuv2.PALETTE_894[893],
                                             [0, 0, 0]])
    np.testing.assert_array_equal(palettes.colorize(labels, nyuv2.PALETTE_894, IGNORE), image)  # short palette
    default = palettes.colorize(labels, None, IGNORE)  # VOC colours of every id, the ignore label black
    np.testing.assert_array_equal(default[0], [[0, 0, 0], [224, 224, 192], palettes.voc_colours(893), [0, 0, 0]])
    with pytest.raises(ValueError, match="needs the ignore label 255"):
        palettes.run_palette("voc", IGNORE)
