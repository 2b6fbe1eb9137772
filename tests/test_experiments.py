"""experiments/*.flags: every flagfile parses with the train binary's own flag definitions (all flags known and
valid), names a registered model, has its documentation header, uses the paper's schedule for its row, and its
--rgb_init/--depth_init point at the model_dirs of matching unimodal flagfiles.  Nothing is trained."""

import glob
import os

import pytest
from absl import flags

from rfbnet_tf import configs as configs_lib
from rfbnet_tf.models import MODEL_NAMES, is_multimodal, model_spec

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPERIMENTS = os.path.join(REPO, "experiments")
FILES = sorted(path for path in glob.glob(os.path.join(EXPERIMENTS, "*.flags"))
               if not os.path.basename(path).startswith("study_"))  # study flagfiles: tests/test_study.py
NAMED = {"cityscapes": "cityscapes_rfbnet_erfnet_enc", "scannet": "scannet_rfbnet_erfnet_enc"}
"""The named flagfiles (``--flagfile=experiments/cityscapes.flags``) → the table row each one includes."""

# Paper rows → flagfile stem (Tables I-IV).
TABLE_ROWS = {
    "II": ["cityscapes_erfnet_enc_rgb", "cityscapes_ssma_erfnet_enc", "cityscapes_rfbnet_erfnet_enc",
           "cityscapes_adapnet_pp_rgb", "cityscapes_ssma_adapnet_pp_finetune", "cityscapes_rfbnet_adapnet_pp_finetune"],
    "III": ["scannet_erfnet_enc_rgb", "scannet_erfnet_enc_depth", "scannet_ssma_erfnet_enc",
            "scannet_ssma_erfnet_enc_shrink", "scannet_rfbnet_erfnet_enc_noshrink", "scannet_rfbnet_erfnet_enc"],
    "IV": ["scannet_rfbnet_erfnet_enc_none", "scannet_rfbnet_erfnet_enc_g", "scannet_rfbnet_erfnet_enc_gt",
           "scannet_rfbnet_erfnet_enc_gr"],
    "I": ["scannet_adapnet_pp_rgb", "scannet_ssma_adapnet_pp_finetune", "scannet_rfbnet_adapnet_pp_finetune"],
}
# The AdapNet++ protocol of [12] (WORKSPACE.md): stage 1 unimodal from ImageNet, stage 2 fusion with frozen
# encoders (batch 6), stage 3 the whole model fine-tuned (batch 12, paper Sec. IV-B).
ADAPNET_PP_STAGES = {dataset: {"rgb": f"{dataset}_adapnet_pp_rgb", "depth": f"{dataset}_adapnet_pp_depth",
                               **{f"{m}{suffix}": f"{dataset}_{m}_adapnet_pp{suffix}"
                                  for m in ("ssma", "rfbnet") for suffix in ("", "_finetune")}}
                     for dataset in ("cityscapes", "scannet")}
IMAGENET = "imagenet:~/.keras/models/resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5"
# Table IV: (gates, add_point) per row; all with the depth shrunk (its G+R row equals Table III's 62.6).
TABLE_IV = {"scannet_rfbnet_erfnet_enc_none": (False, None), "scannet_rfbnet_erfnet_enc_g": (True, None),
            "scannet_rfbnet_erfnet_enc_gt": (True, "T"), "scannet_rfbnet_erfnet_enc_gr": (True, "R")}
# Paper Sec. IV-B: (batch, steps) of ERFNetEnc; batch of AdapNet++ (unimodal 7, multimodal 6).
SCHEDULE = {("erfnet_enc", False): (12, 100000), ("erfnet_enc", True): (9, 25000),
            ("adapnet_pp", False): (7, None), ("adapnet_pp", True): (6, None)}
WEIGHT_DECAY = {"erfnet_enc": 1e-4, "adapnet_pp": 5e-4}


def _stem(path):
    return os.path.splitext(os.path.basename(path))[0]


def _parse(path):
    """The resolved train config of a flagfile, parsed exactly as ``python -m rfbnet_tf.train`` does."""
    values = flags.FlagValues()
    configs_lib.define_flags(values)
    values(["train", f"--flagfile={path}"])  # absl: unknown flags and validator failures raise here
    config = configs_lib.resolve(values)
    return {**config.flags(), "model_options": config.model.build_options()}


@pytest.fixture(scope="module")
def configs():
    cwd = os.getcwd()
    os.chdir(REPO)  # flagfiles name paths relative to the repository root (nested --flagfile included)
    try:
        return {_stem(path): _parse(path) for path in FILES if _stem(path) not in NAMED}
    finally:
        os.chdir(cwd)


# Datasets the paper does not use (issue 16): the four ERFNetEnc rows of the two-stage chain each.
EXTRA_DATASET_ROWS = [f"{dataset}_{row}" for dataset in ("nyuv2", "sunrgbd")
                      for row in ("erfnet_enc_rgb", "erfnet_enc_depth", "ssma_erfnet_enc", "rfbnet_erfnet_enc")]


def test_every_paper_row_and_the_synthetic_default_exist():
    stems = {_stem(path) for path in FILES}
    for table, rows in TABLE_ROWS.items():
        missing = [row for row in rows if row not in stems]
        assert not missing, f"Table {table} rows without a flagfile: {missing}"
    assert "synthetic" in stems
    assert not [row for row in EXTRA_DATASET_ROWS if row not in stems]


def test_flagfiles_parse_with_known_valid_flags(configs):
    assert set(configs) == {_stem(path) for path in FILES} - set(NAMED)
    for stem, config in configs.items():
        assert config["model"] in MODEL_NAMES, stem
        multiple = model_spec(config["model"]).size_divisor(config["model_options"])
        for key in ("image_size", "crop_size"):
            if config[key] is not None:
                assert all(v % multiple == 0 for v in config[key]), (stem, key, config[key], multiple)
        expected_dir = "runs/scannet_rfbnet_erfnet_enc" if stem == "scannet_rfbnet_erfnet_enc_gr" else f"runs/{stem}"
        assert config["model_dir"] == expected_dir, stem


def test_header_documents_command_result_and_hardware():
    for path in FILES:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
        header = []
        for line in lines:
            if not line.startswith("#"):
                break
            header.append(line)
        text = "\n".join(header)
        assert f"python -m rfbnet_tf.train --flagfile=experiments/{_stem(path)}.flags" in text, path
        assert "Paper result:" in text and "Hardware" in text, path
        assert not any(line.startswith("#") for line in lines[len(header):]), f"{path}: comments after the flags"


def test_paper_schedule_per_row(configs):
    for stem, config in configs.items():
        if stem == "synthetic":
            continue
        backbone = model_spec(config["model"]).backbone
        batch, steps = SCHEDULE[(backbone, is_multimodal(config["model"]))]
        if config["init_model"]:
            batch = 12  # AdapNet++ fine-tuning stage (paper Sec. IV-B)
        assert config["batch_size"] == batch, stem
        if steps is not None:
            assert config["steps"] == steps, stem
        assert config["weight_decay"] == pytest.approx(WEIGHT_DECAY[backbone]), stem
        # [12]'s create_optimizer: TF 1's polynomial_decay default end 1e-4 and Adam epsilon 1e-8 (every row)
        assert (config["end_learning_rate"], config["adam_epsilon"]) == (1e-4, 1e-8), stem
        if backbone == "erfnet_enc":
            assert config["learning_rate"] == pytest.approx(5e-4), stem
        dataset = stem.split("_")[0]
        assert config["record_dir"] == f"data/{dataset}", stem
        if dataset in ("nyuv2", "sunrgbd"):  # no official val split
            assert config["val_split"] == "test", stem
        if dataset in ("scannet", "nyuv2", "sunrgbd", "folder"):  # folder: the template at 640x480
            assert config["image_size"] == [480, 640] and config["crop_size"] is None, stem
        else:
            assert config["image_size"] == [512, 1024] and config["crop_size"] == [384, 768], stem


def test_table_iv_settings_and_table_iii_shrink(configs):
    for stem, (gates, add_point) in TABLE_IV.items():
        options = configs[stem]["model_options"]
        assert (options["gates"], options["add_point"], options["shrink_depth"]) == (gates, add_point, True), stem
    assert configs["scannet_ssma_erfnet_enc"]["model_options"]["shrink_depth"] is False
    assert configs["scannet_ssma_erfnet_enc_shrink"]["model_options"]["shrink_depth"] is True
    assert configs["scannet_rfbnet_erfnet_enc_noshrink"]["model_options"]["shrink_depth"] is False
    assert configs["scannet_rfbnet_erfnet_enc"]["model_options"]["shrink_depth"] is True


def test_init_paths_point_at_matching_earlier_stages(configs):
    """Every --rgb_init / --depth_init / --init_model names the model_dir of an earlier stage's flagfile (or, for
    the unimodal AdapNet++ runs, the ImageNet weights)."""
    by_model_dir = {config["model_dir"]: config for stem, config in configs.items()
                    if stem != "scannet_rfbnet_erfnet_enc_gr"}
    for stem, config in configs.items():
        multimodal = is_multimodal(config["model"])
        backbone = model_spec(config["model"]).backbone
        if config["init_model"]:
            source = by_model_dir[config["init_model"]]
            assert source["model"] == config["model"] and source["freeze_encoders"], stem
            for key in ("record_dir", "image_size", "crop_size", "depth_input", "model_options"):
                assert source[key] == config[key], (stem, key)
            assert config["rgb_init"] is None and config["depth_init"] is None, stem
            continue
        for stream in ("rgb", "depth"):
            init = config[f"{stream}_init"]
            if not multimodal or stem == "synthetic":
                modality = config["model_options"].get("modality")
                wanted = IMAGENET if backbone == "adapnet_pp" and stream == modality else None
                assert init == wanted, (stem, stream)
                continue
            assert init in by_model_dir, f"{stem}: --{stream}_init={init} is no flagfile's model_dir"
            source = by_model_dir[init]
            assert not is_multimodal(source["model"]), (stem, stream)
            assert model_spec(source["model"]).backbone == backbone, (stem, stream)
            assert source["model_options"]["modality"] == stream, (stem, stream)
            for key in ("record_dir", "image_size", "crop_size", "depth_input"):
                assert source[key] == config[key], (stem, stream, key)
            if stream == "depth":
                assert source["model_options"]["depth_channels"] == config["model_options"]["depth_channels"]


def test_adapnet_pp_stages_follow_the_protocol_of_12(configs):
    """Stage 1 from ImageNet with the auxiliary losses, stage 2 frozen at batch 6 from stage 1, stage 3 the
    whole model from stage 2 at batch 12; no auxiliary losses in the fusion stages (official SSMA.py); the
    official dilations everywhere; each header names the three stages' commands."""
    for dataset, stages in ADAPNET_PP_STAGES.items():
        for stream in ("rgb", "depth"):
            config = configs[stages[stream]]
            assert config["model_options"]["aux_losses"] and config[f"{stream}_init"] == IMAGENET, stages[stream]
        for m in ("ssma", "rfbnet"):
            frozen, finetune = configs[stages[m]], configs[stages[f"{m}_finetune"]]
            assert frozen["freeze_encoders"] and frozen["batch_size"] == 6, stages[m]
            assert (frozen["rgb_init"], frozen["depth_init"]) == (configs[stages["rgb"]]["model_dir"],
                                                                  configs[stages["depth"]]["model_dir"])
            assert not finetune["freeze_encoders"] and finetune["batch_size"] == 12, stages[f"{m}_finetune"]
            assert finetune["init_model"] == frozen["model_dir"]
            assert not frozen["model_options"]["aux_losses"] and not finetune["model_options"]["aux_losses"]
            assert finetune["learning_rate"] < frozen["learning_rate"] < configs[stages["rgb"]]["learning_rate"]
            with open(os.path.join(EXPERIMENTS, f"{stages[f'{m}_finetune']}.flags"), encoding="utf-8") as handle:
                header = handle.read().split("\n\n")[0]
            for stem in (stages["rgb"], stages["depth"], stages[m], stages[f"{m}_finetune"]):
                assert f"--flagfile=experiments/{stem}.flags" in header, (stages[f"{m}_finetune"], stem)
        for stem in stages.values():
            assert configs[stem]["model_options"]["dilations"] == "official", stem


def test_synthetic_default_is_small(configs):
    config = configs["synthetic"]
    assert config["create_synthetic"] and config["record_dir"] == "data/synthetic"
    assert config["image_size"] == [128, 160] and config["synthetic_size"] == [128, 160]
    assert config["steps"] <= 500 and config["batch_size"] <= 8
    assert config["rgb_init"] is None and config["depth_init"] is None
    assert (config["end_learning_rate"], config["adam_epsilon"]) == (0.0, 1e-7)  # the defaults: the main job as before


def test_named_flagfiles_are_their_rows_with_the_whole_chain_documented(configs):
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        for name, row in NAMED.items():
            path = os.path.join(EXPERIMENTS, f"{name}.flags")
            assert _parse(path) == configs[row], name
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
            for needle in (f"--dataset={name}", "python -m rfbnet_tf.prepare_data", f"{name}_erfnet_enc_rgb.flags",
                           f"{name}_erfnet_enc_depth.flags", "python -m rfbnet_tf.evaluate", "--full_resolution",
                           f"--format={name}", "Why this row", "val mIoU"):
                assert needle in text, (name, needle)
    finally:
        os.chdir(cwd)


def test_every_flagfile_validates_at_least_five_times(configs):
    from rfbnet_tf.configs.train import default_val_interval

    for name, config in configs.items():
        interval = default_val_interval(config["steps"]) if config["val_every"] is None else config["val_every"]
        points = set(range(interval, config["steps"] + 1, interval)) | {config["steps"]}
        assert interval > 0 and len(points) >= 5, (name, interval)


@pytest.mark.parametrize("steps, expected", [(3, 1), (4, 1), (5, 1), (150, 30), (12500, 2500), (25000, 2500),
                                             (100000, 2500)])
def test_default_val_interval(steps, expected):
    config = configs_lib.TrainConfig(model_dir="m", steps=steps)
    assert config.val_every is None and config.val_interval == expected
    assert configs_lib.TrainConfig(model_dir="m", steps=steps, val_every=7).val_interval == 7
    assert configs_lib.TrainConfig(model_dir="m", steps=steps, val_every=0).val_interval == 0
