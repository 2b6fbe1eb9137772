"""Is the model or the input pipeline the bottleneck of training?

Three rates in examples/s, same batch size, same records (``make_dataset(..., training=True)`` with every
augmentation of the paper at its default: flip, scale, rotation, colour jitter, Gaussian noise):

* ``pipeline_alone`` — ``rfbnet_tf.datasets.pipeline.measure_rate``: the pipeline with no consumer;
* ``model_alone`` — training steps on one batch of the pipeline cached in memory;
* ``feeding_training`` — training steps reading their batches from the pipeline.

The slower of the first two bounds the third; ``bottleneck`` names it, and ``overlap`` =
``feeding_training / min(pipeline_alone, model_alone)`` (1 = the pipeline runs fully in parallel with the
steps; lower = they compete for the same cores, as they do on a 2-core machine).

``synthetic_records`` makes a small record directory (``rfbnet_tf.datasets.preparation.prepare("synthetic",
...)``) when no prepared records are given; :func:`pipeline_measurement` is the benchmark's ``--pipeline``: the
rates on given records or on synthetic ones in a temporary directory.
"""

import gc
import shutil
import tempfile

import keras

from rfbnet_tf.models import build_model
from rfbnet_tf.profiling.benchmark_report import size_text
from rfbnet_tf.profiling.measurement import time_callable
from rfbnet_tf.utils.checks import int_at_least
from rfbnet_tf.profiling.train_step import make_trainer


def synthetic_records(output_dir, size=(480, 640), count=16, seed=0, num_workers=1):
    """Write ``count`` synthetic train frames of ``size`` (h, w) to ``output_dir`` (``num_workers`` processes;
    1 = in this process); returns the directory."""
    from rfbnet_tf.datasets.preparation import prepare

    int_at_least("count", count, 1)
    prepare(
        "synthetic",
        output_dir,
        splits=("train",),
        synthetic_train=count,
        synthetic_size=tuple(size),
        seed=seed,
        num_workers=num_workers,
        progress=False,
        overwrite=True,
    )
    return output_dir


def pipeline_rates(record_dir, model_name, batch_size=2, num_batches=10, train_steps=3, split="train", seed=0):
    """The three rates of the module docstring for ``model_name`` on the records of ``record_dir``.

    Returns a dict with ``pipeline_alone`` (and ``pipeline_cpu_ms_per_example``: this process's CPU time per example
    while it ran), ``model_alone``, ``feeding_training`` (examples/s), ``bottleneck``
    ("pipeline" or "model"), ``overlap``, ``batch_size``, ``image_size`` ((h, w) of the records).
    """
    from rfbnet_tf.datasets.pipeline import make_dataset, measure_rate_and_cpu
    from rfbnet_tf.datasets.records import load_dataset_info

    int_at_least("batch_size", batch_size, 1)
    int_at_least("num_batches", num_batches, 1)
    int_at_least("train_steps", train_steps, 1)
    info = load_dataset_info(record_dir)
    num_classes = int(info["num_classes"])
    height, width = (int(v) for v in info["image_size"])
    kwargs = {"batch_size": batch_size, "training": True, "seed": seed, "depth_input": "hha"}
    pipeline_alone, cpu_per_example = measure_rate_and_cpu(record_dir, split, num_batches, **kwargs)

    keras.utils.set_random_seed(seed)
    model = build_model(model_name, num_classes)
    # One batch cached in memory: same element spec as the pipeline, so both feeds share one compiled step.
    fixed = make_dataset(record_dir, split, **kwargs).take(1).cache()
    feed = make_trainer(model, model_name, num_classes)
    model_alone = batch_size / time_callable(feed(fixed), warmup=1, runs=train_steps)["median_s"]
    fed_step = feed(make_dataset(record_dir, split, **kwargs))
    feeding = batch_size / time_callable(fed_step, warmup=1, runs=train_steps)["median_s"]
    del model, feed, fed_step
    gc.collect()
    slower = min(pipeline_alone, model_alone)
    return {
        "model": model_name,
        "record_dir": str(record_dir),
        "image_size": [height, width],
        "batch_size": batch_size,
        "augmentations": "paper defaults (AugmentConfig()): flip, scale, rotation, colour jitter, noise",
        "pipeline_alone": pipeline_alone,
        "pipeline_cpu_ms_per_example": 1e3 * cpu_per_example,
        "model_alone": model_alone,
        "feeding_training": feeding,
        "bottleneck": "pipeline" if pipeline_alone < model_alone else "model",
        "overlap": feeding / slower,
    }


def pipeline_measurement(record_dir, model_name, size, examples, batch, batches, steps, seed, log):
    """:func:`pipeline_rates` of ``model_name`` (a checked name) on ``record_dir``, or on ``examples`` synthetic
    frames of ``size`` (H, W) written to a temporary directory (removed afterwards) when ``record_dir`` is None."""
    temporary = None
    if record_dir is None:
        temporary = tempfile.mkdtemp(prefix="rfbnet_benchmark_records_")
        log(f"[benchmark] writing {examples} synthetic {size_text(size)} records to {temporary}")
        record_dir = synthetic_records(temporary, size=size, count=examples, seed=seed)
    try:
        log(f"[benchmark] input pipeline and {model_name} training steps on {record_dir}")
        rates = pipeline_rates(record_dir, model_name, batch_size=batch, num_batches=batches, train_steps=steps,
                               seed=seed)
        rates["synthetic"] = temporary is not None
        return rates
    finally:
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)
