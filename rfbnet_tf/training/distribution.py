"""``--distribution_strategy``: the ``tf.distribute`` strategy, and synchronized batch normalisation.

Strategies (``STRATEGIES``): ``default`` (no distribution, the current device), ``one_device`` (the first GPU,
else the CPU), ``mirrored`` (every local GPU; without GPUs every logical CPU device, as in the tests),
``multi_worker_mirrored`` (needs ``TF_CONFIG``), ``tpu`` (``--tpu`` names the TPU, "" = local / Colab).
The global batch (``--batch_size``) is split across the replicas.

Synchronized batch normalisation (the paper's footnote 1: SSMA trains with synchronized BN on multiple GPUs):
with more than one replica every Keras ``BatchNormalization`` layer of the model — including those nested in
custom layers — gets ``synchronized = True`` before the training step is traced.  Keras 3 reads the attribute
in ``BatchNormalization._moments`` at call time (TensorFlow backend), so setting it on a built model is enough:
the batch mean and variance are then all-reduced over the replicas.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import keras
import tensorflow as tf
from absl import logging

from rfbnet_tf.configs.train import STRATEGIES
from rfbnet_tf.utils import processes


def make_strategy(name, tpu=""):
    """The ``tf.distribute.Strategy`` for ``--distribution_strategy=name``."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "one_device":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        return tf.distribute.MirroredStrategy(devices=devices)
    if name == "multi_worker_mirrored":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"distribution_strategy must be one of {STRATEGIES}, received {name!r}")


def batch_norm_layers(model):
    """Every ``keras.layers.BatchNormalization`` in ``model``, nested ones included."""
    return [layer for layer in model._flatten_layers(include_self=False, recursive=True)
            if isinstance(layer, keras.layers.BatchNormalization)]


def synchronize_batch_norm(model) -> int:
    """Set ``synchronized = True`` on every batch-norm layer of ``model``; returns how many were switched."""
    layers = batch_norm_layers(model)
    for layer in layers:
        layer.synchronized = True
    logging.info("synchronized batch normalisation on %d layers", len(layers))
    return len(layers)


def is_chief(strategy) -> bool:
    """True unless this is a non-chief worker of a multi-worker strategy (only the chief writes files)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return task_type is None or task_type == "chief" or (task_type == "worker" and task_id == 0 and not has_chief)


def is_multi_worker(strategy) -> bool:
    """True for a multi-worker strategy with more than one worker (chief included) in its cluster."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return False
    cluster = resolver.cluster_spec().as_dict()
    return len(cluster.get("chief", [])) + len(cluster.get("worker", [])) > 1


def largest_over_workers(strategy, value: int, bound: int = 64) -> int:
    """The largest of every worker's ``value`` (ints in ``[0, bound]``), ``value`` itself with one worker.  With
    several workers a collective (each must call it at the same point): the all-reduce sums one-hot vectors, as
    ``tf.distribute`` reduces by sum or mean only."""
    if not is_multi_worker(strategy):
        return value
    one_hot = tf.one_hot(value, bound + 1, dtype=tf.int32)
    total = strategy.reduce(tf.distribute.ReduceOp.SUM,
                            strategy.experimental_distribute_values_from_function(lambda context: one_hot), axis=None)
    return int(tf.reduce_max(tf.where(total > 0)).numpy())


WORKER_CHECKPOINTS_PREFIX = "rfbnet_worker_checkpoints.tmp-"
"""Name prefix of a non-chief worker's checkpoint directory (in the system's temporary directory, with its PID)."""


def checkpoint_write_dir(chief_dir, chief: bool) -> str:
    """Where this worker's ``CheckpointManager`` saves: ``chief_dir`` for the chief; for a non-chief worker of a
    multi-worker strategy (saving is collective: every worker must save) a fresh private directory
    ``$TMPDIR/rfbnet_worker_checkpoints.tmp-<pid>-*``, emptied by :func:`discard_worker_checkpoints` after each
    save (tf.distribute's documented pattern).  Such directories of killed workers on this host are removed here."""
    if chief:
        return chief_dir
    processes.remove_dead_temporaries(tempfile.gettempdir(), WORKER_CHECKPOINTS_PREFIX)
    return tempfile.mkdtemp(prefix=f"{WORKER_CHECKPOINTS_PREFIX}{os.getpid()}-")


def discard_worker_checkpoints(directory, chief: bool):
    """Delete a non-chief worker's checkpoint directory (nothing for the chief): only the chief's copy is kept."""
    if not chief:
        shutil.rmtree(directory, ignore_errors=True)


def distribute_dataset(strategy, dataset):
    """``strategy.experimental_distribute_dataset(dataset)`` with element-wise (``DATA``) auto-sharding: every
    worker reads the whole stream (same files, same shuffle seed) and keeps its replicas' slices of each global
    batch, so the global batches are exactly those of a single-worker run with the same ``--batch_size``
    (``FILE`` sharding, tf.distribute's default with enough shards, would give each worker other files)."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return strategy.experimental_distribute_dataset(dataset.with_options(options))


def distribute_batch(strategy, batch):
    """Split a global batch (a nest of tensors with a static leading batch size) evenly over the replicas:
    a ``PerReplica`` value for ``strategy.run`` (the batch itself with one replica)."""
    replicas = strategy.num_replicas_in_sync
    if replicas == 1:
        return batch
    size = tf.nest.flatten(batch)[0].shape[0]
    if size is None or size % replicas:
        raise ValueError(f"the global batch ({size}) must split evenly over {replicas} replicas")
    per_replica = size // replicas

    def value_fn(context):
        start = context.replica_id_in_sync_group * per_replica
        with tf.device("/cpu:0"):  # slice on the host: each device then receives only its share
            return tf.nest.map_structure(lambda t: t[start : start + per_replica], batch)

    return strategy.experimental_distribute_values_from_function(value_fn)
