"""Tests of the prepare_data binary and function on the synthetic dataset (32×48 frames)."""

import os
import subprocess
import sys
import types

import numpy as np
import pytest
import tensorflow as tf

from rfbnet_tf import prepare_data

from rfbnet_tf.datasets import preparation

from rfbnet_tf.datasets import frame_stats

from rfbnet_tf.datasets import frame_conversion
from rfbnet_tf.datasets import example_encoding, records, synthetic
from tests import fixture_trees, warm_python

SIZE = (32, 48)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


read_records = fixture_trees.read_records


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("synthetic"))
    summary = preparation.prepare("synthetic", out, num_workers=2, examples_per_shard=3,
                                   synthetic_train=4, synthetic_val=3, synthetic_size=SIZE, seed=7,
                                   progress=False)
    return out, summary


def test_synthetic_with_two_workers_counts_histogram_and_pixels(prepared):
    out, summary = prepared
    info = records.load_dataset_info(out)
    assert info["dataset"] == "synthetic" and info["num_classes"] == 10
    assert info["class_names"] == list(synthetic.CLASS_NAMES) and info["ignore_label"] == 255
    assert info["image_size"] == [32, 48]
    assert info["splits"]["train"] == {"num_examples": 4, "files": ["train-00000-of-00002.tfrecord",
                                                                    "train-00001-of-00002.tfrecord"],
                                       "examples_per_file": [3, 1]}
    assert info["splits"]["val"] == {"num_examples": 3, "files": ["val-00000-of-00001.tfrecord"],
                                     "examples_per_file": [3]}
    for entry in info["splits"].values():  # what the training pipeline addresses records by: each shard's count
        counted = [sum(1 for _ in tf.data.TFRecordDataset(os.path.join(out, name))) for name in entry["files"]]
        assert entry["examples_per_file"] == counted
    assert info["skipped"]["count"] == 0 and summary["record_dir"] == out
    rgb_train = []
    for split in ("train", "val"):
        seeds = synthetic.split_seeds(split, info["splits"][split]["num_examples"], 7)
        scenes = [synthetic.render_scene(s, *SIZE) for s in seeds]  # independent re-render
        parsed = read_records(out, split)
        assert [p["name"].decode() for p in parsed] == [
            f"synthetic_{split}_{i:05d}_seed{s}" for i, s in enumerate(seeds)]  # in order
        histogram = sum(np.bincount(s["label"].ravel(), minlength=10) for s in scenes)
        assert info["class_histogram"][split] == histogram.tolist()
        for scene, got in zip(scenes, parsed):
            np.testing.assert_array_equal(got["rgb"], scene["rgb"])
            np.testing.assert_array_equal(got["label"][..., 0], scene["label"])
            np.testing.assert_array_equal(np.rint(got["depth_raw"][..., 0] * 1000),
                                          example_encoding.metres_to_millimetres(scene["depth"]))
            np.testing.assert_allclose(got["intrinsics"], scene["intrinsics"], rtol=1e-6)
            assert (got["depth"] > 0).all()  # completed: dense
        if split == "train":
            rgb_train = np.concatenate([s["rgb"].reshape(-1, 3) for s in scenes]).astype(np.float64)
            depths = np.concatenate([p["depth"].ravel() for p in parsed]).astype(np.float64)
            hha = np.concatenate([p["hha"].reshape(-1, 3) for p in parsed]).astype(np.float64)
    norm = info["normalization"]
    np.testing.assert_allclose(norm["rgb"]["mean"], rgb_train.mean(0), rtol=1e-9)
    np.testing.assert_allclose(norm["rgb"]["std"], rgb_train.std(0), rtol=1e-9)
    np.testing.assert_allclose(norm["hha"]["mean"], hha.mean(0), rtol=1e-9)
    # depth statistics use the completed depth before millimetre rounding: within 0.5 mm
    np.testing.assert_allclose(norm["depth"]["mean"], [depths.mean()], atol=5e-4)
    np.testing.assert_allclose(norm["depth"]["std"], [depths.std()], atol=5e-4)


def test_existing_records_need_overwrite_and_other_splits_are_kept(prepared, tmp_path):
    out, _ = prepared
    with pytest.raises(FileExistsError, match="already holds 'train' shards; pass overwrite=True"):
        preparation.prepare("synthetic", out, num_workers=1, synthetic_train=1, synthetic_size=SIZE,
                             progress=False)
    with pytest.raises(FileExistsError, match="describes dataset 'synthetic', not 'cityscapes'"):
        preparation.prepare("cityscapes", out, input_dir=str(tmp_path), num_workers=1, progress=False)
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in os.listdir(out):
        (copy / name).write_bytes(open(os.path.join(out, name), "rb").read())
    preparation.prepare("synthetic", str(copy), splits=("val",), num_workers=1, synthetic_val=2,
                         synthetic_size=SIZE, seed=7, overwrite=True, progress=False)
    info = records.load_dataset_info(str(copy))
    assert info["splits"]["val"] == {"num_examples": 2, "files": ["val-00000-of-00001.tfrecord"],
                                     "examples_per_file": [2]}
    assert info["splits"]["train"]["num_examples"] == 4  # kept, with its normalisation and shard counts
    assert info["splits"]["train"]["examples_per_file"] == [3, 1]
    assert info["normalization"] == records.load_dataset_info(out)["normalization"]
    assert len(read_records(str(copy), "val")) == 2


def test_binary_spawns_workers_and_draws_progress(tmp_path):
    out = tmp_path / "records"
    result = warm_python.run(
        [sys.executable, "-m", "rfbnet_tf.prepare_data", "--dataset=synthetic", f"--output_dir={out}",
         "--synthetic_train=2", "--synthetic_val=1", "--synthetic_height=32", "--synthetic_width=48",
         "--num_workers=2"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ROOT})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "synthetic/train: 2/2 [100%]" in result.stderr and "ETA" in result.stderr
    info = records.load_dataset_info(str(out))
    assert info["splits"]["train"]["num_examples"] == 2 and info["splits"]["val"]["num_examples"] == 1
    assert sorted(os.listdir(out)) == ["dataset_info.json", "train-00000-of-00001.tfrecord",
                                       "val-00000-of-00001.tfrecord"]  # no temporaries left


@pytest.mark.parametrize("kwargs, error, match", [
    ({"dataset": "kitti"}, ValueError, "got 'kitti'"),
    ({"num_workers": 0}, ValueError, "num_workers must be an int >= 1, got 0"),
    ({"examples_per_shard": 0}, ValueError, "examples_per_shard must be an int >= 1, got 0"),
    ({"synthetic_size": (0, 5)}, ValueError, r"got \(0, 5\)"),
    ({"splits": ("train", "test")}, ValueError, r"synthetic splits are 'train' and 'val'"),
    ({"max_depth": 100.0}, ValueError, "got 100.0"),
    ({"frame_skip": 10}, ValueError, "frame_skip applies to scannet only"),
    ({"rgb_format": "bmp"}, ValueError, "got 'bmp'"),
    ({"dataset": "cityscapes"}, ValueError, "--input_dir is required for dataset 'cityscapes'"),
])
def test_bad_arguments(tmp_path, kwargs, error, match):
    arguments = {"dataset": "synthetic", "output_dir": str(tmp_path), "num_workers": 1, "progress": False,
                 **kwargs}
    with pytest.raises(error, match=match):
        preparation.prepare(arguments.pop("dataset"), arguments.pop("output_dir"), **arguments)
    assert not any(name.endswith(".tfrecord") for name in os.listdir(tmp_path))


def _frame(**changes):
    frame = {"rgb": np.zeros((4, 6, 3), np.uint8), "depth_m": np.ones((4, 6), np.float32),
             "label": np.zeros((4, 6), np.uint8), "intrinsics": np.eye(3), "name": "f"}
    return {**frame, **changes}


def test_check_frame_skips_unusable_depth_and_rejects_bad_frames():
    assert frame_conversion.check_frame(_frame(), 10) is None
    label = np.zeros((4, 6), np.uint8)
    label[0, 0] = 255
    assert frame_conversion.check_frame(_frame(label=label), 10) is None  # ignore label allowed
    assert frame_conversion.check_frame(_frame(depth_m=np.zeros((4, 6), np.float32)), 10) == \
        "depth has no valid (> 0) pixel"
    nan_depth = np.ones((4, 6), np.float32)
    nan_depth[1, 1] = np.nan
    assert frame_conversion.check_frame(_frame(depth_m=nan_depth), 10) == "depth contains NaN or inf"
    label[0, 1] = 10
    with pytest.raises(ValueError, match=r"frame 'f': label values \[10\] outside 0..9 and 255"):
        frame_conversion.check_frame(_frame(label=label), 10)
    with pytest.raises(ValueError, match=r"rgb must be uint8 \(H, W, 3\), got uint8 \(4, 6, 4\)"):
        frame_conversion.check_frame(_frame(rgb=np.zeros((4, 6, 4), np.uint8)), 10)
    with pytest.raises(ValueError, match=r"depth must be float \(H, W\) = \(4, 6\), got float32 \(4, 5\)"):
        frame_conversion.check_frame(_frame(depth_m=np.ones((4, 5), np.float32)), 10)
    with pytest.raises(ValueError, match="intrinsics must be a finite 3x3"):
        frame_conversion.check_frame(_frame(intrinsics=np.zeros((3, 3))), 10)


def test_frame_stats_hand_values():
    stats = frame_stats.FrameStats(3)
    rgb_a = np.zeros((1, 2, 3), np.uint8)
    rgb_b = np.full((1, 2, 3), 10, np.uint8)
    stats.add(frame_stats.FrameStats.of_frame(rgb_a, rgb_b, np.array([[1.0, 3.0]]), np.array([[0, 255]], np.uint8), 3))
    stats.add(frame_stats.FrameStats.of_frame(rgb_b, rgb_b, np.array([[0.0, 2.0]]), np.array([[2, 2]], np.uint8), 3))
    norm = stats.normalization()
    assert norm["rgb"] == {"mean": [5.0] * 3, "std": [5.0] * 3}  # values 0, 0, 10, 10
    assert norm["hha"] == {"mean": [10.0] * 3, "std": [0.0] * 3}
    np.testing.assert_allclose(norm["depth"]["mean"], [2.0])  # 1, 3, 2 (0 = missing excluded)
    np.testing.assert_allclose(norm["depth"]["std"], [np.sqrt(2.0 / 3.0)])
    assert stats.histogram.tolist() == [1, 0, 2]


def test_spawned_workers_do_not_import_the_binary_or_tensorflow(tmp_path):
    """``python -m rfbnet_tf.train`` (a main module importing TensorFlow) starting the data workers: they do not
    re-import that main module, so no TensorFlow (seconds per worker, and its start-up notices)."""
    (tmp_path / "tf_main.py").write_text(
        "import tensorflow  # noqa: F401\n"
        "from rfbnet_tf.datasets import frame_conversion\n"
        "from tests import worker_probes\n"
        "if __name__ == '__main__':\n"
        "    pool = frame_conversion.worker_pool(2)\n"
        "    print(pool.map(worker_probes.tensorflow_loaded, [0, 1]), worker_probes.tensorflow_loaded())\n"
        "    pool.terminate()\n")
    result = subprocess.run([sys.executable, "-m", "tf_main"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=300, env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{tmp_path}"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split("\n")[0] == "[False, False] True"


def test_synthetic_size_flag_and_its_deprecated_aliases(tmp_path):
    def flags(size=None, height=None, width=None):
        return types.SimpleNamespace(synthetic_size=size, synthetic_height=height, synthetic_width=width)

    assert prepare_data._synthetic_size(flags(["32", "48"])) == (32, 48)  # height,width as train's flag
    assert prepare_data._synthetic_size(flags()) == (120, 160)  # the option's default
    assert prepare_data._synthetic_size(flags(height=32)) == (32, 160)  # deprecated, each defaulting
    with pytest.raises(ValueError, match="not both"):
        prepare_data._synthetic_size(flags(["32", "48"], width=48))
    with pytest.raises(ValueError, match="--synthetic_size must be height,width, got 32,x"):
        prepare_data._synthetic_size(flags(["32", "x"]))
    out = tmp_path / "records"
    result = warm_python.run(
        [sys.executable, "-m", "rfbnet_tf.prepare_data", "--dataset=synthetic", f"--output_dir={out}",
         "--synthetic_train=1", "--synthetic_val=1", "--synthetic_size=16,24", "--num_workers=1", "--noprogress"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ROOT})
    assert result.returncode == 0, result.stderr[-3000:]
    assert records.load_dataset_info(str(out))["image_size"] == [16, 24]


def test_ctrl_c_stops_prepare_data_in_one_line_and_leaves_nothing(tmp_path):
    """SIGINT to the whole process group (what Ctrl-C sends): the workers ignore it, the parent removes its staging
    directory and prints one line, exit 130, no traceback."""
    import signal

    from rfbnet_tf import cli

    out = tmp_path / "records"
    process = subprocess.Popen(
        [sys.executable, "-m", "rfbnet_tf.prepare_data", "--dataset=synthetic", f"--output_dir={out}",
         "--synthetic_train=400", "--synthetic_val=1", "--synthetic_size=240,320", "--num_workers=2"],
        cwd=ROOT, stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ROOT})
    lines = []
    for line in process.stderr:  # progress lines (plain: stderr is a pipe) once the workers run
        lines.append(line)
        if line.startswith("synthetic/train: "):
            break
    os.killpg(process.pid, signal.SIGINT)
    rest = process.communicate(timeout=120)[1]
    assert process.returncode == 130, "".join(lines) + rest
    assert "Traceback" not in rest and cli.INTERRUPTED_LINE in rest.splitlines()
    assert sorted(os.listdir(tmp_path)) == []  # no records, no staging directory
