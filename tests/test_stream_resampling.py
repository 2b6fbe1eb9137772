"""The resampling between the RGB and the shrunk depth/interaction streams."""

import numpy as np
import pytest
import tensorflow as tf

import reference_ops as ref
from rfbnet_tf.layers.stream_resampling import BilinearUpsample, bilinear_upsample, downsampler


@pytest.mark.parametrize("scale", [2, 3, 8])
def test_bilinear_upsample_equals_tf_image_resize(scale):
    x = np.random.default_rng(scale).normal(size=(2, 5, 7, 3)).astype("float32")
    expected = tf.image.resize(x, (5 * scale, 7 * scale), method="bilinear").numpy()
    np.testing.assert_allclose(bilinear_upsample(x, scale), expected, atol=1e-5)


def test_bilinear_upsample_by_hand():
    x = np.array([0.0, 4.0], "float32").reshape(1, 1, 2, 1)
    # half-pixel centres: outputs sample at -0.25, 0.25, 0.75, 1.25 → clamped 0, 1, 3, 4
    np.testing.assert_allclose(bilinear_upsample(x, 2)[0, 0, :, 0], [0, 1, 3, 4], atol=1e-6)


def test_bilinear_upsample_traces_with_unknown_size():
    fn = tf.function(lambda t: BilinearUpsample(2)(t), input_signature=[tf.TensorSpec([None, None, None, 2])])
    assert fn(tf.zeros((3, 4, 5, 2))).shape == (3, 8, 10, 2)


def test_downsampler_is_half_pixel_bilinear_shrink():
    x = np.random.default_rng(0).normal(size=(1, 8, 6, 2)).astype("float32")
    np.testing.assert_allclose(downsampler(2, "d")(x), ref.avg_pool(x, 2), atol=1e-6)
    expected = tf.image.resize(x, (4, 3), method="bilinear", antialias=False).numpy()
    np.testing.assert_allclose(downsampler(2, "d")(x), expected, atol=1e-5)
    np.testing.assert_array_equal(downsampler(1, "d")(x), x)


@pytest.mark.parametrize("bad", [0, -2, 1.5, True])
def test_bad_scale(bad):
    with pytest.raises(ValueError, match="received"):
        BilinearUpsample(bad)
