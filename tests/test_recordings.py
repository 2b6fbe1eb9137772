"""ROS recordings in and out (``rfbnet_tf.recordings``): ``predict --bag`` and ``prepare_data --dataset=bag`` on bags
written by rosbags itself (ROS 1, ROS 2 MCAP; tests/bag_fixtures.py): labels equal ``predict`` on the same frames
saved as PNG files, headers kept, unpaired and empty-depth frames reported, clear one-line errors, no half-written
output, the extracted folder layout, and the streaming stamp pairing."""

import json
import os
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from rosbags.highlevel import AnyReader

from rfbnet_tf.inference import prediction
from rfbnet_tf.recordings import bag_prediction, bag_reader, bag_writer, frame_extraction, image_messages
from rfbnet_tf.recordings.frame_pairing import StampPairer
from tests import bag_fixtures as bf
from tests import run_dir_fixtures as fx
from tests import short_backbones, warm_python

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INTRINSICS = ",".join(str(v) for v in bf.CAMERA)
SEGMENTED = (1, 2, 4, 5)  # frame 0: all-zero depth, frame 3: no depth partner
MIN_AGREEMENT = 0.98  # graph vs numpy completion + HHA differ by a grey level on a few pixels (README)


def _read_bag(path):
    """``{topic: [(bag_time, message), ...]}`` of a bag, read with rosbags."""
    out = {}
    with AnyReader([Path(path)]) as reader:
        for connection, bag_time, raw in reader.messages():
            out.setdefault(connection.topic, []).append((bag_time, reader.deserialize(raw, connection.msgtype)))
    return out


def _labels(message):
    dtype = np.uint8 if message.encoding == "mono8" else np.uint16
    return np.asarray(message.data).view(dtype).reshape(message.height, message.width)


def _kwargs(rgb_topic, **extra):
    return dict(rgb_topic=rgb_topic, depth_topic=bf.DEPTH_TOPIC, camera_info_topic=bf.INFO_TOPIC, progress=False,
                **extra)


# The short ERFNetEnc (tests/short_backbones.py): reading, pairing and writing recordings do not depend on the
# backbone's depth, and serving_raw is traced and compiled in about half the time.
_short_erfnet = pytest.fixture(scope="module", autouse=True)(short_backbones.short_erfnet)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    root = tmp_path_factory.mktemp("recordings")
    fx.write_records(str(root / "records"), {"train": fx.random_frames(0, 1, bf.SIZE)})
    model_dir = str(root / "run")
    fx.make_run_dir(model_dir, fx.run_config(str(root / "records"), image_size=bf.SIZE), seed=2)  # a mix of classes
    frames = bf.recording_frames()
    bags = {"ros1": bf.write_recording(root / "in.bag", frames),
            "ros2": bf.write_recording(root / "in_ros2", frames, fmt="ros2_mcap", rgb="jpeg", depth_encoding="32FC1")}
    segmenter = bag_prediction.BagSegmenter(model_dir)
    summaries = {
        "ros1": segmenter.segment(bag_prediction.BagRecordingConfig(str(root / "in.bag"), str(root / "out.bag"),
                                                                    output_dir=str(root / "png"),
                                                                    video=str(root / "overlay.mp4"),
                                                                    **_kwargs(bags["ros1"][0]))),
        "ros2": segmenter.segment(bag_prediction.BagRecordingConfig(str(root / "in_ros2"), str(root / "out_ros2"),
                                                                    **_kwargs(bags["ros2"][0]))),
    }
    # predict on the same frames saved as PNG files (numpy completion + HHA, the export's default signature)
    for kind in ("rgb", "depth"):
        os.makedirs(root / "frames" / kind)
    for name, (_, decoded) in bags.items():
        for index in SEGMENTED:
            cv2.imwrite(str(root / "frames" / "rgb" / f"{name}_{index}.png"),
                        cv2.cvtColor(decoded[index], cv2.COLOR_RGB2BGR))
            cv2.imwrite(str(root / "frames" / "depth" / f"{name}_{index}.png"), frames[index].depth_mm)
    prediction.predict(prediction.PredictConfig(model_dir, str(root / "frames" / "rgb"), str(root / "predicted"),
                                                depth=str(root / "frames" / "depth"), intrinsics=INTRINSICS,
                                                progress=False))
    return {"root": root, "model_dir": model_dir, "frames": frames, "bags": bags, "segmenter": segmenter,
            "summaries": summaries}


@pytest.mark.parametrize("name, output", [("ros1", "out.bag"), ("ros2", "out_ros2")])
def test_labels_equal_predict_on_the_frames_saved_as_png(recorded, name, output):
    messages = _read_bag(recorded["root"] / output)
    labels = [_labels(message) for _, message in messages[bag_writer.LABELS_TOPIC]]
    assert len(labels) == len(SEGMENTED)
    expected = [cv2.imread(str(recorded["root"] / "predicted" / f"{name}_{index}_class_ids.png"),
                           cv2.IMREAD_UNCHANGED) for index in SEGMENTED]
    for got, want in zip(labels, expected):
        assert got.shape == bf.SIZE and got.dtype == np.uint8
        assert np.mean(got == want) >= MIN_AGREEMENT
        assert len(np.unique(want)) > 1  # not a constant map
    # each frame's labels are its own: another frame's predictions would fail the check
    assert max(np.mean(labels[i] == expected[j]) for i in range(4) for j in range(4) if i != j) < MIN_AGREEMENT


def test_headers_topics_and_formats(recorded):
    frames, root = recorded["frames"], recorded["root"]
    for output, fmt in (("out.bag", "ros1"), ("out_ros2", "ros2_mcap")):
        assert bag_reader.bag_format(root / output) == fmt
        messages = _read_bag(root / output)
        assert set(messages) == {bag_writer.LABELS_TOPIC, bag_writer.COLOR_TOPIC, bag_writer.CLASSES_TOPIC}
        ((_, classes),) = messages[bag_writer.CLASSES_TOPIC]
        content = json.loads(classes.data)
        assert [entry["name"] for entry in content["classes"]] == fx.CLASS_NAMES
        assert content["ignore_label"] == 255
        palette = np.array([entry["color"] for entry in content["classes"]], np.uint8)
        for (_, label), (_, colour), index in zip(messages[bag_writer.LABELS_TOPIC],
                                                  messages[bag_writer.COLOR_TOPIC], SEGMENTED):
            for message in (label, colour):
                assert image_messages.stamp_ns(message) == frames[index].stamp_ns
                assert message.header.frame_id == bf.FRAME_ID
            assert label.encoding == "mono8" and colour.encoding == "rgb8"
            rgb = np.asarray(colour.data).reshape(colour.height, colour.width, 3)
            np.testing.assert_array_equal(rgb, palette[_labels(label)])


def test_unpaired_and_empty_depth_frames_are_counted_and_reported(recorded, caplog):
    frames = recorded["frames"]
    for summary in recorded["summaries"].values():
        assert summary["frames"] == 6 and summary["segmented"] == 4
        assert summary["unpaired_rgb"] == 1 and summary["unpaired_stamps"] == [frames[bf.UNPAIRED_FRAME].stamp_ns]
        assert summary["unpaired_depth"] == 1  # frame 3's depth, 50 ms off
        assert summary["empty_depth"] == 1 and summary["empty_stamps"] == [frames[bf.EMPTY_FRAME].stamp_ns]
        assert summary["fps"] > 0 and summary["latency_ms"]["p95"] >= summary["latency_ms"]["p50"] > 0
    with caplog.at_level("INFO", logger="absl"):  # whatever verbosity an earlier in-process run left
        bag_prediction._log_summary(recorded["summaries"]["ros1"])
    text = caplog.text
    assert "segmented 4 of 6 RGB frames" in text and "frames/s" in text and "p95" in text
    assert "1 RGB (skipped" in text and "1 frame(s) with no measured depth (skipped" in text


def test_empty_depth_frames_can_be_written_as_ignore_and_formats_converted(recorded, tmp_path):
    root = recorded["root"]
    summary = recorded["segmenter"].segment(bag_prediction.BagRecordingConfig(str(root / "in_ros2"),
                                                                              str(tmp_path / "out.bag"),
                                                                              output_format="ros1",
                                                                              empty_depth="ignore",
                                                                              **_kwargs(recorded["bags"]["ros2"][0])))
    assert summary["segmented"] == 5 and summary["empty_depth"] == 1
    labels = _read_bag(tmp_path / "out.bag")[bag_writer.LABELS_TOPIC]
    assert image_messages.stamp_ns(labels[0][1]) == recorded["frames"][bf.EMPTY_FRAME].stamp_ns
    assert np.all(_labels(labels[0][1]) == 255)
    reference = _read_bag(root / "out_ros2")[bag_writer.LABELS_TOPIC]
    for (_, got), (_, want) in zip(labels[1:], reference):
        np.testing.assert_array_equal(_labels(got), _labels(want))
    recorded["segmenter"].segment(bag_prediction.BagRecordingConfig(str(root / "in.bag"), str(tmp_path / "sqlite"),
                                                                    output_format="ros2_sqlite3",
                                                                    **_kwargs(recorded["bags"]["ros1"][0])))
    assert bag_reader.bag_format(tmp_path / "sqlite") == "ros2_sqlite3"
    assert len(_read_bag(tmp_path / "sqlite")[bag_writer.LABELS_TOPIC]) == 4


def test_png_and_video_outputs(recorded):
    root, frames = recorded["root"], recorded["frames"]
    labels = _read_bag(root / "out.bag")[bag_writer.LABELS_TOPIC]
    assert os.path.isfile(root / "png" / prediction.LEGEND_FILENAME)
    for position, (index, (_, message)) in enumerate(zip(SEGMENTED, labels)):
        stem = bag_reader.frame_stem(position, frames[index].stamp_ns)
        ids = cv2.imread(str(root / "png" / f"{stem}_class_ids.png"), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(ids, _labels(message))
        assert os.path.isfile(root / "png" / f"{stem}_overlay.png")
    capture = cv2.VideoCapture(str(root / "overlay.mp4"))
    count = 0
    while capture.read()[0]:
        count += 1
    assert count == 4
    assert not [name for name in os.listdir(root) if ".partial-" in name]


# ------------------------------------------------------------------------------------------------ errors


def _error(recorded, tmp_path, match, bag_kwargs=None, **segment_kwargs):
    path = tmp_path / "in.bag"
    topic, _ = bf.write_recording(path, recorded["frames"], **(bag_kwargs or {}))
    arguments = _kwargs(topic)
    arguments.update(segment_kwargs)
    with pytest.raises(ValueError, match=match):
        recorded["segmenter"].segment(bag_prediction.BagRecordingConfig(str(path), str(tmp_path / "out.bag"),
                                                                        output_dir=str(tmp_path / "png"),
                                                                        **arguments))
    assert sorted(os.listdir(tmp_path)) == ["in.bag"]  # no output bag, staging directory or PNG folder left


def test_missing_topic_is_named_with_the_topics_there(recorded, tmp_path):
    _error(recorded, tmp_path, r"--depth_topic=/depth is not a topic of .*in.bag.*; its topics: "
                               r"/camera/aligned_depth_to_color/image_raw \(sensor_msgs/msg/Image\)",
           depth_topic="/depth")


@pytest.mark.parametrize("bag_kwargs, match", [
    ({"rgb_encodings": ("yuv422",) * 6}, r"topic '/camera/color/image_raw': RGB encoding 'yuv422' is not one"),
    ({"depth_override": {0: "mono16"}},
     r"topic '/camera/aligned_depth_to_color/image_raw': depth Image encoding 'mono16' is not one"),
    ({"depth_override": {4: "8UC1"}},  # mid-stream: the run stops, and leaves nothing behind
     r"topic '/camera/aligned_depth_to_color/image_raw': depth Image encoding '8UC1' is not one"),
])
def test_unknown_encoding_names_topic_and_encoding(recorded, tmp_path, bag_kwargs, match):
    _error(recorded, tmp_path, match, bag_kwargs)


def test_missing_camera_info_needs_intrinsics(recorded, tmp_path):
    _error(recorded, tmp_path, r"--camera_info_topic=/camera/color/camera_info has no calibrated CameraInfo in .*: "
                               r"without a CameraInfo, pass the colour camera's --intrinsics=fx,fy,cx,cy",
           {"with_camera_info": False})
    summary = recorded["segmenter"].segment(bag_prediction.BagRecordingConfig(str(tmp_path / "in.bag"),
                                                                              str(tmp_path / "out.bag"),
                                                                              intrinsics=INTRINSICS,
                                                                              **_kwargs(bf.RGB_TOPIC)))
    assert summary["segmented"] == 4
    reference = _read_bag(recorded["root"] / "out.bag")[bag_writer.LABELS_TOPIC]
    for (_, got), (_, want) in zip(_read_bag(tmp_path / "out.bag")[bag_writer.LABELS_TOPIC], reference):
        np.testing.assert_array_equal(_labels(got), _labels(want))


def test_output_bag_paths_are_checked(tmp_path):
    (tmp_path / "exists.bag").write_bytes(b"")
    with pytest.raises(FileExistsError, match="exists"):
        bag_writer.check_output_path(tmp_path / "exists.bag", "ros1")
    with pytest.raises(ValueError, match="a ros1 bag is a file ending in .bag"):
        bag_writer.check_output_path(tmp_path / "out", "ros1")
    with pytest.raises(ValueError, match="must not end in .bag"):
        bag_writer.check_output_path(tmp_path / "out.bag", "ros2_mcap")


def test_without_rosbags_a_bag_is_one_line_naming_the_extra(tmp_path, monkeypatch):
    for name in [name for name in sys.modules if name == "rosbags" or name.startswith("rosbags.")]:
        monkeypatch.setitem(sys.modules, name, None)
    (tmp_path / "in.bag").write_bytes(b"")
    with pytest.raises(ValueError, match=r"needs the package rosbags: pip install rfbnet_tf\[ros\]"):
        with bag_reader.Recording(tmp_path / "in.bag", bag_reader.Topics(rgb="/rgb")):
            pass


def test_predict_binary_reports_a_bag_error_in_one_line(recorded, tmp_path):
    result = warm_python.run(
        [sys.executable, "-m", "rfbnet_tf.predict", f"--model_dir={recorded['model_dir']}",
         f"--bag={recorded['root'] / 'in.bag'}", f"--output_bag={tmp_path / 'out.bag'}", "--rgb_topic=/nope"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ROOT})
    assert result.returncode == 1, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and lines[0].startswith("error: --rgb_topic=/nope is not a topic of"), result.stderr[-3000:]
    assert "Traceback" not in result.stderr and not os.path.exists(tmp_path / "out.bag")


# ------------------------------------------------------------------------------------------------ extraction


def test_prepare_data_extracts_every_nth_frame_into_the_folder_layout(recorded, tmp_path):
    result = warm_python.run(
        [sys.executable, "-m", "rfbnet_tf.prepare_data", "--dataset=bag", f"--input_dir={recorded['root'] / 'in.bag'}",
         f"--output_folder={tmp_path / 'own'}", "--every=2", "--noprogress"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ROOT})
    assert result.returncode == 0, result.stderr[-3000:]
    frames, decoded = recorded["frames"], recorded["bags"]["ros1"][1]
    stems = [bag_reader.frame_stem(0, frames[1].stamp_ns), bag_reader.frame_stem(2, frames[4].stamp_ns)]
    split = tmp_path / "own" / "train"
    assert sorted(os.listdir(split)) == ["depth", "intrinsics", "rgb"]  # unlabelled: no label/
    assert sorted(os.listdir(split / "rgb")) == [f"{stem}.png" for stem in stems]
    for stem, index in zip(stems, (1, 4)):
        rgb = cv2.cvtColor(cv2.imread(str(split / "rgb" / f"{stem}.png")), cv2.COLOR_BGR2RGB)
        np.testing.assert_array_equal(rgb, decoded[index])
        depth = cv2.imread(str(split / "depth" / f"{stem}.png"), cv2.IMREAD_UNCHANGED)
        assert depth.dtype == np.uint16
        np.testing.assert_array_equal(depth, frames[index].depth_mm)
        with open(split / "intrinsics" / f"{stem}.json", encoding="utf-8") as handle:
            assert json.load(handle) == dict(zip(("fx", "fy", "cx", "cy"), bf.CAMERA))
    with open(tmp_path / "own" / "dataset.json", encoding="utf-8") as handle:
        assert json.load(handle) == {"classes": [], "ignore_ids": [0], "depth_scale": 0.001,
                                     "intrinsics": dict(zip(("fx", "fy", "cx", "cy"), bf.CAMERA)), "max_depth": 10.0}
    assert "wrote 2 of 5 paired frames" in result.stderr and "1 with no measured depth" in result.stderr


def _extraction(bag, folder, **fields):
    return frame_extraction.FrameExtractionConfig(bag, folder, **fields)


def test_extraction_of_32fc1_into_another_split_keeps_the_folder(recorded, tmp_path):
    folder = tmp_path / "own"
    arguments = dict(rgb_topic=recorded["bags"]["ros2"][0], depth_topic=bf.DEPTH_TOPIC,
                     camera_info_topic=bf.INFO_TOPIC, progress=False)
    frame_extraction.extract_frames(_extraction(recorded["root"] / "in.bag", folder, every=30, **dict(
        arguments, rgb_topic=bf.RGB_TOPIC)))
    dataset = (folder / "dataset.json").read_text()
    summary = frame_extraction.extract_frames(_extraction(recorded["root"] / "in_ros2", folder, every=1,
                                                          output_split="val", **arguments))
    assert summary["written"] == 4 and summary["unpaired_rgb"] == 1 and summary["empty_depth"] == 1
    assert (folder / "dataset.json").read_text() == dataset
    assert len(os.listdir(folder / "train" / "rgb")) == 1 and len(os.listdir(folder / "val" / "rgb")) == 4
    frames = recorded["frames"]
    for position, index in enumerate(SEGMENTED):  # 32FC1 metres (NaN holes) → uint16 mm, 0 = missing
        stem = bag_reader.frame_stem(position, frames[index].stamp_ns)
        depth = cv2.imread(str(folder / "val" / "depth" / f"{stem}.png"), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(depth, frames[index].depth_mm)
    with pytest.raises(FileExistsError, match="pass --overwrite"):
        frame_extraction.extract_frames(_extraction(recorded["root"] / "in_ros2", folder, output_split="val",
                                                    **arguments))
    frame_extraction.extract_frames(_extraction(recorded["root"] / "in_ros2", folder, output_split="val", every=3,
                                                overwrite=True, **arguments))
    assert len(os.listdir(folder / "val" / "rgb")) == 2
    assert sorted(os.listdir(folder)) == ["dataset.json", "train", "val"]


def test_extraction_config_names_each_bad_flag_in_one_line(tmp_path):
    config = _extraction(tmp_path / "in.bag", tmp_path / "own", rgb_topic="/rgb", depth_topic="/depth")
    assert (config.input_dir, config.output_folder) == (str(tmp_path / "in.bag"), str(tmp_path / "own"))
    assert (config.every, config.output_split, config.max_depth) == (30, "train", 10.0)  # 10 m when not given
    for fields, message in (
            ({"every": 0}, "--every must be an int >= 1, received 0"),
            ({"output_split": "rgb"}, "--output_split must be a plain folder name such as train, received 'rgb'"),
            ({"output_split": "../x"}, "--output_split must be a plain folder name such as train, received '../x'"),
            ({"max_depth": 0.0}, "--max_depth must be a positive number of metres, received 0.0"),
            ({"overwrite": "yes"}, "--overwrite must be True or False, received 'yes'")):
        with pytest.raises(ValueError) as error:
            _extraction(tmp_path / "in.bag", tmp_path / "own", rgb_topic="/rgb", depth_topic="/depth", **fields)
        assert str(error.value) == message
    with pytest.raises(ValueError, match="^--dataset=bag extracts --input_dir=IN.bag into --output_folder=DIR: "
                                         "give both$"):
        _extraction(None, tmp_path / "own", rgb_topic="/rgb", depth_topic="/depth")
    assert not (tmp_path / "own").exists()


# ------------------------------------------------------------------------------------------------ units


def _pair(pushes, tolerance_ms=20, horizon_ms=2000):
    pairer = StampPairer(tolerance_ms * 1_000_000, horizon_ms * 1_000_000)
    decided = []
    for kind, stamp_ms in pushes:
        decided += pairer.push(kind, stamp_ms * 1_000_000, f"{kind}{stamp_ms}")
    decided += pairer.finish()
    return [(rgb, depth) for _, rgb, _, depth in decided], pairer.unpaired_depth


def test_pairing_takes_the_nearest_depth_once_and_counts_the_rest():
    pushes = [("rgb", 0), ("depth", 15), ("depth", 2), ("rgb", 33), ("depth", 36), ("depth", 40), ("rgb", 66),
              ("rgb", 100), ("depth", 101), ("depth", 130)]
    pairs, unpaired_depth = _pair(pushes)
    # rgb 0 takes depth 2 (logged after 15, still the nearest); rgb 33 takes 36 over 15 and 40; rgb 66 has none
    # within 20 ms; rgb 100 takes 101; depths 15, 40 and 130 are left
    assert pairs == [("rgb0", "depth2"), ("rgb33", "depth36"), ("rgb66", None), ("rgb100", "depth101")]
    assert unpaired_depth == 3


def test_pairing_does_not_wait_for_a_stalled_depth_topic():
    pairer = StampPairer(20_000_000, horizon_ns=1_000_000_000)
    assert pairer.push("rgb", 0, "a") == []  # no later depth yet: undecided
    decided = []
    for step in range(1, 40):  # the depth topic stalls; RGB frames keep coming
        decided += pairer.push("rgb", step * 100_000_000, step)
    assert decided and decided[0] == (0, "a", None, None)
    assert len(decided) >= 28  # frames older than the horizon are decided: the queue stays short


def test_depth_decoding_units_byte_order_and_padding():
    np.testing.assert_array_equal(image_messages.metres_to_depth_units(
        np.array([0.0, -1.0, np.nan, np.inf, 1.2344, 1.2346, 70.0], np.float32)), [0, 0, 0, 0, 1234, 1235, 65535])
    assert not image_messages.has_measured_depth(np.zeros((2, 2), np.uint16), 10.0)
    assert not image_messages.has_measured_depth(np.full((2, 2), 12000, np.uint16), 10.0)  # beyond max_depth
    assert image_messages.has_measured_depth(np.array([[0, 9999]], np.uint16), 10.0)


def test_depth_in_tenths_of_millimetres_is_warned_naming_the_encoding():
    from rfbnet_tf.recordings import depth_warning

    depth_mm = np.full((8, 10), 2500, np.uint16)  # 2.5 m
    assert depth_warning.depth_unit_warning(depth_mm * 0.001, 10.0) is None
    tenths = (depth_mm.astype(np.float64) * 10) * 0.001  # 1/10 mm read as mm: 25 m
    warning = depth_warning.depth_unit_warning(tenths, 10.0)
    assert warning.startswith("the depth looks read in the wrong units: 100% of the measured pixels lie beyond "
                              "max_depth=10 m") and warning.endswith(depth_warning.UNITS)


def test_extracted_frames_once_labelled_convert_with_dataset_folder(recorded, tmp_path):
    """The loop: recording → frames (--dataset=bag) → labels (here: written by the test) → --dataset=folder."""
    from rfbnet_tf.datasets import preparation
    from rfbnet_tf.datasets import records
    from tests import fixture_trees

    folder = tmp_path / "own"
    frame_extraction.extract_frames(_extraction(recorded["root"] / "in.bag", folder, rgb_topic=bf.RGB_TOPIC,
                                                depth_topic=bf.DEPTH_TOPIC, camera_info_topic=bf.INFO_TOPIC, every=1,
                                                progress=False))
    with pytest.raises(ValueError, match=r"dataset\.json: classes must be a non-empty list .*label the frames"):
        preparation.prepare("folder", str(tmp_path / "unlabelled"), input_dir=str(folder), progress=False)
    stems = sorted(name[:-4] for name in os.listdir(folder / "train" / "rgb"))
    os.makedirs(folder / "train" / "label")
    labels = {}
    for index, stem in enumerate(stems):  # the user's labelling tool: raw ids 1 (left half) and 2, 0 unlabelled
        rgb = cv2.imread(str(folder / "train" / "rgb" / f"{stem}.png"))
        label = np.ones(rgb.shape[:2], np.uint8)
        label[:, rgb.shape[1] // 2:] = 2
        label[0, :] = 0
        cv2.imwrite(str(folder / "train" / "label" / f"{stem}.png"), label)
        labels[stem] = np.where(label == 0, 255, label - 1)
    with open(folder / "dataset.json", encoding="utf-8") as handle:
        content = json.load(handle)
    content["classes"] = [{"name": "left", "id": 1}, {"name": "right", "id": 2}]
    with open(folder / "dataset.json", "w", encoding="utf-8") as handle:
        json.dump(content, handle)
    out = str(tmp_path / "records")
    preparation.prepare("folder", out, input_dir=str(folder), num_workers=1, progress=False)
    parsed = fixture_trees.read_records_by_name(out, "train")
    assert sorted(parsed) == [f"train/{stem}" for stem in stems]
    for stem in stems:
        got = parsed[f"train/{stem}"]
        rgb = cv2.cvtColor(cv2.imread(str(folder / "train" / "rgb" / f"{stem}.png")), cv2.COLOR_BGR2RGB)
        np.testing.assert_array_equal(got["rgb"], rgb)
        np.testing.assert_array_equal(got["label"][..., 0], labels[stem])
        depth_mm = cv2.imread(str(folder / "train" / "depth" / f"{stem}.png"), cv2.IMREAD_UNCHANGED)
        np.testing.assert_allclose(got["depth_raw"][..., 0], depth_mm / 1000.0, atol=1e-6)
        fx, fy, cx, cy = bf.CAMERA
        np.testing.assert_allclose(got["intrinsics"], [[fx, 0, cx], [0, fy, cy], [0, 0, 1]], rtol=1e-6)
    assert records.load_dataset_info(out)["class_names"] == ["left", "right"]


def test_a_depth_only_run_segments_a_recording_like_predict(recorded, tmp_path):
    """The depth-only path (the raw-depth preprocessing, then the model, no RGB input): labels as predict's."""
    model_dir = str(tmp_path / "depth_run")
    fx.make_run_dir(model_dir, fx.run_config(str(recorded["root"] / "records"), model="erfnet_enc",
                                             model_options={"modality": "depth"}, image_size=bf.SIZE))
    recording = bag_prediction.BagRecordingConfig(str(recorded["root"] / "in.bag"), str(tmp_path / "out.bag"),
                                                  **_kwargs(recorded["bags"]["ros1"][0]))
    bag_prediction.BagSegmenter(model_dir).segment(recording)
    labels = [_labels(message) for _, message in _read_bag(tmp_path / "out.bag")[bag_writer.LABELS_TOPIC]]
    prediction.predict(prediction.PredictConfig(model_dir, str(recorded["root"] / "frames" / "rgb"),
                                                str(tmp_path / "predicted"),
                                                depth=str(recorded["root"] / "frames" / "depth"),
                                                intrinsics=INTRINSICS, progress=False))
    assert len(labels) == len(SEGMENTED)
    for got, index in zip(labels, SEGMENTED):
        want = cv2.imread(str(tmp_path / "predicted" / f"ros1_{index}_class_ids.png"), cv2.IMREAD_UNCHANGED)
        assert np.mean(got == want) >= MIN_AGREEMENT
