"""The AdapNet++ family end to end (issue: AdapNet++, SSMA(AdapNet++), RFBNet(AdapNet++)): a few training steps on
tiny synthetic records, two-stage initialisation from a unimodal AdapNet++ run, checkpoint restore, export.

The tiny AdapNet++ of tests/adapnet_pp_fixtures.py (1/16 of the widths, 7 of the 16 units: every kind of layer,
stage, skip and RFB, a fraction of the graph); SSMA(AdapNet++) training runs in tests/test_adapnet_pp_protocol.py."""

import numpy as np
import pytest
import tensorflow as tf

from rfbnet_tf import rundir
from rfbnet_tf.models.weight_transfer import _weight_layers
from tests import adapnet_pp_fixtures, train_fixtures

_fast_graphs = pytest.fixture(scope="module", autouse=True)(train_fixtures.fast_graphs)


@pytest.fixture(scope="module", autouse=True)
def _tiny_backbone():
    with pytest.MonkeyPatch.context() as patch:
        adapnet_pp_fixtures.use_tiny_adapnet_pp(patch)
        yield

RUN = dict(train_fixtures.TINY_RUN, batch_size=1, steps=2, checkpoint_every=2, summary_every=1,
           image_size=[64, 64], learning_rate=1e-4)


@pytest.fixture(scope="module")
def record_dir(tmp_path_factory):
    from rfbnet_tf.datasets.preparation import prepare

    path = str(tmp_path_factory.mktemp("records64"))
    prepare("synthetic", path, synthetic_train=3, synthetic_val=1, synthetic_size=(64, 64), num_workers=1,
            progress=False)
    return path


@pytest.fixture(scope="module")
def unimodal_dir(record_dir, tmp_path_factory):
    from rfbnet_tf.training.trainer import train

    model_dir = str(tmp_path_factory.mktemp("adapnet") / "run")
    summary = train(dict(RUN, record_dir=record_dir, model_dir=model_dir, model="adapnet_pp", modality="rgb",
                         aux_losses=True))
    assert summary["step"] == 2 and all(np.isfinite(summary["losses"]))
    return model_dir


def test_rfbnet_adapnet_pp_two_stage_train_restore_export(record_dir, unimodal_dir, tmp_path):
    from rfbnet_tf.inference.saved_model_export import ExportConfig, export_model
    from rfbnet_tf.training.trainer import train

    model_dir = str(tmp_path / "rfbnet")
    summary = train(dict(RUN, record_dir=record_dir, model_dir=model_dir, model="rfbnet_adapnet_pp",
                         aux_losses=True, rgb_init=unimodal_dir, learning_rate=1e-12))
    assert summary["step"] == 2 and all(np.isfinite(summary["losses"]))
    loaded = summary["init"]["rgb"]["loaded"]
    assert any(name.startswith("rgb_s0_u") for name in loaded)  # bottleneck units inside the RFBs

    # With a negligible learning rate (Adam steps are about lr) the trained encoder still holds the unimodal
    # weights (BN moving statistics aside: they are not trainable weights).
    source, _, _ = rundir.checkpoints.restore_model(unimodal_dir)
    target, config, step = rundir.checkpoints.restore_model(model_dir)
    assert step == 2 and config.model.name == "rfbnet_adapnet_pp"
    source_layers, target_layers = dict(_weight_layers(source)), dict(_weight_layers(target))
    for name in loaded:
        for a, b in zip(source_layers[name].trainable_weights, target_layers[name].trainable_weights):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0, atol=1e-9)

    # verify=False: the export is loaded and run below (the verification itself: tests/test_export.py)
    export_dir = export_model(ExportConfig(model_dir, str(tmp_path / "export"), verify=False))
    served = tf.saved_model.load(export_dir).signatures["serving_default"]
    rng = np.random.default_rng(0)
    out = served(rgb=tf.constant(rng.integers(0, 255, (1, 64, 64, 3), dtype=np.uint8)),
                 depth=tf.constant(rng.integers(0, 255, (1, 64, 64, 3), dtype=np.uint8)))
    assert out["class_ids"].shape == (1, 64, 64) and out["probabilities"].shape == (1, 64, 64, 10)
    np.testing.assert_allclose(out["probabilities"].numpy().sum(-1), 1.0, atol=1e-4)
