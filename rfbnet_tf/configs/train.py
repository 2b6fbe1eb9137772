"""``TrainConfig``: the run itself — its directory, length, batch, loss weighting, two-stage initialisation,
checkpoints, summaries, validation, devices and seed (paper Sec. IV-B)."""

from __future__ import annotations

import dataclasses

from rfbnet_tf.configs import checks
from rfbnet_tf.configs.fields import option, validate

STRATEGIES = ("default", "one_device", "mirrored", "multi_worker_mirrored", "tpu")
"""``--distribution_strategy`` values (:mod:`rfbnet_tf.training.distribution`)."""
MIXED_PRECISION_DTYPES = ("auto", "float16", "bfloat16")
"""``--mixed_precision_dtype`` values."""
HOST_INPUT_STRATEGIES = ("default", "one_device", "mirrored")
"""Strategies fed from one host-side ``tf.data`` iterator (checkpointable: exact data position on resume) whose
global batches :func:`distribute_batch` splits over the replicas.  ``tf.distribute``'s own distributed
iterators cannot be saved in a ``tf.train.Checkpoint`` (TF 2.21), so the multi-worker and TPU strategies,
which need them (per-worker input sharding / TPU infeed), resume with a fresh data stream instead."""


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Settings of the training run (defaults: the paper's multimodal ERFNetEnc schedule)."""

    model_dir: str | None = option(None, "Output directory (checkpoints, flags.json, logs). Re-running with the "
                                   "same model_dir resumes at the last checkpoint. Required.",
                                   checks.string(), kind="string")
    batch_size: int = option(9, "Global mini-batch (split across replicas). Paper ERFNetEnc: 12 unimodal, "
                             "9 multimodal.", checks.int_at_least(1), kind="int")
    steps: int = option(25000, "Total training steps (paper ERFNetEnc: 100K unimodal, 25K multimodal).",
                        checks.int_at_least(1), kind="int")
    class_weights: str | None = option(None, "Per-class loss weights: a comma list (one per class) or "
                                       "'median_frequency': w_c = median(f) / f_c, f_c the class's share of the "
                                       "train split's labelled pixels (dataset_info.json's histogram), the median "
                                       "over the classes that occur; a class that never occurs in the train split "
                                       "gets weight 0 (no NaN or inf). Default: none.",
                                       checks.class_weights, kind="string")
    # Initialisation and freezing: two-stage training (Sec. IV-B) and the AdapNet++ protocol of SSMA [12]
    # (rfbnet_tf.training.stream_init, rfbnet_tf.training.freezing).
    rgb_init: str | None = option(None, "model_dir (or .weights.h5) of a trained unimodal RGB model (of any "
                                  "class count) whose encoder initialises the RGB stream, or imagenet:PATH — the Keras ResNet50V2 ImageNet "
                                  "weights file (resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5) for an "
                                  "AdapNet++ encoder.", checks.string(), kind="string")
    depth_init: str | None = option(None, "Same as --rgb_init for the depth stream (imagenet:PATH: the HHA stream "
                                    "takes the RGB stem kernel as-is).", checks.string(), kind="string")
    init_model: str | None = option(None, "Run directory of a finished run of the same model (model, depth "
                                    "input, options): every layer starts from its weights (fine-tuning stage of "
                                    "[12]). Its class count may differ: the layers that depend on it (the "
                                    "classifier, AdapNet++'s auxiliary heads) then keep their fresh "
                                    "initialisation. Batch size, learning rate, steps and the optimizer start "
                                    "anew in --model_dir.", checks.string(), kind="string")
    freeze_encoders: bool = option(False, "Multimodal models: freeze both modality streams (SSMA: the encoders; "
                                   "RFBNet: the streams' residual units, stems, skips and eASPP; batch norm on its "
                                   "moving statistics, dropout off) — the fusion stage of [12].", checks.boolean(),
                                   kind="bool")
    checkpoint_every: int = option(1000, "Steps between training checkpoints (one is always written at the end).",
                                   checks.int_at_least(1), kind="int")
    keep_checkpoints: int = option(3, "Training checkpoints kept.", checks.int_at_least(1), kind="int")
    checkpoint_data_iterator: bool = option(True, "A resumed run continues at the exact data position (the "
                                            "examples its steps consumed: checkpoints hold no data, the stream is "
                                            "a function of --seed and the position). False: a resumed run "
                                            "restarts the data stream with a step-derived seed.",
                                            checks.boolean(), kind="bool")
    summary_every: int = option(100, "Steps between TensorBoard scalar summaries (loss, lr, train mIoU).",
                                checks.int_at_least(1), kind="int")
    val_every: int | None = option(None, "Steps between validations (val loss, mIoU, per-class IoU; one more at "
                                   "the end); 0 = never. Default: --steps // 5, at most 2500 (at least 5 "
                                   "validations; every 2500 steps for the paper's schedules).",
                                   checks.int_at_least(0, optional=True), kind="int")
    val_steps: int | None = option(None, "Batches per validation (default: the whole split).",
                                   checks.int_at_least(1, optional=True), kind="int")
    val_batch_size: int | None = option(None, "Validation batch (default: --batch_size).",
                                        checks.int_at_least(1, optional=True), kind="int")
    image_summary_every: int = option(1000, "Steps between image summaries (RGB, depth, ground truth, prediction, "
                                      "gate maps) of fixed validation frames; 0 = never.", checks.int_at_least(0),
                                      kind="int")
    num_summary_images: int = option(3, "Frames shown in image summaries.", checks.int_at_least(1), kind="int")
    mixed_precision: bool = option(False, "16-bit compute (float32 variables and logits); the 16-bit type is "
                                   "--mixed_precision_dtype.", checks.boolean(), kind="bool")
    mixed_precision_dtype: str = option("auto", "16-bit type of --mixed_precision: float16 (dynamic loss scaling; "
                                        "GPUs), bfloat16 (TPUs; CPUs with native bf16, AVX512-BF16 / AMX: 1.6x "
                                        "faster ERFNetEnc steps there, benchmarks/README.md) or auto (bfloat16 on "
                                        "TPU, else float16).", checks.choice(MIXED_PRECISION_DTYPES), kind="enum",
                                        choices=MIXED_PRECISION_DTYPES)
    distribution_strategy: str = option("default", "tf.distribute strategy; multi-replica strategies switch on "
                                        "synchronized batch norm.", checks.choice(STRATEGIES), kind="enum",
                                        choices=STRATEGIES)
    tpu: str = option("", "TPU name or address for --distribution_strategy=tpu ('' = local).",
                      checks.string_or_empty, kind="string")
    seed: int = option(0, "Seed of weights, dropout and the data stream.", checks.int_at_least(0), kind="int")
    deterministic: bool = option(False, "tf.config.experimental.enable_op_determinism(): bit-exact reruns "
                                 "(slower).", checks.boolean(), kind="bool")
    progress: bool = option(True, "Progress bar on stderr (plain lines when it is not a terminal).", checks.boolean(),
                            kind="bool")

    def __post_init__(self):
        validate(self)
        check_init_combination(self.init_model, self.rgb_init, self.depth_init)

    @property
    def precision_policy(self) -> str:
        """The Keras dtype policy of the run: ``float32``, ``mixed_float16`` or ``mixed_bfloat16``."""
        if not self.mixed_precision:
            return "float32"
        dtype = self.mixed_precision_dtype
        if dtype == "auto":
            dtype = "bfloat16" if self.distribution_strategy == "tpu" else "float16"
        return f"mixed_{dtype}"

    @property
    def val_interval(self) -> int:
        """Steps between validations: ``val_every``, or by default :func:`default_val_interval` (0 = never)."""
        return default_val_interval(self.steps) if self.val_every is None else self.val_every


MAX_DEFAULT_VAL_INTERVAL = 2500


def default_val_interval(steps: int) -> int:
    """``--val_every``'s default: ``steps // 5`` (at least 1), at most :data:`MAX_DEFAULT_VAL_INTERVAL` — at least
    5 validations in a run of at least 5 steps."""
    return max(1, min(MAX_DEFAULT_VAL_INTERVAL, steps // 5))


def check_init_combination(init_model, rgb_init, depth_init):
    """``ValueError`` when ``--init_model`` (the whole model) is combined with a per-stream initialisation."""
    streams = [f"--{name}" for name, value in (("rgb_init", rgb_init), ("depth_init", depth_init)) if value]
    if init_model and streams:
        raise ValueError(f"--init_model={init_model!r} initialises the whole model: drop {streams}")
