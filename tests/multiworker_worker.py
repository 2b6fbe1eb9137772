"""One worker of tests/test_multiworker.py, run with ``TF_CONFIG`` set by the caller.

Usage: python multiworker_worker.py FLAGS_JSON [PAUSE_S] — trains with ``train(FLAGS_JSON)``, prints
``LOSS <value>`` after every step (then sleeps ``PAUSE_S``, so the caller can kill it mid-run) and
``SUMMARY <json>`` at the end (after SIGINT / SIGTERM: the train binary's line and exit status instead), with the
comparable settings of :func:`comparable_arithmetic`.
"""

import json
import sys
import time

import tensorflow as tf


def comparable_arithmetic():
    """What makes a two-replica run comparable with a one-replica run step by step:

    * no dropout (ERFNetEnc's rates set to 0; read when a model is built): each replica draws its own masks
      for its half of the batch;
    * the short ERFNetEnc (tests/short_backbones.py; the strategy's arithmetic does not depend on the depth);
    * float64 weights and activations (``keras.config.set_floatx``; the logits stay float32): Keras'
      synchronized batch norm computes the variance as E[x²] − E[x]², which turns the float32 rounding of
      summing over two halves instead of one batch into gradient differences of up to 3 % (measured on
      ERFNetEnc at 32x48), ~1 % loss differences after four Adam steps; in float64 the one- and two-replica
      gradients agree to 1e-13 and the losses to 1e-7.
    """
    import keras

    from rfbnet_tf.models import erfnet_backbone
    from tests import short_backbones

    erfnet_backbone.STAGE1_DROPOUT = erfnet_backbone.FUSED_DROPOUT = 0.0
    short_backbones.use_short_erfnet_in_this_process()
    keras.config.set_floatx("float64")


def main(flags_json, pause):
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})  # tracing: ~10x faster
    comparable_arithmetic()
    from rfbnet_tf.training import interruption, steps
    from rfbnet_tf.training.trainer import train

    make_train_step = steps.make_train_step

    def printing_train_step(*args, **kwargs):
        train_step = make_train_step(*args, **kwargs)

        def run(iterator):
            result = train_step(iterator)
            print(f"LOSS {float(result['loss'])!r}", flush=True)
            time.sleep(pause)
            return result

        return run

    steps.make_train_step = printing_train_step
    with interruption.exits_when_interrupted():  # as the train binary: one line, exit 130 / 143
        summary = train(json.loads(flags_json))
    keys = ("step", "start_step", "losses", "checkpoint", "num_replicas")
    print("SUMMARY " + json.dumps({key: summary[key] for key in keys}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 0.0)
