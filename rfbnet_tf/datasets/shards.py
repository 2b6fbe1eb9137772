"""Shard naming of a record directory: ``{record_dir}/{split}-{i:05d}-of-{n:05d}.tfrecord``
(:func:`shard_name`, :func:`shard_files`), and the one-line error that names a corrupt shard behind a
``tf.errors.DataLossError`` (:func:`corrupt_shard`, :func:`read_error`, :func:`naming_corrupt_shards`).

Imports no TensorFlow at module level: the writers of ``prepare`` name shards without it; the corruption hints
import it on first use.
"""

from __future__ import annotations

import contextlib
import os
import re

from absl import logging

from rfbnet_tf.utils import checks

_SHARD_RE = re.compile(r"^(?P<split>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.tfrecord$")


def shard_name(split: str, index: int, count: int) -> str:
    """File name of shard ``index`` (0-based) of ``count`` for ``split``."""
    if not isinstance(split, str) or not split or "/" in split:
        raise ValueError(f"split must be a non-empty name without '/', got {split!r}")
    if not (checks.is_int(count) and count >= 1 and checks.is_int(index) and 0 <= index < count):
        raise ValueError(f"need 0 <= index < count, got index={index!r}, count={count!r}")
    return f"{split}-{index:05d}-of-{count:05d}.tfrecord"


def shard_files(record_dir: str, split: str) -> list[str]:
    """Sorted full paths of the shards of ``split`` in ``record_dir``.

    Raises ``FileNotFoundError`` naming the directory and split when there are none, and
    ``ValueError`` when the shard set is incomplete or mixes shard counts.
    """
    if not os.path.isdir(record_dir):
        raise FileNotFoundError(f"record directory {record_dir!r} does not exist (split {split!r})")
    found = {}
    for name in os.listdir(record_dir):
        match = _SHARD_RE.match(name)
        if match and match.group("split") == split:
            found[name] = (int(match.group("index")), int(match.group("count")))
    if not found:
        raise FileNotFoundError(
            f"no shards '{split}-?????-of-?????.tfrecord' for split {split!r} in {record_dir!r}"
        )
    counts = {count for _, count in found.values()}
    indices = sorted(index for index, _ in found.values())
    if len(counts) != 1 or indices != list(range(next(iter(counts)))):
        raise ValueError(
            f"incomplete or mixed shard set for split {split!r} in {record_dir!r}: {sorted(found)}"
        )
    return [os.path.join(record_dir, name) for name in sorted(found)]


def corrupt_shard(record_dir: str, split: str) -> tuple | None:
    """``(path, reason)`` of the first shard of ``split`` that cannot be read to its end (truncated, bad CRC),
    None when every shard reads.  Reads the raw records only (no decoding): meant for diagnosing a read error,
    not for every start."""
    import tensorflow as tf

    for path in shard_files(record_dir, split):
        try:
            tf.data.TFRecordDataset(path).reduce(tf.constant(0, tf.int64), lambda count, _: count + 1)
        except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as error:
            return path, " ".join(error.message.split())
    return None


def read_error(record_dir: str, split: str, error: Exception) -> Exception:
    """The error to raise for ``error`` (a ``tf.errors.DataLossError`` while reading ``split``): a one-line
    ``ValueError`` naming the corrupt shard and the fix, or ``error`` itself when no shard is found corrupt."""
    found = corrupt_shard(record_dir, split)
    if found is None:
        return error
    path, reason = found
    return ValueError(f"shard {path!r} of split {split!r} is corrupt ({reason}): prepare the records again "
                      f"(python -m rfbnet_tf.prepare_data ... --overwrite)")


@contextlib.contextmanager
def naming_corrupt_shards(record_dir: str, split: str):
    """``with naming_corrupt_shards(record_dir, split): <read split>`` turns a ``tf.errors.DataLossError`` raised
    inside into the one-line error of :func:`read_error` that names the corrupt shard."""
    import tensorflow as tf

    try:
        yield
    except tf.errors.DataLossError as error:
        raise read_error(record_dir, split, error) from None


def shard_sizes(record_dir: str, split: str, info: dict) -> list[int]:
    """Records in each shard of :func:`shard_files` (same order): ``info["splits"][split]["examples_per_file"]``
    (``dataset_info.json``; ``prepare_data`` writes it) when it lists exactly the shards on disk, else counted by
    reading every shard once (record directories prepared before it, or written by hand; logged).  What the
    training pipeline addresses a record by (shard, offset) with."""
    paths = shard_files(record_dir, split)
    entry = (info.get("splits") or {}).get(split) or {}
    names, sizes = entry.get("files"), entry.get("examples_per_file")
    if (isinstance(sizes, list) and names == [os.path.basename(p) for p in paths]
            and len(sizes) == len(paths) and all(checks.is_int(n) and n >= 0 for n in sizes)):
        return list(sizes)
    import tensorflow as tf

    logging.info("counting the records of the %d %r shards of %s (its dataset_info.json lists no "
                 "examples_per_file: records prepared before it); prepare_data --overwrite writes them",
                 len(paths), split, record_dir)
    with naming_corrupt_shards(record_dir, split):
        return [int(tf.data.TFRecordDataset(path).reduce(tf.constant(0, tf.int64), lambda count, _: count + 1))
                for path in paths]
