"""rfbnet_tf.preprocessing.graph against the numpy versions (issue 15 tolerances: HHA disparity and height
within 1 grey level, angle within 3, on ≥ 99 % of pixels; completion within 1 mm on ≥ 99 %), run as
``tf.function`` s with unknown image sizes, on the synthetic frames and the analytic scenes of the numpy tests;
the graphs hold no Python/numpy step; every loop ends on a frame with no valid depth under XLA (in a subprocess with a
timeout); the depth-units rule equals the numpy one; errors."""

import sys

import numpy as np
import pytest
import tensorflow as tf

from rfbnet_tf.datasets import synthetic
from rfbnet_tf.preprocessing import depth_completion, depth_plausibility, hha
from rfbnet_tf.preprocessing import graph
from tests import warm_python
from tests.test_depth_completion import smooth_depth, with_holes
from tests.test_hha import K, render_room

MAX_DEPTH = 10.0
PYTHON_OPS = {"PyFunc", "PyFuncStateless", "EagerPyFunc"}


def _frame(seed, height, width):
    frame = synthetic.render_scene(seed, height, width)
    return np.nan_to_num(frame["depth"]).astype(np.float32), frame["intrinsics"]


@pytest.fixture(scope="module")
def functions():
    """The graph functions, traced once for (H, W) of unknown size (as a SavedModel holds them)."""
    depth_spec = tf.TensorSpec([None, None], tf.float32)
    completion = {
        blur: tf.function(lambda d, blur=blur: graph.complete_depth(d, max_depth=MAX_DEPTH, blur_type=blur),
                          input_signature=[depth_spec])
        for blur in depth_completion.BLUR_TYPES
    }
    encode = tf.function(lambda d, k, m: graph.depth_to_hha(d, k, m),
                         input_signature=[tf.TensorSpec([None, None], tf.float64), tf.TensorSpec([3, 3], tf.float64),
                                          tf.TensorSpec([None, None], tf.bool)])
    return {"completion": completion, "hha": encode}


def _graph_ops(function):
    definition = function.get_concrete_function().graph.as_graph_def()
    ops = {node.op for node in definition.node}
    for library_function in definition.library.function:
        ops |= {node.op for node in library_function.node_def}
    return ops


def test_graphs_hold_no_python_step(functions):
    for function in functions["completion"].values():
        ops = _graph_ops(function)
        assert "MaxPool" in ops and not ops & PYTHON_OPS
    ops = _graph_ops(functions["hha"])
    assert "SelfAdjointEigV2" in ops and not ops & PYTHON_OPS


def _assert_hha_close(got, expected):
    difference = np.abs(got.astype(np.int64) - expected.astype(np.int64))
    for channel, levels in ((0, 1), (1, 1), (2, 3)):
        within = np.mean(difference[..., channel] <= levels)
        assert within >= 0.99, (channel, within, difference[..., channel].max())
    np.testing.assert_array_equal(got == 0, expected == 0)  # the same missing pixels


def _completion_cases():
    plane = with_holes(np.full((60, 80), 2.75, np.float32), fraction=0.5)
    plane[:10] = 0.0  # needs the column extrapolation
    bottom = np.zeros((60, 80), np.float32)
    bottom[45:] = 3.0
    bottom[50:55, :5] = 5.0
    far = np.full((60, 80), 30.0, np.float32)  # beyond max_depth: clipped for filling, returned unchanged
    far[10:14, 10:14] = 0.0
    return {"smooth_with_holes": with_holes(smooth_depth()), "plane": plane, "bottom_only": bottom, "far": far,
            "synthetic_60x80": _frame(1, 60, 80)[0], "synthetic_120x160": _frame(2, 120, 160)[0]}


@pytest.mark.parametrize("blur_type", depth_completion.BLUR_TYPES)
def test_completion_matches_numpy(functions, blur_type):
    for name, depth in _completion_cases().items():
        if blur_type == "gaussian" and name.startswith("synthetic_120"):
            continue  # one large frame is enough
        expected = depth_completion.complete_depth(depth, max_depth=MAX_DEPTH, blur_type=blur_type)
        got = functions["completion"][blur_type](tf.constant(depth)).numpy()
        assert got.dtype == np.float32 and got.shape == depth.shape
        measured = np.isfinite(depth) & (depth > 0)
        np.testing.assert_array_equal(got[measured], depth[measured])  # measured pixels kept bit for bit
        close = np.abs(got - expected) <= 1e-3
        assert close.mean() >= 0.99, (name, close.mean(), np.abs(got - expected).max())


def test_completion_nearest_fill_of_a_wide_hole_stays_within_the_surrounding_depths():
    """Without the extrapolation, holes beyond the 7×7 fill take the chessboard-nearest surface (the numpy
    version: the L2-nearest pixel): both within the range of the measured depths around."""
    depth = np.zeros((40, 60), np.float32)
    depth[30:] = 2.0
    depth[30:, 40:] = 4.0
    got = graph.complete_depth(tf.constant(depth), extrapolate=False).numpy()
    assert (got >= 2.0 - 1e-6).all() and (got <= 4.0 + 1e-6).all()
    np.testing.assert_allclose(got[:10, :25], 2.0, rtol=1e-6)  # far from the 4 m block: the 2 m surface
    np.testing.assert_allclose(got[24:30, 52:], 4.0, rtol=1e-6)  # just above the 4 m block: it
    # the empty top rows above the 4 m block are as near (chessboard) to the 2 m surface: the nearer surface wins
    np.testing.assert_allclose(got[:5, 52:], 2.0, rtol=1e-5)


@pytest.mark.parametrize("pitch, roll", [(20.0, 0.0), (35.0, 10.0)])
def test_hha_matches_numpy_on_analytic_rooms(functions, pitch, roll):
    depth = render_room(pitch, roll)[0]
    rng = np.random.default_rng(int(pitch))
    holed = np.where(rng.random(depth.shape) < 0.3, 0.0, depth)
    completed = depth_completion.complete_depth(holed, max_depth=MAX_DEPTH).astype(np.float64)
    for name, (image, mask) in {"exact": (depth, depth > 0), "completed": (completed, holed > 0)}.items():
        expected = hha.depth_to_hha(image, K, measured_mask=mask)
        got = functions["hha"](tf.constant(image), tf.constant(K), tf.constant(mask)).numpy()
        assert got.dtype == np.uint8 and got.shape == image.shape + (3,), name
        _assert_hha_close(got, expected)


def test_raw_depth_to_hha_matches_numpy_on_synthetic_frames():
    """The chain predict runs (drop beyond max_depth, complete, clip, HHA on the measured mask), at 60×80 and
    120×160 with (fx, fy, cx, cy) intrinsics, inside one tf.function."""
    encode = tf.function(lambda d, k: graph.complete_and_encode(d, "hha", k, MAX_DEPTH),
                         input_signature=[tf.TensorSpec([None, None], tf.float32), tf.TensorSpec([4], tf.float32)])
    for seed, (height, width) in ((3, (60, 80)), (4, (120, 160))):
        depth, matrix = _frame(seed, height, width)
        depth.flat[np.flatnonzero(depth > 0)[:5]] = MAX_DEPTH + 1.0  # a few beyond the range: dropped
        raw = np.where(depth <= MAX_DEPTH, depth, 0.0).astype(np.float32)
        completed = np.clip(depth_completion.complete_depth(raw, max_depth=MAX_DEPTH), 0.0, MAX_DEPTH)
        expected = hha.depth_to_hha(completed, matrix, measured_mask=raw > 0)
        camera = tf.constant([matrix[0, 0], matrix[1, 1], matrix[0, 2], matrix[1, 2]], tf.float32)
        _assert_hha_close(encode(tf.constant(depth), camera).numpy(), expected)


_INVALID_FRAME_SCRIPT = """
import sys
import numpy as np
import tensorflow as tf
from rfbnet_tf.preprocessing import graph

encode = tf.function(lambda depth: graph.complete_and_encode(depth, "depth", max_depth=10.0, assert_valid=False),
                     jit_compile=True, autograph=False)  # as serving_raw compiles it (HHA: tests/test_serving_raw.py)
frames = {"zeros": np.zeros((30, 40), np.float32), "far": np.full((30, 40), 30.0, np.float32)}
np.savez(sys.argv[1], **{name: encode(tf.constant(frame)).numpy() for name, frame in frames.items()})
"""


def test_a_frame_without_valid_depth_ends_promptly_under_xla(tmp_path):
    """XLA drops the Asserts: the completion's nearest fill must still end (it looped forever on an empty image)."""
    warm_python.run([sys.executable, "-c", _INVALID_FRAME_SCRIPT, str(tmp_path / "out.npz")], check=True,
                    timeout=120)
    got = np.load(tmp_path / "out.npz")
    for name in ("zeros", "far"):
        assert got[name].shape == (30, 40, 1)
        np.testing.assert_array_equal(got[name], MAX_DEPTH)  # defined: max_depth + 0.1 m, clipped
    assert not tf.reduce_any(graph.valid_raw_depth(tf.constant(np.full((4, 4), 30.0)), MAX_DEPTH)).numpy()


def test_depth_plausible_is_the_numpy_rule():
    rng = np.random.default_rng(7)
    scene = rng.uniform(0.5, 6.0, (2, 30, 40)).astype(np.float32)  # a room in metres, two frames
    scene[rng.random(scene.shape) < 0.3] = 0.0
    cases = {"metres": scene, "tenth_mm_read_as_mm": scene * 10, "km": scene / 1000, "none": np.zeros_like(scene),
             "nan": np.full_like(scene, np.nan), "half_far": np.concatenate([np.full((2, 15, 40), 2.0),
                                                                            np.full((2, 15, 40), 20.0)], 1)}
    for name, depth in cases.items():
        got = graph.depth_plausible(tf.constant(depth), MAX_DEPTH).numpy()
        expected = [depth_plausibility.depth_unit_warning(frame, MAX_DEPTH) is None for frame in depth]
        assert got.tolist() == expected, name
    assert not graph.depth_plausible(tf.constant(scene * 10), MAX_DEPTH).numpy().any()
    assert graph.depth_plausible(tf.constant(cases["half_far"]), MAX_DEPTH).numpy().all()  # half: not more


def test_errors():
    with pytest.raises(tf.errors.InvalidArgumentError, match="no valid"):
        graph.complete_depth(tf.zeros((8, 8)))
    with pytest.raises(tf.errors.InvalidArgumentError, match="no valid"):
        graph.depth_to_hha(tf.fill((8, 8), np.nan), K)
    with pytest.raises(tf.errors.InvalidArgumentError, match="measured_mask"):
        graph.depth_to_hha(tf.ones((8, 8)), K, tf.zeros((8, 8), tf.bool))
    with pytest.raises(ValueError, match="blur_type"):
        graph.complete_depth(tf.ones((8, 8)), blur_type="box")
    with pytest.raises(ValueError, match="kernel size"):
        graph.complete_depth(tf.ones((8, 8)), kernel_size=4)
    with pytest.raises(ValueError, match="2-D"):
        graph.complete_depth(tf.ones((1, 8, 8)))
    with pytest.raises(ValueError, match="intrinsics"):
        graph.depth_to_hha(tf.ones((8, 8)), tf.ones((3,)))
    with pytest.raises(ValueError, match="intrinsics"):
        graph.complete_and_encode(tf.ones((8, 8)), "hha")
