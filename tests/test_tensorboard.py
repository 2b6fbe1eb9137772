"""What TensorBoard shows of a run, read back with TensorBoard's own event reader, and ``predict --gates``.

A tiny RFBNet run (short ERFNetEnc: 4 residual fusion blocks, 64x80 synthetic frames, 2 steps, validation at both):
every tag (headline section first, train and val under one tag, per-class IoU, loss terms, images, one gate image
per block) is read by ``plugin_event_accumulator`` (the reader TensorBoard's plugins use); the label images use the
run's palette; the gate figures of ``predict --gates`` hold the model's own gate outputs (read back through the
colour map from the figure's pixels), and TensorBoard's gate images equal them.
"""

import os

import cv2
import numpy as np
import pytest

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing import plugin_event_accumulator  # noqa: E402
from tensorboard.util import tensor_util  # noqa: E402

from rfbnet_tf import cli, rundir  # noqa: E402
from rfbnet_tf.drawing import gate_figures
from rfbnet_tf.datasets import pipeline, synthetic  # noqa: E402
from rfbnet_tf.training import summaries  # noqa: E402
from tests import run_dir_fixtures, short_backbones, train_fixtures  # noqa: E402

SIZE = (64, 80)  # the depth stream runs at 1/16: 4x5 gate maps
BLOCKS = [f"rfb_s0_u{i}" for i in range(len(short_backbones.SHORT_FUSED_DILATIONS))]
TOLERANCE = 0.015  # gate values read back through the 8-bit colour map and the 8-bit blend (measured <= 0.0098)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from rfbnet_tf.datasets.preparation import prepare
    from rfbnet_tf.training.trainer import train

    root = tmp_path_factory.mktemp("tensorboard")
    records = str(root / "records")
    prepare("synthetic", records, synthetic_train=4, synthetic_val=2, synthetic_size=SIZE, num_workers=1,
            progress=False)
    graphs, short = train_fixtures.fast_graphs(), short_backbones.short_erfnet()
    next(graphs)
    next(short)
    try:
        model_dir = str(root / "run")
        summary = train(dict(train_fixtures.TINY_RUN, record_dir=records, model_dir=model_dir,
                             model="rfbnet_erfnet_enc", image_size=list(SIZE), steps=2, summary_every=1, val_every=1,
                             image_summary_every=2, num_summary_images=2, val_batch_size=2))
        yield {"root": root, "records": records, "model_dir": model_dir, "summary": summary}
    finally:
        next(short, None)
        next(graphs, None)


def _reader(model_dir, name):
    reader = plugin_event_accumulator.EventAccumulator(os.path.join(model_dir, "logs", name),
                                                       size_guidance={"tensors": 0})
    reader.Reload()
    return reader


def _scalars(reader):
    return {tag: {event.step: float(tensor_util.make_ndarray(event.tensor_proto)) for event in reader.Tensors(tag)}
            for tag in reader.PluginTagToContent("scalars")}


def _images(reader, tag):
    """``{step: [decoded RGB image, ...]}`` of an image tag (the tensor ``[width, height, png, ...]``)."""
    out = {}
    for event in reader.Tensors(tag):
        blobs = tensor_util.make_ndarray(event.tensor_proto)
        width, height = int(blobs[0]), int(blobs[1])
        decoded = [cv2.imdecode(np.frombuffer(blob, np.uint8), cv2.IMREAD_COLOR)[..., ::-1] for blob in blobs[2:]]
        assert all(image.shape[:2] == (height, width) for image in decoded)
        out[event.step] = decoded
    return out


def _val_batch(records, count=2):
    inputs, labels = next(iter(pipeline.make_dataset(records, "val", batch_size=count, training=False,
                                                     image_size=SIZE, depth_input="hha")))
    return {k: v.numpy() for k, v in inputs.items()}, labels.numpy()


def test_every_tag_is_written_in_its_section_and_read_by_tensorboard(run):
    summary, model_dir = run["summary"], run["model_dir"]
    train, val = _scalars(_reader(model_dir, "train")), _scalars(_reader(model_dir, "val"))
    headline = {"1_headline/loss", "1_headline/miou", "1_headline/pixel_accuracy"}
    assert headline | {"1_headline/learning_rate"} <= set(train) and headline <= set(val)
    assert {"3_training/total_loss", "3_training/weight_decay", "3_training/steps_per_second"} <= set(train)
    for scalars in (train, val):
        assert all(scalars[tag].keys() == {1, 2} for tag in scalars)  # summary_every = val_every = 1
    # TensorBoard's sections are the prefixes, in alphabetical order: the headline comes first.
    assert sorted({tag.split("/")[0] for tag in train}) == ["1_headline", "2_class_iou", "3_training"]
    # Per-class IoU of every class that has one (an absent class's NaN is left out).
    present = [name for name, iou in zip(synthetic.CLASS_NAMES, summary["val_per_class_iou"]) if iou is not None]
    assert sorted(tag for tag in val if tag.startswith("2_class_iou/")) == sorted(f"2_class_iou/{n}" for n in present)
    for name, iou in zip(synthetic.CLASS_NAMES, summary["val_per_class_iou"]):
        if iou is not None:
            assert val[f"2_class_iou/{name}"][2] == pytest.approx(iou, abs=1e-6)
    assert val["1_headline/miou"][2] == pytest.approx(summary["val_miou"], abs=1e-6)
    assert val["1_headline/loss"][2] == pytest.approx(summary["val_loss"], rel=1e-5)
    assert val["1_headline/pixel_accuracy"][2] == pytest.approx(summary["val_pixel_accuracy"], abs=1e-6)
    # The train headline loss is the cross-entropy: the total loss less the weight decay (one step per window).
    for step in (1, 2):
        assert train["3_training/total_loss"][step] == pytest.approx(summary["losses"][step - 1], rel=1e-5)
        assert train["1_headline/loss"][step] + train["3_training/weight_decay"][step] == pytest.approx(
            train["3_training/total_loss"][step], rel=1e-5)
    reader = _reader(model_dir, "val")
    assert set(reader.PluginTagToContent("images")) == {
        "4_images/rgb", "4_images/depth", "4_images/ground_truth", "4_images/prediction",
        *(f"5_gates/{block}" for block in BLOCKS)}
    for block in BLOCKS:
        figures = _images(reader, f"5_gates/{block}")[2]
        assert len(figures) == 2 and figures[0].shape[:2] == gate_figures.block_layout(SIZE, gate_figures.GRID)["size"]


def test_label_images_use_the_run_palette(run):
    reader = _reader(run["model_dir"], "val")
    _, labels = _val_batch(run["records"])
    palette = np.asarray(synthetic.PALETTE, np.uint8)
    truth = _images(reader, "4_images/ground_truth")[2]
    for image, label in zip(truth, labels):
        np.testing.assert_array_equal(image, palette[label])
    assert (labels == 0).any() and np.all(palette[0] != 0)  # floor is drawn in its colour, not black
    colours = {tuple(c) for c in palette}
    prediction = _images(reader, "4_images/prediction")[2][0]
    assert {tuple(c) for c in prediction.reshape(-1, 3)} <= colours


@pytest.mark.parametrize("palette", [[list(c) for c in synthetic.PALETTE], None])
def test_the_ignore_label_has_a_colour_of_its_own(palette):
    colours = rundir.facts.label_palette({"palette": palette, "ignore_label": 255})
    labels = np.array([[[0, 1, 255]]])
    panel = summaries.image_panel({}, labels, np.zeros((1, 1, 3, 10)), None, colours)
    truth = panel["4_images/ground_truth"][0, 0]
    assert tuple(truth[0]) == tuple(colours[0]) and tuple(truth[1]) == tuple(colours[1])
    assert tuple(truth[2]) not in {tuple(c) for c in colours[:10]}  # void differs from every class, floor included


def _bilinear(maps, size):
    """Half-pixel-centre bilinear resize with clamped edges (the reference for ``cv2.resize``)."""
    height, width = maps.shape[:2]

    def axis(n_out, n_in):
        source = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        low = np.floor(source).astype(int)
        return low, np.minimum(low + 1, n_in - 1), source - low

    y0, y1, fy = axis(size[0], height)
    x0, x1, fx = axis(size[1], width)
    rows = maps[y0] * (1 - fy)[:, None, None] + maps[y1] * fy[:, None, None]
    return rows[:, x0] * (1 - fx)[None, :, None] + rows[:, x1] * fx[None, :, None]


def _panel(figure, top, boxes, name):
    y, x, height, width = boxes[name]
    return figure[top + y: top + y + height, x: x + width].astype(np.float32)


def _gate_values(figure, top, rgb, layout=gate_figures.ROW, size=SIZE):
    """The gate values drawn in the block figure at row ``top`` of ``figure``: the colours under the overlay (the
    blend with the RGB panel ``rgb`` undone) mapped back through the colour map, ``(H, W, 4)``."""
    boxes = gate_figures.block_layout(size, layout)
    lut = gate_figures.gate_colours(np.arange(256) / 255.0).astype(np.float32)
    values = []
    for name in gate_figures.GATE_NAMES:
        colour = (_panel(figure, top, boxes, name) - (1 - gate_figures.GATE_ALPHA) * rgb) / gate_figures.GATE_ALPHA
        distances = ((colour[..., None, :] - lut) ** 2).sum(-1)
        values.append(distances.argmin(-1) / 255.0)
    return np.stack(values, -1)


@pytest.mark.parametrize("size", [(32, 48), (480, 640)])  # panels scaled up / down
@pytest.mark.parametrize("layout", [gate_figures.ROW, gate_figures.GRID])
def test_a_block_figure_draws_each_gate_over_the_rgb_with_a_colour_bar(size, layout):
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, size + (3,), dtype=np.uint8)
    gates = rng.random((4, 5, 4)).astype(np.float32)  # the whole range 0..1
    figure = gate_figures.block_figure(rgb, gates, "rfb_s0_u0", layout)
    row = gate_figures.block_figure(rgb, gates, "rfb_s0_u0")
    boxes = gate_figures.block_layout(size, layout)
    assert figure.shape == boxes["size"] + (3,)
    top, left, height, width = boxes["G_Rin"]
    rgb_panel = _panel(row, 0, gate_figures.block_layout(size), "RGB")
    np.testing.assert_allclose(_gate_values(figure, 0, rgb_panel, layout, size), _bilinear(gates, (height, width)),
                               atol=TOLERANCE)
    assert (figure[: gate_figures.TITLE_HEIGHT] < 128).any()  # the block's name
    assert (figure[gate_figures.TITLE_HEIGHT: top, left: left + width] < 128).any()  # the panel's label
    bar = figure[top: figure.shape[0] - gate_figures.GAP, -gate_figures.BAR_WIDTH + 2]
    np.testing.assert_array_equal(bar, gate_figures.gate_colours(np.linspace(1.0, 0.0, len(bar))))  # 1 at the top


def _write_frames(directory, frames):
    os.makedirs(directory)
    for index, frame in enumerate(frames):
        assert cv2.imwrite(os.path.join(directory, f"f{index}.png"), frame[..., ::-1])
    return str(directory)


def test_predict_gates_draws_the_models_own_gate_outputs(run, tmp_path):
    import keras

    from rfbnet_tf.inference import prediction

    model_dir = run["model_dir"]
    reader = _reader(model_dir, "val")
    rgb, hha = _images(reader, "4_images/rgb")[2], _images(reader, "4_images/depth")[2]  # the trainer's frames
    written = prediction.predict(prediction.PredictConfig(
        model_dir, _write_frames(tmp_path / "rgb", rgb), str(tmp_path / "out"),
        depth=_write_frames(tmp_path / "hha", hha), gates=True, progress=False))
    model, _, _ = rundir.checkpoints.restore_model(model_dir)
    own = keras.Model(model.inputs, [model.get_layer(block).output[3] for block in BLOCKS])
    normalization = rundir.facts.load_run_info(model_dir)["normalization"]
    boxes = gate_figures.block_layout(SIZE)
    row_height, panel = boxes["size"][0], boxes["RGB"][2:]
    assert [entry["stem"] for entry in written] == ["f0", "f1"]
    for index, entry in enumerate(written):
        numbers = np.load(entry["files"]["gate_values"])
        assert sorted(key for key in numbers.files if key.startswith("rfb_")) == BLOCKS
        assert list(numbers["gate_names"]) == list(gate_figures.GATE_NAMES)
        inputs = {"rgb": run_dir_fixtures.normalized(rgb[index][None], normalization["rgb"]),
                  "depth": run_dir_fixtures.normalized(hha[index][None], normalization["hha"])}
        expected = [keras.ops.convert_to_numpy(maps)[0] for maps in own(inputs, training=False)]
        figure = cv2.imread(entry["files"]["gates"], cv2.IMREAD_COLOR)[..., ::-1]
        assert figure.shape == (len(BLOCKS) * row_height, boxes["size"][1], 3)
        for row, (block, maps) in enumerate(zip(BLOCKS, expected)):
            assert maps.shape == (4, 5, 4) and np.ptp(maps[..., :2]) > 0.05  # the input gates vary
            np.testing.assert_allclose(numbers[block], maps, atol=1e-5)
            rgb_panel = _panel(figure, row * row_height, boxes, "RGB")
            drawn = _gate_values(figure, row * row_height, rgb_panel)
            np.testing.assert_allclose(drawn, _bilinear(maps, panel), atol=TOLERANCE)
            # TensorBoard's image of the block for the same frame shows the same gates.
            shown = _images(reader, f"5_gates/{block}")[2][index]
            np.testing.assert_allclose(_gate_values(shown, 0, rgb_panel, gate_figures.GRID), drawn, atol=TOLERANCE)


def test_predict_gates_refuses_a_model_without_fusion_blocks(run, tmp_path):
    from rfbnet_tf.inference import prediction

    model_dir = str(tmp_path / "rgb_only")
    run_dir_fixtures.make_run_dir(model_dir, run_dir_fixtures.run_config(run["records"], model="erfnet_enc",
                                                                         image_size=SIZE))
    frames = _write_frames(tmp_path / "rgb", [np.zeros(SIZE + (3,), np.uint8)])
    with pytest.raises(ValueError) as error:
        prediction.predict(prediction.PredictConfig(model_dir, frames, str(tmp_path / "out"), gates=True,
                                                    progress=False))
    assert cli.error_line(error.value) == (
        f"error: --gates: --model_dir={model_dir!r} is a 'erfnet_enc' model without residual fusion blocks; gate "
        "maps exist for RFBNet models only")
    assert not (tmp_path / "out").exists()
