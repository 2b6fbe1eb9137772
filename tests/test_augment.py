"""Tests of rfbnet_tf.datasets.augment: each op on hand-checkable inputs, eagerly and in
``Dataset.map``, plus the composed ``augment`` (alignment, label values, determinism)."""

import math

import numpy as np
import pytest
import tensorflow as tf

from rfbnet_tf.datasets import augment as A
from rfbnet_tf.datasets.augment import geometry, photometric
from rfbnet_tf.datasets import pixel_kernels as K

H, W = 24, 32


def grid_example(height=H, width=W):
    """Keys built from one coordinate grid, so any window/flip is identifiable per key."""
    rows, cols = np.mgrid[0:height, 0:width]
    rgb = np.stack([rows, cols, np.full_like(rows, 7)], -1).astype(np.uint8)
    hha = np.stack([cols, rows, rows + cols], -1).astype(np.uint8)
    depth = (1.0 + rows + cols / 100.0)[..., None].astype(np.float32)
    label = ((rows * width + cols) % 200)[..., None].astype(np.uint8)
    return {"rgb": rgb, "hha": hha, "depth": depth, "label": label}


def numpy_of(example):
    return {key: np.asarray(value) for key, value in example.items()}


def in_dataset_map(fn, example):
    """Run ``fn(example)`` inside Dataset.map (graph mode) and return numpy arrays."""
    dataset = tf.data.Dataset.from_tensors(example).map(
        tf.autograph.experimental.do_not_convert(fn)
    )
    return numpy_of(next(iter(dataset)))


# --------------------------------------------------------------------------- config / seeds


@pytest.mark.parametrize(
    "field, value",
    [
        ("flip", 1.5), ("flip", True), ("scale_range", (2.0, 1.0)), ("scale_range", (0.0, 1.0)),
        ("scale_range", 1.0), ("rotation_degrees", -1.0), ("rotation_degrees", float("nan")),
        ("crop_size", (0, 8)), ("crop_size", (8.5, 8)), ("brightness", -3.0),
        ("contrast", 1.5), ("saturation", "x"), ("hue", 0.7), ("rgb_noise_std", -1.0),
        ("depth_noise_std", float("inf")),
    ],
)
def test_config_rejects_bad_values_naming_them(field, value):
    with pytest.raises(ValueError, match=field) as info:
        A.AugmentConfig(**{field: value})
    assert repr(value) in str(info.value)


def test_config_normalises_sequences_and_disabled_turns_all_off():
    config = A.AugmentConfig(scale_range=[0.5, 1.5], crop_size=[16, 20])
    assert config.scale_range == (0.5, 1.5) and config.crop_size == (16, 20)
    off = A.AugmentConfig.disabled(flip=1.0)
    assert off.flip == 1.0 and off.scale_range is None and off.rotation_degrees == 0
    assert off.brightness == off.contrast == off.saturation == off.hue == 0
    assert off.rgb_noise_std == off.hha_noise_std == off.depth_noise_std == 0


@pytest.mark.parametrize("seed", [1.5, "seven", [1, 2, 3], True, np.zeros((2, 2), np.int32)])
def test_bad_seed_raises(seed):
    with pytest.raises(ValueError, match="seed"):
        A.as_seed(seed)


def test_bad_examples_raise():
    with pytest.raises(ValueError, match="no spatial key"):
        A.random_flip({"name": tf.constant("x")}, 0)
    with pytest.raises(ValueError, match="label"):
        A.random_flip({"label": np.zeros((4, 4, 2), np.uint8)}, 0)
    with pytest.raises(ValueError, match="differ in size"):
        A.random_flip({"rgb": np.zeros((4, 4, 3)), "label": np.zeros((4, 5, 1), np.uint8)}, 0)
    with pytest.raises(ValueError, match="crop_size"):
        A.random_crop(grid_example(), 0, (4, -1))


# --------------------------------------------------------------------------- flip


def test_flip_always_equals_reversed_columns_for_every_key_eager_and_graph():
    example = grid_example()
    for out in (
        numpy_of(A.random_flip(example, 3, probability=1.0)),
        in_dataset_map(lambda e: A.random_flip(e, 3, probability=1.0), example),
    ):
        for key, value in example.items():
            np.testing.assert_array_equal(out[key], value[:, ::-1])
        assert out["rgb"].dtype == np.float32 and out["label"].dtype == np.uint8


def test_flip_never_is_identity_and_half_flips_about_half():
    example = grid_example()
    out = numpy_of(A.random_flip(example, 3, probability=0.0))
    for key, value in example.items():
        np.testing.assert_array_equal(out[key], value)
    flipped = 0
    for seed in range(40):
        out = numpy_of(A.random_flip(example, seed, probability=0.5))
        is_flipped = np.array_equal(out["label"], example["label"][:, ::-1])
        expected = {k: (v[:, ::-1] if is_flipped else v) for k, v in example.items()}
        for key in example:  # all keys flipped together or none
            np.testing.assert_array_equal(out[key], expected[key])
        flipped += is_flipped
    assert 8 <= flipped <= 32


# --------------------------------------------------------------------------- rotation


def test_rotate_90_moves_a_bright_pixel_where_hand_computed():
    image = np.zeros((5, 5, 1), np.float32)
    image[0, 2] = 1.0  # top middle
    label = np.ones((5, 5, 1), np.uint8)
    label[0, 2] = 3
    for out in (
        numpy_of(A.rotate({"rgb": image, "label": label}, 90.0)),
        in_dataset_map(lambda e: A.rotate(e, 90.0), {"rgb": image, "label": label}),
    ):
        # counter-clockwise as displayed: the top middle goes to the left middle
        expected = np.zeros((5, 5), np.float32)
        expected[2, 0] = 1.0
        np.testing.assert_allclose(out["rgb"][..., 0], expected, atol=1e-4)
        expected_label = np.ones((5, 5), np.uint8)
        expected_label[2, 0] = 3
        np.testing.assert_array_equal(out["label"][..., 0], expected_label)


def test_rotate_30_on_a_non_square_image():
    height, width = 21, 31
    cy, cx = 10, 15
    image = np.zeros((height, width, 1), np.float32)
    image[cy, cx + 8] = 1.0  # 8 px right of the centre
    out = A.rotate({"depth": image}, 30.0)["depth"].numpy()[..., 0]
    # CCW by 30° on screen (y down): (dx, dy) = (8, 0) → (8 cos 30°, −8 sin 30°)
    expected_x, expected_y = cx + 8 * math.cos(math.pi / 6), cy - 8 * math.sin(math.pi / 6)
    ys, xs = np.mgrid[0:height, 0:width]
    assert np.unravel_index(out.argmax(), out.shape) == (6, 22)  # round(expected_y, expected_x)
    total = out.sum()
    assert (out * xs).sum() / total == pytest.approx(expected_x, abs=0.3)
    assert (out * ys).sum() / total == pytest.approx(expected_y, abs=0.3)


def test_random_rotation_keeps_label_set_pads_corners_and_fixes_the_centre():
    example = grid_example(25, 25)
    for seed in range(3):
        out = numpy_of(A.random_rotation(example, seed, max_degrees=45.0))
        values = set(np.unique(out["label"]))
        assert values <= set(np.unique(example["label"])) | {A.LABEL_FILL}
        np.testing.assert_array_equal(out["label"][12, 12], example["label"][12, 12])
        np.testing.assert_allclose(out["rgb"][12, 12], example["rgb"][12, 12], atol=1e-3)
    big = numpy_of(A.rotate(example, 45.0))
    assert big["label"][0, 0, 0] == A.LABEL_FILL  # corners come from outside the image
    np.testing.assert_array_equal(big["rgb"][0, 0], 0.0)
    np.testing.assert_array_equal(big["depth"][0, 0], 0.0)


# --------------------------------------------------------------------------- scale


@pytest.mark.parametrize("factor", [2.0, 0.5])
def test_scale_matches_tf_image_resize(factor):
    example = grid_example()
    example["rgb"] = np.random.default_rng(0).integers(0, 256, (H, W, 3)).astype(np.uint8)
    example["label"] = np.random.default_rng(1).integers(0, 5, (H, W, 1)).astype(np.uint8)
    size = (round(H * factor), round(W * factor))
    for out in (
        numpy_of(A.random_scale(example, 0, (factor, factor))),
        in_dataset_map(lambda e: A.random_scale(e, 0, (factor, factor)), example),
    ):
        assert out["rgb"].shape == size + (3,) and out["label"].shape == size + (1,)
        for key in ("rgb", "hha", "depth"):
            expected = tf.image.resize(example[key].astype(np.float32), size).numpy()
            np.testing.assert_allclose(out[key], expected, atol=1e-3, rtol=1e-5)
        expected = tf.image.resize(example["label"], size, method="nearest").numpy()
        np.testing.assert_array_equal(out["label"], expected)


def test_random_scale_draws_within_range():
    sizes = {A.random_scale(grid_example(), s, (0.5, 2.0))["label"].shape for s in range(8)}
    for height, width, _ in sizes:
        assert 12 <= height <= 48 and 16 <= width <= 64
        assert width == round(W * height / H) or abs(width / W - height / H) < 0.05
    assert len(sizes) > 1


# --------------------------------------------------------------------------- crop


def _window(out, example):
    """(row, col) offset of out inside example, found from the rgb coordinate grid."""
    return int(out["rgb"][0, 0, 0]), int(out["rgb"][0, 0, 1])


def test_random_crop_takes_the_same_window_from_every_key():
    example = grid_example()
    offsets = set()
    for seed in range(6):
        out = numpy_of(A.random_crop(example, seed, (10, 12)))
        r0, c0 = _window(out, example)
        offsets.add((r0, c0))
        assert 0 <= r0 <= H - 10 and 0 <= c0 <= W - 12
        for key, value in example.items():
            assert out[key].shape == (10, 12, value.shape[-1])
            np.testing.assert_array_equal(out[key], value[r0:r0 + 10, c0:c0 + 12])
    assert len(offsets) > 1


def test_random_crop_larger_than_the_image_pads_labels_255_and_images_0():
    example = grid_example(8, 10)
    out = in_dataset_map(lambda e: A.random_crop(e, 5, (12, 16)), example)
    assert out["label"].shape == (12, 16, 1)
    inside = out["label"][..., 0] != A.LABEL_FILL
    rows, cols = np.nonzero(inside)
    assert inside.sum() == 8 * 10 and np.ptp(rows) == 7 and np.ptp(cols) == 9
    r0, c0 = rows.min(), cols.min()
    for key, value in example.items():
        np.testing.assert_array_equal(out[key][r0:r0 + 8, c0:c0 + 10], value)
    for key in ("rgb", "hha", "depth"):
        np.testing.assert_array_equal(out[key][~inside], 0.0)


# --------------------------------------------------------------------------- resize


def test_resize_keeps_dtypes_uses_nearest_labels_and_skips_same_size():
    example = grid_example()
    same = numpy_of(A.resize(example, (H, W)))
    for key, value in example.items():
        assert same[key].dtype == value.dtype
        np.testing.assert_array_equal(same[key], value)
    out = numpy_of(A.resize(example, (12, 16)))
    assert out["rgb"].dtype == np.uint8 and out["rgb"].shape == (12, 16, 3)
    expected = np.round(tf.image.resize(example["rgb"].astype(np.float32), (12, 16)).numpy())
    np.testing.assert_array_equal(out["rgb"], expected)
    np.testing.assert_array_equal(out["label"], example["label"][1::2, 1::2])


# --------------------------------------------------------------------------- colour jitter


def _luma(rgb):
    return rgb.astype(np.float64) @ photometric._RGB_TO_YIQ[0].astype(np.float64)


def _chroma(rgb):
    return rgb.astype(np.float64) @ photometric._RGB_TO_YIQ[1:].T.astype(np.float64)


def _mid_example():
    rng = np.random.default_rng(2)
    example = grid_example()
    example["rgb"] = rng.integers(90, 160, (H, W, 3)).astype(np.uint8)  # no clipping
    example["rgb"][0, 0] = 120  # a grey pixel
    return example


def test_color_jitter_touches_only_rgb_eager_and_graph():
    example = _mid_example()
    for out in (
        numpy_of(A.color_jitter(example, 4)),
        in_dataset_map(lambda e: A.color_jitter(e, 4), example),
    ):
        for key in ("hha", "depth", "label"):
            np.testing.assert_array_equal(out[key], example[key])
        assert not np.allclose(out["rgb"], example["rgb"])


def test_brightness_adds_one_offset_within_range():
    example = _mid_example()
    deltas = []
    for seed in range(5):
        out = A.color_jitter(example, seed, brightness=20.0, contrast=0, saturation=0, hue=0)
        diff = out["rgb"].numpy() - example["rgb"]
        np.testing.assert_allclose(diff, diff.flat[0], atol=1e-3)
        assert abs(diff.flat[0]) <= 20.0
        deltas.append(diff.flat[0])
    assert np.ptp(deltas) > 1.0


def test_contrast_scales_about_the_mean_luma():
    example = _mid_example()
    x = example["rgb"].astype(np.float64)
    out = A.color_jitter(example, 1, brightness=0, contrast=0.5, saturation=0, hue=0)
    out = out["rgb"].numpy()
    mean = _luma(x).mean()
    factor = (out[1, 1, 0] - mean) / (x[1, 1, 0] - mean)
    assert 0.5 <= factor <= 1.5
    np.testing.assert_allclose(out, factor * (x - mean) + mean, atol=1e-2)


def test_saturation_and_hue_keep_luma_and_grey():
    example = _mid_example()
    x = example["rgb"]
    sat = A.color_jitter(example, 2, brightness=0, contrast=0, saturation=0.8, hue=0)
    hue = A.color_jitter(example, 2, brightness=0, contrast=0, saturation=0, hue=0.3)
    for out in (sat["rgb"].numpy(), hue["rgb"].numpy()):
        np.testing.assert_allclose(_luma(out), _luma(x), atol=1e-2)
        np.testing.assert_allclose(out[0, 0], 120.0, atol=1e-2)  # grey stays grey
    # saturation scales every chroma vector by one factor; hue rotates it (norm kept)
    ratio = np.linalg.norm(_chroma(sat["rgb"].numpy()), axis=-1) / np.linalg.norm(
        _chroma(x), axis=-1
    ).clip(1e-9)
    ratio = ratio[np.linalg.norm(_chroma(x), axis=-1) > 1.0]
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-3)
    assert 0.2 <= ratio[0] <= 1.8 and abs(ratio[0] - 1.0) > 1e-3
    np.testing.assert_allclose(
        np.linalg.norm(_chroma(hue["rgb"].numpy()), axis=-1),
        np.linalg.norm(_chroma(x), axis=-1),
        atol=1e-2,
    )


# --------------------------------------------------------------------------- noise


def test_gaussian_noise_has_the_configured_std_per_key():
    size = (96, 96)
    example = {
        "rgb": np.full(size + (3,), 128, np.uint8),
        "hha": np.full(size + (3,), 100, np.uint8),
        "depth": np.full(size + (1,), 2.0, np.float32),
        "depth_raw": np.full(size + (1,), 2.0, np.float32),
        "label": np.full(size + (1,), 4, np.uint8),
    }
    example["depth"][:10] = 0.0  # missing depth stays missing
    out = numpy_of(A.gaussian_noise(example, 9, rgb_std=6.0, hha_std=3.0, depth_std=0.05))
    for key, centre, std in (("rgb", 128, 6.0), ("hha", 100, 3.0), ("depth", 2.0, 0.05)):
        noise = out[key][10:] - centre
        assert noise.std() == pytest.approx(std, rel=0.05), key
        assert abs(noise.mean()) < 0.05 * std, key
    np.testing.assert_array_equal(out["depth"][:10], 0.0)
    np.testing.assert_array_equal(out["depth_raw"], example["depth_raw"])
    np.testing.assert_array_equal(out["label"], example["label"])
    # independent noise per key and channel
    assert abs(np.corrcoef(out["rgb"][..., 0].ravel(), out["rgb"][..., 1].ravel())[0, 1]) < 0.05
    graph = in_dataset_map(lambda e: A.gaussian_noise(e, 9, rgb_std=6.0, hha_std=3.0,
                                                      depth_std=0.05), example)
    np.testing.assert_array_equal(graph["rgb"], out["rgb"])


# --------------------------------------------------------------------------- augment


def test_augment_is_deterministic_and_graph_equals_eager():
    example = grid_example()
    config = A.AugmentConfig(crop_size=(16, 20))
    first = numpy_of(A.augment(example, config, 11))
    again = numpy_of(A.augment(example, config, tf.constant([11, 0], tf.int64)))
    other = numpy_of(A.augment(example, config, 12))
    graph = in_dataset_map(lambda e: A.augment(e, config, 11), example)
    for key in example:
        np.testing.assert_array_equal(first[key], again[key])
        np.testing.assert_allclose(graph[key], first[key], atol=1e-4)
    assert not np.array_equal(first["rgb"], other["rgb"])
    assert first["rgb"].shape == (16, 20, 3) and first["label"].shape == (16, 20, 1)
    assert first["rgb"].dtype == np.float32 and first["label"].dtype == np.uint8


def test_augment_labels_stay_in_the_label_set_and_outputs_keep_input_size():
    example = grid_example()
    values = set(np.unique(example["label"])) | {A.LABEL_FILL}
    for seed in range(4):
        out = numpy_of(A.augment(example, A.AugmentConfig(), seed))
        assert out["label"].shape == (H, W, 1)  # crop_size None: the input size
        assert set(np.unique(out["label"])) <= values
        assert 0.0 <= out["rgb"].min() and out["rgb"].max() <= 255.0


def test_augment_with_one_op_equals_the_op_alone():
    example = grid_example()
    pairs = [
        (A.AugmentConfig.disabled(flip=0.5), lambda e, s: A.random_flip(e, s, 0.5)),
        (A.AugmentConfig.disabled(crop_size=(9, 13)), lambda e, s: A.random_crop(e, s, (9, 13))),
        (A.AugmentConfig.disabled(rotation_degrees=20.0),
         lambda e, s: A.random_rotation(e, s, 20.0)),
        (A.AugmentConfig.disabled(brightness=30.0, hue=0.1),
         lambda e, s: A.color_jitter(e, s, brightness=30.0, contrast=0, saturation=0, hue=0.1)),
        (A.AugmentConfig.disabled(rgb_noise_std=2.0),
         lambda e, s: A.gaussian_noise(e, s, rgb_std=2.0, hha_std=0, depth_std=0)),
    ]
    for config, op in pairs:
        for seed in (0, 1):
            expected = numpy_of(op(example, seed))
            out = numpy_of(A.augment(example, config, seed))
            for key in example:
                np.testing.assert_allclose(out[key], expected[key], atol=1e-5)


def test_augment_without_ops_only_casts_images():
    example = grid_example()
    out = numpy_of(A.augment(example, A.AugmentConfig.disabled(), 0))
    for key, value in example.items():
        np.testing.assert_array_equal(out[key], value)
    assert out["hha"].dtype == np.float32 and out["label"].dtype == np.uint8


# --------------------------------------------------------------------------- fused pixel kernels


def _reference_warp(example, matrix, out_size):
    """The resampling rule written with the slow ops: labels nearest with 255 outside, images
    bilinear on a 1-pixel edge-replicating pad, zeroed where the nearest source is outside."""
    transform = lambda image, m, interp, fill: tf.raw_ops.ImageProjectiveTransformV3(
        images=image[None], transforms=tf.reshape(m, [9])[:8][None], output_shape=out_size,
        fill_value=float(fill), interpolation=interp, fill_mode="CONSTANT")[0]
    ones = tf.ones_like(tf.cast(example["label"], tf.float32))
    inside = transform(ones, matrix, "NEAREST", 0) > 0.5
    out = {"label": transform(tf.convert_to_tensor(example["label"]), matrix, "NEAREST", 255)}
    shifted = tf.constant([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0], [0.0, 0.0, 1.0]]) @ matrix
    for key in ("rgb", "hha", "depth"):
        padded = tf.pad(tf.cast(example[key], tf.float32), [[1, 1], [1, 1], [0, 0]], "SYMMETRIC")
        out[key] = tf.where(inside, transform(padded, shifted, "BILINEAR", 0), 0.0)
    return numpy_of(out)


def _rotation_zoom(angle, scale, shift):
    cos, sin = scale * math.cos(angle), scale * math.sin(angle)
    return tf.constant([[cos, -sin, shift[0]], [sin, cos, shift[1]], [0, 0, 1]], tf.float32)


@pytest.mark.parametrize("static", [True, False])  # fused XLA kernel / ImageProjectiveTransformV3
def test_warp_paths_equal_the_padded_reference(static):
    example = grid_example()
    for matrix, out_size in (
        (_rotation_zoom(0.3, 1.3, (-4.2, 3.1)), (20, 28)),  # zoom-out + rotation: padding
        (_rotation_zoom(-0.2, 0.7, (6.3, 2.9)), (H, W)),
    ):
        expected = _reference_warp(example, matrix, out_size)
        fn = lambda e: geometry._warp(e, matrix, tf.constant(out_size), out_size if static else None)
        for out in (numpy_of(fn(example)), in_dataset_map(fn, example)):
            for key in expected:
                assert out[key].shape == expected[key].shape, key
                np.testing.assert_allclose(out[key], expected[key], atol=2e-3, err_msg=key)
            assert out["label"].dtype == np.uint8 and out["rgb"].dtype == np.float32
            outside = out["label"][..., 0] == 255
            assert outside.any() and (out["rgb"][outside] == 0).all()


def test_affine_warp_half_pixel_shift_averages_neighbours_and_fills_outside():
    image = np.arange(12, dtype=np.float32).reshape(3, 4, 1)
    label = np.arange(12, dtype=np.uint8).reshape(3, 4, 1)
    matrix = tf.constant([[1.0, 0.0, 0.5], [0.0, 1.0, -1.0], [0.0, 0.0, 1.0]])  # x+0.5, y−1
    (warped,), (labels,) = K.affine_warp(
        (image,), (label,), matrix, tf.range(4, dtype=tf.float32), tf.range(3, dtype=tf.float32),
        0.0, 255,
    )
    # row 0 samples y = −1 (nearest outside): fill; rows 1–2 sample rows 0–1 at x + 0.5, the
    # mean of two neighbours (ties round away from zero: label x + 1); the last column samples
    # x = 3.5, whose nearest pixel 4 is outside: fill in images and labels alike.
    expected = np.array([[0, 0, 0, 0], [0.5, 1.5, 2.5, 0], [4.5, 5.5, 6.5, 0]], np.float32)
    np.testing.assert_allclose(warped.numpy()[..., 0], expected, atol=1e-6)
    np.testing.assert_array_equal(
        labels.numpy()[..., 0], [[255] * 4, [1, 2, 3, 255], [5, 6, 7, 255]]
    )


@pytest.mark.parametrize("shape", [(48, 64, 3), (5, 7, 3), (3, 3, 1)])  # even and odd counts
def test_stateless_normal_equals_tensorflows(shape):
    for seed in ([1, 2], [7, -3]):
        seed = tf.constant(seed, tf.int64)
        expected = tf.random.stateless_normal(shape, seed).numpy()
        np.testing.assert_allclose(K.stateless_normal(shape, seed).numpy(), expected, atol=1e-5)


def test_pixel_kernels_on_hand_values():
    value = np.array([[[0, 128, 255], [10, 20, 30]]], np.uint8)  # (1, 2, 3)
    scale, offset = np.array([1.0, 0.5, 0.25], np.float32), np.array([-1.0, 0.0, 2.0], np.float32)
    np.testing.assert_allclose(
        K.normalize(value, scale, offset).numpy(),
        [[[-1.0, 64.0, 65.75], [9.0, 10.0, 9.5]]],
    )
    inside = np.array([[[True], [False]]])
    np.testing.assert_array_equal(
        K.mask_images(value.astype(np.float32), inside, 0.0).numpy(), [[[0, 128, 255], [0, 0, 0]]]
    )
    swap = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], np.float32)  # r ↔ b
    np.testing.assert_allclose(
        K.colour_affine(value, 2.0 * swap, np.array([5.0, 0.0, -100.0], np.float32), 0.0, 255.0),
        [[[255, 255, 0], [65, 40, 0]]],
    )
    depth = np.array([[[0.0], [2.0], [-1.0]]], np.float32)
    noise = np.array([[[1.0], [-1.0], [3.0]]], np.float32)
    np.testing.assert_allclose(
        K.add_noise(depth, noise, 0.5, 0.0, float("inf"), True), [[[0.0], [1.5], [0.0]]]
    )
    np.testing.assert_allclose(
        K.add_noise(depth, noise, 0.5, 0.0, 1.0, False), [[[0.5], [1.0], [0.5]]]
    )
