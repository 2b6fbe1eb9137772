"""ImageNet initialisation of AdapNet++ (``rfbnet_tf.models.transfer_imagenet_weights``): a randomly initialised
``keras.applications.ResNet50V2`` saved in Keras' HDF5 layout (the layout of the shipped ImageNet file) is
transferred into a full-size AdapNet++ and every mapped tensor is checked; what does not map is reported."""

import numpy as np
import pytest

import keras
from rfbnet_tf.models import build_model, transfer_imagenet_weights
from tests import adapnet_pp_fixtures


@pytest.fixture(scope="module")
def resnet50v2_file(tmp_path_factory):
    """A ResNet50V2 (notop) with every weight random, saved as the Keras ImageNet file is laid out."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    source = keras.applications.ResNet50V2(weights=None, include_top=False, input_shape=(64, 64, 3))
    rng = np.random.default_rng(1)
    for variable in source.weights:
        low = 0.5 if variable.path.endswith(("gamma", "moving_variance")) else -0.5
        variable.assign(rng.uniform(low, low + 1.0, variable.shape).astype(np.float32))
    path = str(tmp_path_factory.mktemp("imagenet") / "resnet50v2_notop.h5")
    with h5py.File(path, "w") as handle:
        legacy_h5_format.save_weights_to_hdf5_group(handle, source)
    tensors = {(layer.name, v.path.split("/")[-1]): v.numpy() for layer in source.layers for v in layer.weights}
    return path, tensors


@pytest.fixture(scope="module")
def transferred(resnet50v2_file):
    path, _ = resnet50v2_file
    model = build_model("adapnet_pp", 12)
    return model, transfer_imagenet_weights(model, path)


def _target(model, line):
    """``(variable, half)`` of a report line's target ``path[first half ...]``."""
    target = line.split(" -> ")[1]
    half = "first" if "[first half" in target else "second" if "[second half" in target else None
    path = target.split("[")[0].split(" ")[0]
    return {v.path: v for v in model.weights}[path], half


def test_every_mapped_tensor_equals_its_source(resnet50v2_file, transferred):
    _, tensors = resnet50v2_file
    model, report = transferred
    non_bias = [key for key in tensors if key[1] != "bias"]
    assert len(report["loaded"]) == len(non_bias) + 5  # 5 multiscale units (official rates) take two halves
    targets = set()
    for line in report["loaded"]:
        layer, weight = line.split(" -> ")[0].split("/")
        source = tensors[(layer, weight)]
        variable, half = _target(model, line)
        if half is not None:
            channels = source.shape[-1] // 2
            source = source[..., :channels] if half == "first" else source[..., channels:]
        np.testing.assert_array_equal(variable.numpy(), source, err_msg=line)
        targets.add((variable.path, half))
    assert len(targets) == len(report["loaded"])  # no variable written twice
    # Spot checks of the mapping, written from the two architectures (not from the report).
    weights = {v.path: v.numpy() for v in model.weights}
    np.testing.assert_array_equal(weights["rgb_s0_u2/conv2_b/kernel"],
                                  tensors[("conv3_block4_2_conv", "kernel")][..., 64:])
    np.testing.assert_array_equal(weights["rgb_block2_unit1/shortcut/kernel"], tensors[("conv3_block1_0_conv", "kernel")])
    np.testing.assert_array_equal(weights["rgb_block1_out_bn/moving_mean"],
                                  tensors[("conv3_block1_preact_bn", "moving_mean")])
    np.testing.assert_array_equal(weights["rgb_block4_unit1/pre_bn/gamma"], tensors[("conv5_block1_preact_bn", "gamma")])
    np.testing.assert_array_equal(weights["rgb_s2_u1/conv2/kernel"], tensors[("conv5_block3_2_conv", "kernel")])
    np.testing.assert_array_equal(weights["rgb_block4_out_bn/beta"], tensors[("post_bn", "beta")])


def test_what_does_not_map_is_reported(resnet50v2_file, transferred):
    _, tensors = resnet50v2_file
    _, report = transferred
    skipped = "\n".join(report["skipped"])
    biases = [f"{layer}/bias" for layer, weight in tensors if weight == "bias"]
    assert len(biases) == 1 + 4 + 16 and all(f"{name}: AdapNet++ convolutions have no bias" in skipped
                                             for name in biases)
    for layer in ("rgb_conv0_bn", "rgb_easpp", "rgb_skip_stride4_conv", "rgb_skip_stride8_bn"):
        assert f"{layer}: no ResNet50V2 counterpart" in skipped, layer
    assert "layers outside the rgb encoder" in skipped  # the decoder
    notes = "\n".join(report["notes"])
    assert "conv2_block3" in notes and "conv4_block6" in notes and "stride" in notes


def test_depth_stream_and_errors(tmp_path, monkeypatch):
    """A one-channel depth stem takes the sum of the RGB stem kernel; a wrong model, file or width fails."""
    adapnet_pp_fixtures.use_tiny_adapnet_pp(monkeypatch)
    tensors = adapnet_pp_fixtures.resnet50v2_tensors()
    path = adapnet_pp_fixtures.write_keras_h5(tmp_path / "tiny.h5", tensors)
    model = build_model("adapnet_pp", 3, modality="depth", depth_channels=1)
    report = transfer_imagenet_weights(model, path, streams=("depth",))
    stem = {v.path: v for v in model.weights}["depth_conv1_conv/kernel"].numpy()
    np.testing.assert_allclose(stem, tensors[("conv1_conv", "kernel")].sum(axis=2, keepdims=True), rtol=1e-6)
    assert any("sum over the RGB input channels" in line for line in report["loaded"])
    assert any("depth stream" in note for note in report["notes"])
    with pytest.raises(ValueError, match="no AdapNet\\+\\+ 'rgb' encoder"):
        transfer_imagenet_weights(model, path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        transfer_imagenet_weights(model, tmp_path / "missing.h5", streams=("depth",))
    wide = adapnet_pp_fixtures.write_keras_h5(tmp_path / "wide.h5", adapnet_pp_fixtures.resnet50v2_tensors(divisor=8))
    with pytest.raises(ValueError, match="conv1_conv/kernel has shape"):
        transfer_imagenet_weights(model, wide, streams=("depth",))
