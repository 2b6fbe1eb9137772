"""Project-wide constants (the lowest layer: imports nothing from rfbnet_tf)."""

IGNORE_LABEL = 255
"""Label value of pixels that carry no class: no loss, no metric, black in colour maps (8-bit labels: datasets of up
to 255 classes, every dataset but NYUv2's 894 raw classes)."""

IGNORE_LABEL_16 = 65535
"""The ignore label of 16-bit labels: datasets of more than 255 classes (``datasets.records.label_bits``)."""

AUX_LOSS_WEIGHTS = (0.6, 0.5)
"""Weights of the auxiliary losses of AdapNet++ (Valada et al., IJCV 2019, Sec. 3.3); the main loss has 1."""

DATA_WORKER_ENV = "RFBNET_TF_DATA_WORKER"
"""Set in the spawned worker processes of ``prepare_data`` (``datasets.frame_conversion.worker_pool``): they run no
model code, so ``import rfbnet_tf`` skips importing the Keras models (and TensorFlow) there — seconds per worker."""
