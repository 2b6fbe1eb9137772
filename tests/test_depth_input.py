"""predict's raw depth: stated units (mm, 1e-4 m, float metres, Cityscapes disparity + camera JSON), the range
logged in metres, a depth of another size refused unless --resize_depth (intrinsics scaled), and the one
clip → complete → HHA chain shared with prepare_data."""

import json

import cv2
import numpy as np
import pytest

from rfbnet_tf.datasets import frame_resizing
from rfbnet_tf.inference import depth_input
from rfbnet_tf.preprocessing import depth_encoding, depth_plausibility
from rfbnet_tf.preprocessing.depth_completion import complete_depth
from rfbnet_tf.preprocessing.hha import depth_to_hha

SIZE = (24, 32)
K = np.array([[30.0, 0.0, 15.5], [0.0, 30.0, 11.5], [0.0, 0.0, 1.0]])


@pytest.fixture(scope="module")
def metres():
    rng = np.random.default_rng(4)
    depth = rng.uniform(0.5, 6.0, SIZE).round(3)  # whole millimetres: exact in mm and in 1e-4 m
    depth[rng.random(SIZE) < 0.15] = 0.0
    return depth


def test_units_give_the_same_metres(tmp_path, metres, monkeypatch):
    cv2.imwrite(str(tmp_path / "mm.png"), np.rint(metres * 1000).astype(np.uint16))
    cv2.imwrite(str(tmp_path / "nyu.png"), np.rint(metres * 10000).astype(np.uint16))
    np.save(tmp_path / "m.npy", metres.astype(np.float32))
    logged = []  # the log lines, independent of the logging setup earlier tests left in this process
    monkeypatch.setattr(depth_input.logging, "info", lambda message, *args: logged.append(message % args))
    read = {units: depth_input.read_depth(tmp_path / name, units)[0]
            for units, name in (("mm", "mm.png"), ("1e-4m", "nyu.png"), ("m", "m.npy"))}
    for units, depth in read.items():
        np.testing.assert_allclose(depth, metres, atol=1e-6, err_msg=units)
    valid = metres[metres > 0]
    assert f"{valid.min():.3f} to {valid.max():.3f} m" in "\n".join(logged)  # the range read, in metres
    # Read as millimetres, the 1e-4 m file is 10x too far: the unit matters once max_depth allows it.
    wrong = depth_input.read_depth(tmp_path / "nyu.png", "mm")[0]
    np.testing.assert_allclose(wrong, 10 * metres, atol=1e-5)
    with pytest.raises(ValueError, match=r"nyu.png.*must hold float metres .* --depth_units=m"):
        depth_input.read_depth(tmp_path / "nyu.png", "m")
    with pytest.raises(ValueError, match=r"m.npy.*must be a 16-bit PNG for --depth_units=1e-4m"):
        depth_input.read_depth(tmp_path / "m.npy", "1e-4m")


def test_exr_metres_or_a_clear_error(tmp_path, metres, monkeypatch):
    """Float metres in a 1-channel .exr read as the .npy; an OpenCV build without OpenEXR (opencv-python-headless
    5.0 has none) gets a one-line error naming the file, not "corrupt or not an image"."""
    monkeypatch.setenv("OPENCV_IO_ENABLE_OPENEXR", "1")
    path = tmp_path / "depth.exr"
    try:
        written = cv2.imwrite(str(path), metres.astype(np.float32))
    except cv2.error:
        written = False
    if written:
        np.testing.assert_allclose(depth_input.read_depth(path, "m")[0], metres, atol=1e-6)
    else:
        path.write_bytes(bytes([0x76, 0x2F, 0x31, 0x01]) + bytes(60))  # the OpenEXR magic number, no image
        with pytest.raises(ValueError, match=r"depth.exr.*cannot read OpenEXR.*\.npy"):
            depth_input.read_depth(path, "m")


def test_cityscapes_disparity_with_its_camera(tmp_path):
    disparity = np.array([[257, 513, 0], [1, 129, 257]], np.uint16)
    cv2.imwrite(str(tmp_path / "x_disparity.png"), disparity)
    camera = {"extrinsic": {"baseline": 0.2}, "intrinsic": {"fx": 100.0, "fy": 100.0, "u0": 1.0, "v0": 0.5}}
    (tmp_path / "x_camera.json").write_text(json.dumps(camera))
    depth, matrix = depth_input.read_depth(tmp_path / "x_disparity.png", "cityscapes_disparity",
                                           tmp_path / "x_camera.json")
    np.testing.assert_allclose(depth, [[20.0, 10.0, 0.0], [0.0, 40.0, 20.0]], rtol=1e-6)  # 0.2 * 100 / d
    np.testing.assert_allclose(matrix, [[100, 0, 1], [0, 100, 0.5], [0, 0, 1]])
    with pytest.raises(ValueError, match="needs the camera JSON"):
        depth_input.read_depth(tmp_path / "x_disparity.png", "cityscapes_disparity")


def test_size_mismatch_needs_resize_depth_and_scales_the_intrinsics(metres):
    small = metres[::2, ::2]  # 12x16 depth for a 24x32 RGB image
    with pytest.raises(ValueError, match=r"is 12x16 \(HxW\), the RGB image 24x32: pass --resize_depth"):
        depth_input.model_depth_input(small, "hha", SIZE, K / 2, 10.0)
    small_camera = np.array([[15.0, 0, 7.5], [0, 15.0, 5.5], [0, 0, 1]])  # the depth camera at 12x16
    got = depth_input.model_depth_input(small, "hha", SIZE, small_camera, 10.0, resize_depth=True)
    resized = frame_resizing.resize_nearest(small.astype(np.float32), SIZE)
    scaled = frame_resizing.scale_intrinsics(small_camera, (12, 16), SIZE)
    np.testing.assert_allclose(scaled[[0, 1], [0, 1]], [30.0, 30.0])
    completed = np.clip(complete_depth(resized, max_depth=10.0), 0, 10.0)
    np.testing.assert_array_equal(got, depth_to_hha(completed, scaled, measured_mask=resized > 0))


def test_one_chain_for_prepare_and_predict(metres):
    depth = metres.astype(np.float32).copy()
    depth[0, :4] = [np.nan, np.inf, 12.0, 3.0]
    raw = depth_encoding.clip_raw_depth(depth, 10.0)
    assert raw[0, :4].tolist() == [0.0, 0.0, 0.0, 3.0]  # not finite or beyond max_depth: missing
    completed, hha = depth_encoding.complete_and_encode(raw, 10.0, K)
    expected = np.clip(complete_depth(raw, max_depth=10.0), 0, 10.0)
    np.testing.assert_array_equal(completed, expected)
    np.testing.assert_array_equal(hha, depth_to_hha(expected, K, measured_mask=raw > 0))
    np.testing.assert_array_equal(depth_input.model_depth_input(depth, "hha", SIZE, K, 10.0), hha)
    np.testing.assert_array_equal(depth_input.model_depth_input(depth, "depth", SIZE, None, 10.0)[..., 0], completed)
    with pytest.raises(ValueError, match="no valid pixel within max_depth=10.0"):
        depth_encoding.complete_and_encode(np.zeros(SIZE, np.float32), 10.0, K)


def test_depth_in_the_wrong_units_is_warned_about_naming_the_file_and_flag(tmp_path, metres, monkeypatch):
    """A 1/10 mm file read as millimetres puts the room at 5-60 m, mostly beyond max_depth (10 m): one warning line
    naming the file and --depth_units; read in its own units, none. predict calls this for every depth file."""
    cv2.imwrite(str(tmp_path / "tenth_mm.png"), np.rint(metres * 10000).astype(np.uint16))
    warned = []
    monkeypatch.setattr(depth_input.logging, "warning", lambda message, *args: warned.append(message % args))
    wrong = depth_input.read_depth(tmp_path / "tenth_mm.png", "mm")[0]
    text = depth_input.warn_implausible_units(tmp_path / "tenth_mm.png", wrong, 10.0)
    assert len(warned) == 1 and "\n" not in warned[0]
    assert "tenth_mm.png" in warned[0] and "--depth_units" in warned[0] and text in warned[0]
    beyond = np.mean(wrong[wrong > 0] > 10.0)
    assert beyond > 0.5 and f"{100 * beyond:.0f}% of the measured pixels lie beyond max_depth=10 m" in text
    right = depth_input.read_depth(tmp_path / "tenth_mm.png", "1e-4m")[0]
    assert depth_input.warn_implausible_units(tmp_path / "tenth_mm.png", right, 10.0) is None and len(warned) == 1
    # millimetres read as 1e-4 m: 10x too near; a room within 2 m then lies mostly nearer than 0.2 m
    near = depth_plausibility.depth_unit_warning(np.clip(metres, 0, 1.9) / 10, 10.0, units_flag="--units")
    assert "nearer than 0.2 m" in near and near.endswith("check --units")
    assert depth_input.warn_implausible_units("hha.png", np.zeros(SIZE + (3,), np.uint8), 10.0) is None


def test_saturated_uint16_is_missing(tmp_path, metres, monkeypatch):
    """65535 in a 16-bit depth is a saturated reading: missing like 0, not 6.55 m (1e-4 m units, within max_depth)
    or 65.5 m (mm): the read depth, its measured fraction and the completed model input agree with a 0 there."""
    tenths = np.rint(metres * 10000).astype(np.uint16)
    saturated = tenths.copy()
    saturated[:3] = 65535
    cv2.imwrite(str(tmp_path / "saturated.png"), saturated)
    logged = []
    monkeypatch.setattr(depth_input.logging, "info", lambda message, *args: logged.append(message % args))
    read = depth_input.read_depth(tmp_path / "saturated.png", "1e-4m")[0]
    assert (read[:3] == 0).all()
    np.testing.assert_allclose(read[3:], metres[3:], atol=1e-6)
    measured = np.mean(saturated[3:] > 0) * (SIZE[0] - 3) / SIZE[0]  # the rows below the saturated ones
    assert f"{100 * measured:.1f}% of the pixels measured" in logged[-1]
    holes = np.where(saturated == 65535, np.uint16(0), saturated)
    for kind in ("depth", "hha"):
        np.testing.assert_array_equal(depth_input.model_depth_input(saturated, kind, SIZE, K, 10.0, units="1e-4m"),
                                      depth_input.model_depth_input(holes, kind, SIZE, K, 10.0, units="1e-4m"))
    np.testing.assert_array_equal(depth_plausibility.drop_saturated(saturated), holes)
