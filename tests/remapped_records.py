"""Record directories with other classes than the synthetic dataset's 10 (fine-tuning and class-weight tests).

:func:`remap_records` copies a record directory frame by frame with its labels mapped to new class ids, through
the record writer (``example_encoding.encode_example``, ``record_directory.ShardWriter``) and a
``dataset_info.json`` with the keys ``prepare`` writes (class names, palette, ignore label, label bits, splits,
the recomputed class histograms; the normalisation statistics are the source's: images and depth are copied
unchanged).
:func:`make_four_class_records` is the 4-class variant of the tiny synthetic records of
``tests/train_fixtures.make_records``.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from rfbnet_tf.datasets import example_encoding, records, shards, synthetic
from rfbnet_tf.datasets.record_directory import ShardWriter
from rfbnet_tf.utils.files import write_json_atomically

FOUR_CLASSES = ("floor", "wall", "object", "unseen")
"""Class names of :data:`FOUR_CLASS_MAP`'s records."""
FOUR_CLASS_MAP = {"floor": 0, "rug": 0, "wall": 1, "ceiling": 1, "poster": 1, "box": 2, "crate": 2,
                  "cylinder": 2, "sphere": 2, "table": 2}
"""Synthetic class name → new id: class 3 (``unseen``) gets no pixel in any split."""


def remap_records(source_dir, target_dir, mapping, class_names, dataset="synthetic_remapped"):
    """Write the frames of ``source_dir`` into ``target_dir`` with label ``k`` replaced by ``mapping[k]``
    (a sequence over the source classes of new ids, or ``records.IGNORE_LABEL``); returns the new dataset info."""
    info = records.load_dataset_info(source_dir)
    lookup = np.full(256, records.IGNORE_LABEL, np.uint8)
    lookup[:len(mapping)] = mapping
    num_classes = len(class_names)
    os.makedirs(target_dir, exist_ok=True)
    splits, histograms = {}, {}
    for split in info["splits"]:
        writer = ShardWriter(target_dir, split, examples_per_shard=1000)
        histogram = np.zeros(num_classes, np.int64)
        for serialized in tf.data.TFRecordDataset(shards.shard_files(source_dir, split)):
            frame = {k: v.numpy() for k, v in records.parse_example(serialized).items()}
            label = lookup[frame["label"][..., 0]]
            histogram += np.bincount(label[label != records.IGNORE_LABEL], minlength=num_classes)
            writer.write(example_encoding.encode_example(
                rgb=frame["rgb"], hha=frame["hha"], depth_mm=np.rint(frame["depth"][..., 0] * 1000).astype(np.uint16),
                depth_raw_mm=np.rint(frame["depth_raw"][..., 0] * 1000).astype(np.uint16), label=label,
                intrinsics=frame["intrinsics"], name=frame["name"].decode()))
        splits[split] = {"num_examples": writer.count, "files": writer.finish()}
        histograms[split] = histogram.tolist()
    palette = [list(colour) for colour in synthetic.PALETTE[:num_classes]]
    new_info = {**info, "dataset": dataset, "num_classes": num_classes, "class_names": list(class_names),
                "palette": palette, "ignore_label": records.ignore_label(num_classes),
                "label_bits": records.label_bits(num_classes), "splits": splits, "class_histogram": histograms,
                "created_by": f"tests/remapped_records.py from {os.fspath(source_dir)}"}
    write_json_atomically(os.path.join(target_dir, records.DATASET_INFO_FILENAME), new_info, sort_keys=False)
    return new_info


def make_four_class_records(source_dir, target_dir):
    """The synthetic records of ``source_dir`` with :data:`FOUR_CLASS_MAP`'s 4 classes (``unseen`` has no pixel)."""
    mapping = [FOUR_CLASS_MAP[name] for name in synthetic.CLASS_NAMES]
    remap_records(source_dir, target_dir, mapping, FOUR_CLASSES)
    return os.fspath(target_dir)
