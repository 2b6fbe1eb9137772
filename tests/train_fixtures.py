"""Shared pieces of the end-to-end training tests (tests/test_train.py, tests/test_rundir_checkpoints.py).

Tiny synthetic records (32x48, 6 train / 2 val frames), the flags of a tiny run, and the subprocess prelude
that switches Grappler off (it costs ~30 s per traced train step on a shared CPU and changes no value the
tests check; in-process runs use the ``fast_graphs`` fixture for the same).
"""

import textwrap

import tensorflow as tf

TINY_RUN = dict(batch_size=2, augment=False, progress=False, val_every=0, image_summary_every=0, seed=3)
"""Flags shared by the tiny end-to-end runs."""

RESUME_RUN = dict(TINY_RUN, model="erfnet_enc", steps=40, checkpoint_every=2, learning_rate=1e-3, summary_every=10,
                  deterministic=True)
"""An RGB erfnet_enc run long enough to be killed mid-way (resume test, two-stage init source)."""

SUBPROCESS_PRELUDE = textwrap.dedent("""
    import tensorflow as tf
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
""")


def make_records(path):
    """Synthetic records in ``path``: 6 train and 2 val frames of 32x48."""
    from rfbnet_tf.datasets.preparation import prepare

    prepare("synthetic", str(path), synthetic_train=6, synthetic_val=2, synthetic_size=(32, 48), num_workers=1,
            progress=False)
    return str(path)


def fast_graphs():
    """Generator for a module fixture: Grappler off while the module's tests run, restored after."""
    previous = tf.config.optimizer.get_experimental_options().get("disable_meta_optimizer", False)
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    yield
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": previous})


def binary_argv(flags_):
    """``--flag=value`` arguments of the train binary for a flags dict."""
    argv = []
    for key, value in flags_.items():
        if isinstance(value, bool):
            argv.append(f"--{key}" if value else f"--no{key}")
        elif isinstance(value, (list, tuple)):
            argv.append(f"--{key}={','.join(str(v) for v in value)}")
        else:
            argv.append(f"--{key}={value}")
    return argv
