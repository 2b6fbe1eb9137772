"""Writing a record directory safely: shards through temporary files (:class:`ShardWriter`), and the whole
directory replaced atomically by a staging directory (:func:`carry_over`, :func:`swap_in`), with the leftovers
of killed runs removed (:func:`remove_dead_staging`).
"""

from __future__ import annotations

import os
import shutil

from absl import logging

from rfbnet_tf.datasets import records, shards
from rfbnet_tf.utils import processes


class ShardWriter:
    """Writes examples to ``{split}-{i:05d}-of-{n:05d}.tfrecord`` via temporary files.

    ``finish()`` renames the temporaries to their final names (replacing the split's old
    shards); ``abort()`` deletes them.  Until ``finish`` no file with a shard name exists.
    """

    def __init__(self, record_dir: str, split: str, examples_per_shard: int):
        self.record_dir, self.split, self.per_shard = record_dir, split, examples_per_shard
        self.temp_paths, self.writer, self.in_shard, self.count = [], None, 0, 0
        self.shard_sizes = []  # records per shard, in shard order (dataset_info.json's examples_per_file)

    def write(self, example: bytes):
        import tensorflow as tf

        if self.writer is None or self.in_shard == self.per_shard:
            self._close()
            path = os.path.join(
                self.record_dir, f".tmp-{os.getpid()}-{self.split}-{len(self.temp_paths):05d}.tfrecord"
            )
            self.temp_paths.append(path)
            self.writer, self.in_shard = tf.io.TFRecordWriter(path), 0
            self.shard_sizes.append(0)
        self.writer.write(example)
        self.in_shard += 1
        self.shard_sizes[-1] += 1
        self.count += 1

    def _close(self):
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def finish(self) -> list[str]:
        self._close()
        for old in existing_shards(self.record_dir, self.split):
            os.remove(os.path.join(self.record_dir, old))
        names = [shards.shard_name(self.split, i, len(self.temp_paths)) for i in range(len(self.temp_paths))]
        for path, name in zip(self.temp_paths, names):
            os.replace(path, os.path.join(self.record_dir, name))
        self.temp_paths = []
        return names

    def abort(self):
        """Delete the temporaries; never raises (it runs while another error is on its way up: a writer
        that fails to close on a full disk is logged, not raised over it)."""
        try:
            self._close()
        except Exception as error:  # noqa: BLE001 - cleanup must not mask the original error
            logging.warning("closing the %s shard writer failed during cleanup: %s", self.split, error)
            self.writer = None
        for path in self.temp_paths:
            try:
                if os.path.exists(path):
                    os.remove(path)
            except OSError as error:
                logging.warning("could not remove the temporary shard %s: %s", path, error)
        self.temp_paths = []


def existing_shards(record_dir: str, split: str) -> list[str]:
    try:
        return [os.path.basename(p) for p in shards.shard_files(record_dir, split)]
    except FileNotFoundError:
        return []
    except ValueError:  # an incomplete set: still the split's shards, to be replaced
        prefix = f"{split}-"
        return sorted(n for n in os.listdir(record_dir) if n.startswith(prefix) and n.endswith(".tfrecord"))


def replaced_names(output_dir, splits, existing) -> set:
    """Names in ``output_dir`` that the new directory replaces: ``dataset_info.json`` and the shards of the
    converted splits — of every split when the old records are of another dataset (``existing`` is None)."""
    if not os.path.isdir(output_dir):
        return set()
    if existing is None:
        shards = {name for name in os.listdir(output_dir) if name.endswith(".tfrecord") and "-of-" in name}
    else:
        shards = {name for split in splits for name in existing_shards(output_dir, split)}
    return shards | {records.DATASET_INFO_FILENAME}


def carry_over(output_dir, staging, replaced):
    """Everything of ``output_dir`` that is not replaced (the kept splits' shards, files of the user) goes into
    the staging directory: hard links for files (copies across devices), copies of directories."""
    if not os.path.isdir(output_dir):
        return
    for name in sorted(os.listdir(output_dir)):
        pid = processes.temporary_pid(name)
        if name in replaced or (pid is not None and (pid == os.getpid() or not processes.pid_alive(pid))):
            continue  # a live writer's temporary is carried (as a link, it keeps receiving its writes)
        source, target = os.path.join(output_dir, name), os.path.join(staging, name)
        if os.path.isdir(source):
            shutil.copytree(source, target, copy_function=_link_or_copy)
        else:
            _link_or_copy(source, target)


def _link_or_copy(source, target):
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def swap_in(staging, output_dir):
    """Replace ``output_dir`` by ``staging``: the old directory is renamed aside (``<output_dir>.tmp-<pid>-old``),
    the new one takes its name, then the old one is deleted."""
    old = None
    if os.path.exists(output_dir):
        old = f"{output_dir}.tmp-{os.getpid()}-old"
        os.rename(output_dir, old)
    try:
        os.rename(staging, output_dir)
    except OSError:
        if old is not None:
            os.rename(old, output_dir)  # put the old records back before reporting the error
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def remove_dead_staging(output_dir):
    """Clean up after killed runs: shard temporaries inside ``output_dir`` and staging directories beside it
    whose PID is dead; an old directory renamed aside by a run killed in the middle of the swap is put back."""
    parent, base = os.path.split(output_dir)
    if os.path.isdir(parent):
        for name in sorted(os.listdir(parent)):
            pid = processes.temporary_pid(name)
            if (name.startswith(f"{base}.tmp-") and name.endswith("-old") and pid is not None
                    and not processes.pid_alive(pid) and not os.path.exists(output_dir)):
                os.rename(os.path.join(parent, name), output_dir)
                logging.warning("restored %s from %s (a run was killed while replacing it)", output_dir, name)
        processes.remove_dead_temporaries(parent, f"{base}.tmp-")
    processes.remove_dead_temporaries(output_dir, ".tmp-")
