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

import dataclasses
import numbers
import os
import random
import time

import numpy as np
import tensorflow as tf

from rfbnet_tf.datasets import augment as augment_lib
from rfbnet_tf.datasets import pixel_kernels
from rfbnet_tf.datasets import records, shards

DEPTH_INPUTS = ("hha", "depth")
"""``depth_input`` choices: the HHA image (3 channels) or completed depth in metres (1)."""

_READ_PARALLELISM = 4  # shards read concurrently


# --------------------------------------------------------------------------- normalisation


def _check_depth_input(depth_input):
    if depth_input not in DEPTH_INPUTS:
        raise ValueError(f"depth_input must be one of {DEPTH_INPUTS}, got {depth_input!r}")


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
    _check_depth_input(depth_input)
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


def _positive_int(name, value):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def _augment_config(augment, crop_size):
    if augment is None:
        augment = augment_lib.AugmentConfig()
    if not isinstance(augment, augment_lib.AugmentConfig):
        raise ValueError(f"augment must be None or an AugmentConfig, got {augment!r}")
    if crop_size is not None:
        if augment.crop_size not in (None, crop_size):
            raise ValueError(
                f"crop_size {crop_size!r} conflicts with augment.crop_size {augment.crop_size!r}"
            )
        augment = dataclasses.replace(augment, crop_size=crop_size)
    return augment


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


def make_dataset(
    record_dir,
    split,
    *,
    batch_size,
    training,
    image_size=None,
    crop_size=None,
    depth_input="hha",
    augment=None,
    shuffle_buffer=256,
    seed=None,
    start=0,
    repeat=None,
    drop_remainder=None,
    keep_full_label=False,
    num_parallel_calls=tf.data.AUTOTUNE,
    statistics=None,
) -> tf.data.Dataset:
    """Batches of ``(inputs, label)`` (or ``(inputs, label, label_full)``) from record shards.

    Args:
      record_dir: directory with ``{split}-*-of-*.tfrecord`` and ``dataset_info.json``.
      split: e.g. ``"train"``, ``"val"``.
      batch_size: examples per batch.
      training: shuffle + repeat + augment + drop remainder (each overridable below); else
        deterministic evaluation order without augmentation (``augment``/``crop_size`` ignored).
      image_size: ``(h, w)`` to resize to before augmentation; ``None`` keeps the stored size
        (batches then need equally sized frames).
      crop_size: ``(h, w)`` of the training crop (sets ``augment.crop_size``); ``None`` keeps
        ``augment.crop_size`` (``None`` there = output at the input size).
      depth_input: ``"hha"`` (3 channels) or ``"depth"`` (completed depth, metres, 1 channel).
      augment: an :class:`~rfbnet_tf.datasets.augment.AugmentConfig`; ``None`` = paper defaults.
      shuffle_buffer: records in the shuffle buffer (training; 0 or 1 = no record shuffle).
      seed: int, makes training reproducible (shuffles and augmentation); ``None`` = random.
      start: training: the stream's first position (examples already consumed: a resumed run passes
        ``step * batch_size``); the stream from there is the uninterrupted one's, element for element.
      repeat: ``None`` (= training), ``True`` forever, ``False`` once, or a number of epochs.
      drop_remainder: ``None`` (= training) or bool.
      keep_full_label: evaluation at the stored resolution (as the paper benchmarks): elements
        become ``(inputs, label, label_full)`` with ``label_full`` int32 (1, H, W); needs
        ``batch_size=1`` and ``training=False``.
      num_parallel_calls: parallelism of the per-example map (``tf.data.AUTOTUNE`` or an int).
      statistics: where the normalisation statistics come from: ``None`` = ``record_dir``'s
        ``dataset_info.json``, or a dict with a ``normalization`` entry (a trained run's
        ``run_info.json``: evaluate normalises other records exactly as the run was trained).

    Raises:
      FileNotFoundError: missing record dir, split shards or ``dataset_info.json`` (names the
        path).
      ValueError: bad argument (the message shows the received value).
    """
    batch_size = _positive_int("batch_size", batch_size)
    if not isinstance(training, bool):
        raise ValueError(f"training must be a bool, got {training!r}")
    if image_size is not None:
        image_size = augment_lib.as_size(image_size, "image_size")
    if crop_size is not None:
        crop_size = augment_lib.as_size(crop_size, "crop_size")
    _check_depth_input(depth_input)
    if not isinstance(shuffle_buffer, numbers.Integral) or isinstance(shuffle_buffer, bool) or (
        shuffle_buffer < 0
    ):
        raise ValueError(f"shuffle_buffer must be an int >= 0, got {shuffle_buffer!r}")
    if seed is not None and (
        not isinstance(seed, numbers.Integral) or isinstance(seed, bool) or not 0 <= seed < 2**62
    ):
        raise ValueError(f"seed must be None or an int in [0, 2**62), got {seed!r}")
    if not isinstance(start, numbers.Integral) or isinstance(start, bool) or start < 0 or (start and not training):
        raise ValueError(f"start must be an int >= 0 (and 0 unless training), got {start!r}")
    if repeat is None:
        repeat = training
    if not (isinstance(repeat, bool) or (isinstance(repeat, numbers.Integral) and repeat >= 1)):
        raise ValueError(f"repeat must be None, a bool or a positive int, got {repeat!r}")
    if drop_remainder is None:
        drop_remainder = training
    if not isinstance(drop_remainder, bool):
        raise ValueError(f"drop_remainder must be None or a bool, got {drop_remainder!r}")
    if not isinstance(keep_full_label, bool):
        raise ValueError(f"keep_full_label must be a bool, got {keep_full_label!r}")
    if keep_full_label and (batch_size != 1 or training):
        raise ValueError(
            "keep_full_label=True needs batch_size=1 and training=False, got "
            f"batch_size={batch_size!r}, training={training!r}"
        )
    if num_parallel_calls != tf.data.AUTOTUNE:
        num_parallel_calls = _positive_int("num_parallel_calls", num_parallel_calls)
    config = _augment_config(augment, crop_size) if training else None

    if not os.path.isdir(record_dir):
        raise FileNotFoundError(f"record directory {os.fspath(record_dir)!r} does not exist")
    files = shards.shard_files(os.fspath(record_dir), split)
    info = records.load_dataset_info(os.fspath(record_dir))
    label_bits = records.stored_label_bits(info)
    stats = normalization(record_dir if statistics is None else statistics, depth_input)
    keys = ("rgb", depth_input, "label")

    if seed is None:
        base_seed = random.SystemRandom().randrange(2**31)
        deterministic = not training
    else:
        base_seed, deterministic = int(seed), True

    if training:  # (position, serialized record): the record each position of the stream addresses
        dataset = _addressed_records(files, shards.shard_sizes(os.fspath(record_dir), split, info), base_seed,
                                     shuffle=shuffle_buffer > 1, start=start, repeat=repeat,
                                     deterministic=deterministic, where=f"split {split!r} of {record_dir!r}")
    else:  # file order, one shard after another
        dataset = tf.data.TFRecordDataset(tf.data.Dataset.from_tensor_slices(files))
        if repeat is True:
            dataset = dataset.repeat()
        elif repeat is not False and repeat > 1:
            dataset = dataset.repeat(int(repeat))
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
        if keep_full_label:
            return inputs, label, tf.cast(tf.squeeze(full_label, -1), tf.int32)
        return inputs, label

    dataset = dataset.map(load, num_parallel_calls=num_parallel_calls, deterministic=deterministic)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    return dataset.prefetch(tf.data.AUTOTUNE)


def measure_rate(record_dir, split, num_batches, **make_dataset_kwargs) -> float:
    """Examples per second of ``make_dataset(record_dir, split, **kwargs)`` over ``num_batches``
    batches, after one warm-up batch (tracing, buffer fill) that is not timed."""
    return measure_rate_and_cpu(record_dir, split, num_batches, **make_dataset_kwargs)[0]


def measure_rate_and_cpu(record_dir, split, num_batches, **make_dataset_kwargs) -> tuple:
    """``(examples per second, CPU seconds per example)`` of :func:`measure_rate`'s timed batches; the CPU time is
    this process's (every thread: the parallel map and the prefetch included) over the same interval."""
    num_batches = _positive_int("num_batches", num_batches)
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
