"""The ERFNetEnc model family: exact parameter counts, shapes, options, two-stage weight transfer."""

import numpy as np
import pytest

from rfbnet_tf.models import MODEL_NAMES, build_model, gate_model, is_multimodal, model_options, transfer_encoder_weights
from rfbnet_tf.layers import ResidualFusionBlock


def trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


# Pinned trainable parameter counts at 19 classes (Cityscapes). The unimodal count is the official ERFNet
# encoder + 1x1 head: 396 + 7,088 + 5*49,664 + 37,184 + 8*197,632 + 2,451 = 1,876,495.
PINNED = [
    ("erfnet_enc", {}, 1_876_495),
    ("erfnet_enc", {"modality": "depth"}, 1_876_495),
    ("erfnet_enc", {"modality": "depth", "depth_channels": 1}, 1_876_281),
    ("ssma_erfnet_enc", {}, 3_857_563),
    ("ssma_erfnet_enc", {"shrink_depth": True}, 3_857_563),
    ("ssma_erfnet_enc", {"depth_channels": 1}, 3_857_349),
    ("rfbnet_erfnet_enc", {}, 4_657_791),
    ("rfbnet_erfnet_enc", {"shrink_depth": False}, 4_657_791),
    ("rfbnet_erfnet_enc", {"gates": False}, 4_210_399),
    ("rfbnet_erfnet_enc", {"add_point": "T"}, 4_657_791),
    ("rfbnet_erfnet_enc", {"add_point": "T_input"}, 4_657_791),  # the parameters of "T"
    ("rfbnet_erfnet_enc", {"add_point": None}, 4_374_639),
    ("rfbnet_erfnet_enc", {"add_point": None, "gates": False}, 4_077_279),
    ("rfbnet_erfnet_enc", {"combination": "concat"}, 4_504_683),
    ("rfbnet_erfnet_enc", {"combination": "sum"}, 4_509_355),
    ("rfbnet_erfnet_enc", {"depth_channels": 1}, 4_657_577),
]


@pytest.mark.parametrize("name, options, count", PINNED, ids=[f"{n}-{o}" for n, o, _ in PINNED])
def test_pinned_trainable_parameter_counts(name, options, count):
    assert trainable(build_model(name, 19, **options)) == count


def test_ssma_and_rfbnet_counts_decompose():
    """SSMA(ERFNetEnc) = two encoders + SSMA block (256→16→256→128+BN) + head; RFBNet adds 8 GFUs."""
    encoder = 1_876_495 - (128 * 19 + 19)
    ssma_block = (9 * 256 * 16 + 16) + (9 * 16 * 256 + 256) + 256 * 128 + 2 * 128
    assert trainable(build_model("ssma_erfnet_enc", 19)) == 2 * encoder + ssma_block + 128 * 19 + 19
    gfu = (9 * 256 * 16 + 16) + 2 * (9 * 16 + 1) + (256 * 64 + 64) + (9 * 64 + 64 * 64) + 2 * 64
    gfu += 2 * (9 * 64 * 16 + 16 + 9 * 16 + 1) + 2 * (64 * 128 + 128)
    ssma_three = (9 * 320 * 20 + 20) + (9 * 20 * 320 + 320) + 320 * 128 + 2 * 128
    assert trainable(build_model("rfbnet_erfnet_enc", 19)) == 2 * encoder + 8 * gfu + ssma_three + 128 * 19 + 19


@pytest.fixture(scope="module")
def rfbnet():
    return build_model("rfbnet_erfnet_enc", 5)


@pytest.mark.parametrize("size", [(32, 48), (64, 32), (48, 80)])
def test_logits_at_input_resolution_for_sizes_divisible_by_16(rfbnet, size):
    rng = np.random.default_rng(0)
    inputs = {"rgb": rng.normal(size=(2, *size, 3)).astype("float32"),
              "depth": rng.normal(size=(2, *size, 3)).astype("float32")}
    logits = rfbnet(inputs, training=False)
    assert tuple(logits.shape) == (2, *size, 5) and "float32" in str(logits.dtype)
    assert np.isfinite(logits.numpy()).all()


def test_every_erfnet_model_builds_and_runs():
    x = np.random.default_rng(1).normal(size=(1, 32, 32, 3)).astype("float32")
    for name in [n for n in MODEL_NAMES if n.endswith("erfnet_enc")]:
        model = build_model(name, 4)
        out = model({"rgb": x, "depth": x} if is_multimodal(name) else x, training=False)
        assert out.shape == (1, 32, 32, 4), name


def test_the_eight_dilated_pairs_become_rfbs_and_only_the_first_starts_the_interaction(rfbnet):
    blocks = [layer for layer in rfbnet.layers if isinstance(layer, ResidualFusionBlock)]
    assert [b.name for b in blocks] == [f"rfb_s0_u{i}" for i in range(8)]
    assert [b.rgb_unit.dilation for b in blocks] == [2, 4, 8, 16, 2, 4, 8, 16]
    assert [b.first for b in blocks] == [True] + [False] * 7
    assert all(b.gfu.interaction_channels == 64 and b.gfu.rgb_scale == 2 for b in blocks)


def test_gate_model_gives_gate_maps_at_the_depth_stream_resolution(rfbnet):
    x = np.random.default_rng(2).normal(size=(1, 64, 96, 3)).astype("float32")
    gates = gate_model(rfbnet)({"rgb": x, "depth": x}).numpy()
    assert gates.shape == (1, 4, 6, 4)  # 1/8 of the input, halved by the depth shrink
    assert gates.min() >= 0 and gates.max() <= 1
    with pytest.raises(ValueError, match="no ResidualFusionBlock"):
        gate_model(build_model("ssma_erfnet_enc", 3))


def test_unshrunk_rfbnet_runs_the_depth_stream_at_full_resolution():
    model = build_model("rfbnet_erfnet_enc", 3, shrink_depth=False)
    x = np.zeros((1, 32, 32, 3), "float32")
    assert gate_model(model)({"rgb": x, "depth": x}).shape == (1, 4, 4, 4)
    assert "depth_shrink" not in [layer.name for layer in model.layers]


def test_two_stage_weight_transfer_loads_the_unimodal_encoders():
    rgb_model = build_model("erfnet_enc", 5, modality="rgb")
    depth_model = build_model("erfnet_enc", 5, modality="depth")
    target = build_model("rfbnet_erfnet_enc", 5)
    loaded, skipped = transfer_encoder_weights(rgb_model, target, "rgb")
    assert len(loaded) == 3 + 5 + 8 and skipped == ["head"]
    transfer_encoder_weights(depth_model, target, "depth")
    for i in range(8):
        block = target.get_layer(f"rfb_s0_u{i}")
        for stream, source in (("rgb", rgb_model), ("depth", depth_model)):
            for a, b in zip(getattr(block, f"{stream}_unit").get_weights(), source.get_layer(f"{stream}_s0_u{i}").get_weights()):
                np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(target.get_layer("depth_down1").get_weights()[0], depth_model.get_layer("depth_down1").get_weights()[0])
    ssma = build_model("ssma_erfnet_enc", 5)
    loaded, _ = transfer_encoder_weights(rgb_model, ssma, "rgb")
    assert len(loaded) == 16
    np.testing.assert_array_equal(ssma.get_layer("rgb_s0_u7").get_weights()[0], rgb_model.get_layer("rgb_s0_u7").get_weights()[0])


def test_weight_transfer_fails_on_mismatch():
    raw_depth = build_model("erfnet_enc", 5, modality="depth", depth_channels=1)
    with pytest.raises(ValueError, match="weight shapes"):
        transfer_encoder_weights(raw_depth, build_model("rfbnet_erfnet_enc", 5), "depth")
    with pytest.raises(ValueError, match="no 'depth' encoder layer"):
        transfer_encoder_weights(build_model("erfnet_enc", 5), build_model("ssma_erfnet_enc", 5), "depth")
    with pytest.raises(ValueError, match="stream"):
        transfer_encoder_weights(raw_depth, raw_depth, "hha")


@pytest.mark.parametrize(
    "name, kwargs, match",
    [
        ("nope", {}, "unknown model"),
        ("erfnet_enc", {"gates": True}, "unknown option"),
        ("erfnet_enc", {"modality": "lidar"}, "modality"),
        ("rfbnet_erfnet_enc", {"add_point": "X"}, "add_point"),
        ("rfbnet_erfnet_enc", {"combination": "max"}, "combination"),
        ("rfbnet_erfnet_enc", {"depth_channels": 2}, "depth_channels"),
        ("ssma_erfnet_enc", {"shrink_depth": "yes"}, "shrink_depth"),
    ],
)
def test_bad_options(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_model(name, 5, **kwargs)


def test_bad_num_classes():
    with pytest.raises(ValueError, match="received 1"):
        build_model("erfnet_enc", 1)


def test_model_options_lists_defaults():
    assert model_options("rfbnet_erfnet_enc") == {
        "depth_channels": 3, "shrink_depth": True, "gates": True, "add_point": "R", "combination": "ssma"
    }
