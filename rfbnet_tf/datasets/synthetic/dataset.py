"""The synthetic scenes as a registered dataset (:data:`DATASET`, see :mod:`rfbnet_tf.datasets.sources`): frames
are seeds, rendered on demand; the options are the split sizes, the frame size and the seed of the split seeds."""

from __future__ import annotations

import dataclasses

from rfbnet_tf.datasets import sources
from rfbnet_tf.datasets.synthetic.render import render_scene
from rfbnet_tf.datasets.synthetic.scene import CLASS_NAMES, PALETTE, split_seeds

DEFAULT_TRAIN = 200
DEFAULT_VAL = 50


def _count(name):
    return lambda value: sources.check_count(name, value, 1)


@dataclasses.dataclass(frozen=True)
class SyntheticDataset(sources.Dataset):
    def source(self, input_dir, options):
        return sources.Source("synthetic", tuple(CLASS_NAMES), sources.SYNTHETIC_MAX_DEPTH_M, None,
                              sources.colours(PALETTE))

    def list_frames(self, input_dir, split, options):
        if split not in self.splits:
            raise ValueError(f"synthetic splits are 'train' and 'val', got {split!r}")
        seeds = split_seeds(split, options[f"synthetic_{split}"], options["seed"])
        height, width = options["synthetic_size"]
        return [{"name": f"synthetic_{split}_{index:05d}_seed{int(s)}", "seed": int(s), "size": (height, width)}
                for index, s in enumerate(seeds)]

    def load_frame(self, frame, image_size):
        if image_size is not None and tuple(image_size) != tuple(frame["size"]):
            raise ValueError(f"synthetic frames are rendered at synthetic_size {frame['size']}, "
                             f"got image_size {image_size!r}")
        scene = render_scene(frame["seed"], *frame["size"])
        return {"rgb": scene["rgb"], "depth_m": scene["depth"], "label": scene["label"],
                "intrinsics": scene["intrinsics"], "name": frame["name"]}


DATASET = SyntheticDataset(
    "synthetic",
    options=(sources.Option("synthetic_train", DEFAULT_TRAIN, "Synthetic train frames.", _count("synthetic_train")),
             sources.Option("synthetic_val", DEFAULT_VAL, "Synthetic val frames.", _count("synthetic_val")),
             sources.Option("synthetic_size", sources.DEFAULT_SYNTHETIC_SIZE, "Synthetic frame height,width.",
                            lambda value: sources.check_size("synthetic_size", value)),
             sources.Option("seed", 0, "Seed of the synthetic split seeds.",
                            lambda value: sources.check_count("seed", value, 0))),
    splits=("train", "val"), default_splits=("train", "val"))
