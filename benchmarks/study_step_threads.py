"""Study throughput (benchmarks/README.md "Study throughput"): one compiled training step at the study's size
(batch 4, 128x160, random inputs, 10 classes) on THREADS TensorFlow threads.

    python benchmarks/study_step_threads.py THREADS fp32|bf16 MODEL

Two one-thread processes at once are what ``python -m rfbnet_tf.study --jobs=2`` runs.
"""
import sys
import time

import tensorflow as tf


def main(threads, precision, name, batch=4, height=128, width=160, num_classes=10, runs=40, warmup=5):
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    import keras
    import numpy as np

    from rfbnet_tf.models import build_model
    from rfbnet_tf.profiling.model_latency import bf16_model
    from rfbnet_tf.profiling.train_step import make_trainer, random_labels

    keras.utils.set_random_seed(0)
    model = build_model(name, num_classes)
    if precision == "bf16":
        model = bf16_model(model, name, num_classes)
    rng = np.random.default_rng(0)
    inputs = {key: rng.standard_normal((batch, height, width, 3), dtype=np.float32) for key in ("rgb", "depth")}
    step = make_trainer(model, name, num_classes)((inputs, random_labels(batch, height, width, num_classes)))
    for _ in range(warmup):
        step()
    started = time.perf_counter()
    for _ in range(runs):
        step()
    print(f"{name} {precision} {threads} threads: {(time.perf_counter() - started) / runs * 1000:.1f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], sys.argv[3])
