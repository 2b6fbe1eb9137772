"""ScanNet's scannet_frames_25k download (the paper's 2-D subset) gives the same records as the SensReader export
of the same frames; scannet_frames_test (no labels) is converted unlabelled."""

import numpy as np
import pytest


from rfbnet_tf.datasets import preparation
from rfbnet_tf.datasets import scannet
from tests import fixture_trees

SIZE = fixture_trees.SCANNET_DEPTH_SIZE  # stored size: small and cheap


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    root = tmp_path_factory.mktemp("scannet_25k")
    sens = str(root / "sens")
    fixture_trees.write_scannet_tree(sens, {"train": ["scene0000_00"], "val": ["scene0011_00"]},
                                     frame_indices=(0, 100, 150))
    fixture_trees.write_scannet_tree(str(root / "sens_test"), {"test": ["scene0707_00"]}, frame_indices=(0,), seed=1)
    frames = str(root / "frames")
    fixture_trees.write_scannet_frames_25k(sens, frames)
    fixture_trees.write_scannet_frames_25k(str(root / "sens_test"), str(root / "frames_test"),
                                           test_scenes=("scene0707_00",))
    return root, sens, frames


def test_frames_25k_gives_the_same_records_as_the_sensreader_export(trees):
    root, sens, frames = trees
    listed = scannet.list_frames(frames, "train")
    assert [f["name"] for f in listed] == ["scene0000_00/0", "scene0000_00/100"]  # 150 is not in the 25k subset
    kwargs = dict(splits=("train", "val"), num_workers=1, progress=False, image_size=SIZE)
    a = preparation.prepare("scannet", str(root / "from_sens"), input_dir=sens, **kwargs)
    b = preparation.prepare("scannet", str(root / "from_25k"), input_dir=frames, **kwargs)
    assert a["normalization"] == b["normalization"] and a["class_histogram"] == b["class_histogram"]
    for split in ("train", "val"):
        ours = fixture_trees.read_records_by_name(str(root / "from_sens"), split)
        theirs = fixture_trees.read_records_by_name(str(root / "from_25k"), split)
        assert sorted(ours) == sorted(theirs) and ours
        for name in ours:
            for key in ("rgb", "hha", "depth", "depth_raw", "label", "intrinsics"):
                np.testing.assert_array_equal(ours[name][key], theirs[name][key], err_msg=f"{name} {key}")
            assert len(np.unique(ours[name]["label"])) > 2


def test_frames_test_without_labels_is_converted_unlabelled(trees):
    root = trees[0]
    out = str(root / "test_records")
    summary = preparation.prepare("scannet", out, input_dir=str(root / "frames_test"), splits=("test",),
                                   num_workers=1, progress=False, image_size=SIZE)
    assert summary["splits"]["test"]["num_examples"] == 1
    (example,) = fixture_trees.read_records(out, "test")
    assert example["name"] == b"scene0707_00/0" and np.all(example["label"] == 255)
    with pytest.raises(FileNotFoundError, match="neither the SensReader export .* nor scannet_frames_25k"):
        scannet.list_frames(str(root), "train")
