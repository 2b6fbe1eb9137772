"""Record files → batches: the ``tf.data`` input pipeline of training and evaluation.

``make_dataset`` reads the shards written by :mod:`rfbnet_tf.datasets.records` and yields
``(inputs, label)`` with ``inputs = {"rgb": float32 (B,h,w,3), "depth": float32 (B,h,w,C)}``
(C = 3 for HHA, 1 for completed depth in metres) normalised with the train-split statistics of
``dataset_info.json`` (or given ones: ``statistics``), and ``label`` int32 (B,h,w) train ids, 255 = ignore
(65535 for records of more than 255 classes: the records' ``ignore_label``, decoded as their ``label_bits`` say).

Per example: parse (decoding only the images needed) → resize to ``image_size`` (images
bilinear, labels nearest; the paper trains ScanNet at 640×480 and Cityscapes at 1024×512,
Sec. IV-B) → augment (training only, :mod:`rfbnet_tf.datasets.augment`) → normalise.

Training: position ``p`` of the stream is record ``p mod N`` of epoch ``p div N`` of a permutation of the
whole split seeded by ``(seed, epoch)`` (``index_shuffle``; no shuffle buffer), read from its shard by
offset; the stream repeats, every example gets its own augmentation seed ``[seed, p]``, and batches
drop the remainder.  So the stream is a pure function of ``(seed, position)``: ``start`` resumes it
anywhere at the cost of skipping record headers, and a checkpoint needs to store no data.
``seed=None`` draws one and lets the parallel reads and map run out of order (faster).  Evaluation: deterministic resize only, shards read in
file order, no shuffle, no repeat, partial last batch kept.

Cost at 640×480 (synthetic records, CPU ms per example, all threads): PNG decoding of RGB + HHA
+ label ≈ 15 (RGB as JPEG, ``prepare_data --rgb_format=jpeg``: ≈ 10); normalisation ≈ 2–3
(fused XLA kernel); all training augmentations ≈ 35–40.  Evaluation ≈ 17–18 ms/example in all,
training ≈ 50–55, so 2 free cores give ≈ 110 resp. ≈ 38 examples/s.
"""

from __future__ import annotations

import os
import random
import time

import numpy as np
import tensorflow as tf

from rfbnet_tf.datasets import augment as augment_lib
from rfbnet_tf.datasets import pixel_kernels
from rfbnet_tf.datasets import records, shards
from rfbnet_tf.datasets.pipeline_config import PipelineConfig, check_depth_input
from rfbnet_tf.utils.checks import positive_int

_READ_PARALLELISM = 4  # shards read concurrently


# --------------------------------------------------------------------------- normalisation


def _stats(info: dict, key: str, where: str) -> dict:
    try:
        entry = info["normalization"][key]
        mean = np.asarray(entry["mean"], np.float32).reshape(-1)
        std = np.asarray(entry["std"], np.float32).reshape(-1)
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"dataset info {where} has no usable normalization[{key!r}]") from error
    if mean.shape != std.shape or not np.all(np.isfinite(mean)) or not np.all(std > 0):
        raise ValueError(
            f"dataset info {where}: normalization[{key!r}] needs finite mean and positive std of "
            f"one length, got mean={mean.tolist()}, std={std.tolist()}"
        )
    return {"mean": mean, "std": std}


def _info(record_dir_or_info) -> tuple[dict, str]:
    if isinstance(record_dir_or_info, dict):
        return record_dir_or_info, "(dict)"
    if isinstance(record_dir_or_info, (str, os.PathLike)):
        return records.load_dataset_info(os.fspath(record_dir_or_info)), repr(
            os.fspath(record_dir_or_info)
        )
    raise ValueError(
        f"expected a record directory or a dataset-info dict, got {record_dir_or_info!r}"
    )


def normalization(record_dir, depth_input: str = "hha") -> dict:
    """Mean/std per model input: ``{"rgb": {"mean": (3,), "std": (3,)}, "depth": {...}}``.

    ``"depth"`` holds the statistics of ``depth_input`` ("hha": 0..255 HHA, 3 values;
    "depth": completed depth in metres, 1 value).  float32 numpy arrays.
    """
    check_depth_input(depth_input)
    info, where = _info(record_dir)
    return {"rgb": _stats(info, "rgb", where), "depth": _stats(info, depth_input, where)}


def denormalize(x, key: str, record_dir_or_info):
    """Undo the normalisation of one input for display: uint8 of the same shape.

    ``key`` names the statistics: ``"rgb"`` or ``"hha"`` (back to 0..255, rounded and clipped)
    or ``"depth"`` (metres, shown as ``255 · d / (mean + 3·std)`` clipped, near = dark).
    ``x`` is a numpy array (→ numpy) or a tensor (→ tensor, graph friendly).
    """
    if key not in ("rgb", "hha", "depth"):
        raise ValueError(f"key must be 'rgb', 'hha' or 'depth', got {key!r}")
    info, where = _info(record_dir_or_info)
    stats = _stats(info, key, where)
    value = tf.cast(x, tf.float32) * stats["std"] + stats["mean"]
    if key == "depth":
        value = value * (255.0 / float(stats["mean"][0] + 3.0 * stats["std"][0]))
    out = tf.cast(tf.round(tf.clip_by_value(value, 0.0, 255.0)), tf.uint8)
    return out.numpy() if isinstance(x, np.ndarray) else out


# --------------------------------------------------------------------------- arguments


def _normalize(example, stats, depth_key):
    def norm(value, entry):  # (x − mean) / std as one fused cast + multiply-add (XLA)
        scale = (1.0 / entry["std"]).astype(np.float32)
        offset = (-entry["mean"] * scale).astype(np.float32)
        return pixel_kernels.normalize(value, scale, offset)

    inputs = {
        "rgb": norm(example["rgb"], stats["rgb"]),
        "depth": norm(example[depth_key], stats["depth"]),
    }
    label = tf.cast(tf.squeeze(example["label"], -1), tf.int32)
    return inputs, label


# --------------------------------------------------------------------------- dataset


def _addressed_records(files, sizes, seed, *, shuffle, start, repeat, deterministic, where) -> tf.data.Dataset:
    """``(position, serialized record)`` for the positions ``start, start + 1, ...`` of the training stream.

    Position ``p`` is record ``i = p mod N`` of epoch ``p div N`` (``N = sum(sizes)``); with ``shuffle``, ``i`` is
    first permuted by ``index_shuffle`` seeded with ``(seed, epoch)``, a uniform permutation of the whole split per
    epoch.  Record ``i`` is read from its shard by skipping the records before it unbuffered (TensorFlow's
    ``SkipRecords`` reads their 12-byte headers only), so the stream is a pure function of ``(seed, position)``:
    a resume starts at its position at the cost of a few header reads, and nothing of the stream needs saving."""
    total = sum(sizes)
    if total == 0:
        raise ValueError(f"{where} holds no record")
    epochs = None if repeat is True else (1 if repeat is False else int(repeat))
    positions = (tf.data.Dataset.counter(start) if epochs is None
                 else tf.data.Dataset.range(start, max(start, total * epochs)))
    paths = tf.constant(files)
    ends = tf.constant(np.cumsum(sizes), tf.int64)  # one past each shard's last record
    firsts = ends - tf.constant(sizes, tf.int64)
    seed = tf.constant(seed, tf.int64)

    @tf.autograph.experimental.do_not_convert
    def locate(position):
        record = position % total
        if shuffle:
            record = tf.random.experimental.index_shuffle(record, tf.stack([seed, position // total]), total - 1)
        shard = tf.searchsorted(ends, record[tf.newaxis], side="right")[0]
        return position, paths[shard], record - firsts[shard]

    @tf.autograph.experimental.do_not_convert
    def read(position, path, offset):
        record = tf.data.TFRecordDataset(path, buffer_size=0).skip(offset).take(1)
        # A shard shorter than dataset_info.json says fails here instead of shifting the stream.
        record = record.apply(tf.data.experimental.assert_cardinality(1))
        return record.map(lambda serialized: (position, serialized))

    return positions.map(locate).interleave(read, cycle_length=_READ_PARALLELISM, block_length=1,
                                            num_parallel_calls=_READ_PARALLELISM, deterministic=deterministic)


def make_dataset(record_dir, split, **options) -> tf.data.Dataset:
    """Batches of ``(inputs, label)`` (or ``(inputs, label, label_full)``) from record shards.

    Args:
      record_dir: directory with ``{split}-*-of-*.tfrecord`` and ``dataset_info.json``.
      split: e.g. ``"train"``, ``"val"``.
      **options: the fields of :class:`~rfbnet_tf.datasets.pipeline_config.PipelineConfig` (``batch_size`` and
        ``training`` required), checked there.

    Raises:
      FileNotFoundError: missing record dir, split shards or ``dataset_info.json`` (names the
        path).
      ValueError: bad argument (the message shows the received value).
    """
    options = PipelineConfig(**options)
    training, batch_size, depth_input, image_size = (options.training, options.batch_size, options.depth_input,
                                                     options.image_size)
    config = options.augment_config
    if not os.path.isdir(record_dir):
        raise FileNotFoundError(f"record directory {os.fspath(record_dir)!r} does not exist")
    files = shards.shard_files(os.fspath(record_dir), split)
    info = records.load_dataset_info(os.fspath(record_dir))
    label_bits = records.stored_label_bits(info)
    stats = normalization(record_dir if options.statistics is None else options.statistics, depth_input)
    keys = ("rgb", depth_input, "label")

    if options.seed is None:
        base_seed = random.SystemRandom().randrange(2**31)
        deterministic = not training
    else:
        base_seed, deterministic = int(options.seed), True

    if training:  # (position, serialized record): the record each position of the stream addresses
        dataset = _addressed_records(files, shards.shard_sizes(os.fspath(record_dir), split, info), base_seed,
                                     shuffle=options.shuffle_buffer > 1, start=options.start,
                                     repeat=options.repeat,
                                     deterministic=deterministic, where=f"split {split!r} of {record_dir!r}")
    else:  # file order, one shard after another
        dataset = tf.data.TFRecordDataset(tf.data.Dataset.from_tensor_slices(files))
        if options.repeat is True:
            dataset = dataset.repeat()
        elif options.repeat is not False and options.repeat > 1:
            dataset = dataset.repeat(int(options.repeat))
        dataset = dataset.enumerate()

    @tf.autograph.experimental.do_not_convert  # plain graph code: skip AutoGraph's rewrite
    def load(index, serialized):
        example = records.parse_example(serialized, keys=keys, label_bits=label_bits)
        example = {key: example[key] for key in keys}
        full_label = example["label"]
        if image_size is not None:
            example = augment_lib.resize(example, image_size)
        if config is not None:
            example_seed = tf.stack([tf.constant(base_seed, tf.int64), index])
            example = augment_lib.augment(example, config, example_seed)
        inputs, label = _normalize(example, stats, depth_input)
        if options.keep_full_label:
            return inputs, label, tf.cast(tf.squeeze(full_label, -1), tf.int32)
        return inputs, label

    dataset = dataset.map(load, num_parallel_calls=options.num_parallel_calls, deterministic=deterministic)
    dataset = dataset.batch(batch_size, drop_remainder=options.drop_remainder)
    return dataset.prefetch(tf.data.AUTOTUNE)


def measure_rate(record_dir, split, num_batches, **make_dataset_kwargs) -> float:
    """Examples per second of ``make_dataset(record_dir, split, **kwargs)`` over ``num_batches``
    batches, after one warm-up batch (tracing, buffer fill) that is not timed."""
    return measure_rate_and_cpu(record_dir, split, num_batches, **make_dataset_kwargs)[0]


def measure_rate_and_cpu(record_dir, split, num_batches, **make_dataset_kwargs) -> tuple:
    """``(examples per second, CPU seconds per example)`` of :func:`measure_rate`'s timed batches; the CPU time is
    this process's (every thread: the parallel map and the prefetch included) over the same interval."""
    num_batches = positive_int("num_batches", num_batches)
    iterator = iter(make_dataset(record_dir, split, **make_dataset_kwargs))
    try:
        next(iterator)
    except StopIteration:
        raise ValueError(f"split {split!r} of {record_dir!r} yields no batch") from None
    examples = 0
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(num_batches):
        try:
            element = next(iterator)
        except StopIteration:
            break
        examples += int(element[1].shape[0])
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    if examples == 0:
        raise ValueError(
            f"split {split!r} of {record_dir!r} has no batch after the warm-up one; "
            "use repeat=True or more data"
        )
    return examples / elapsed, cpu / examples
