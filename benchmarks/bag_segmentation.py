"""Frames per second of ``predict --bag`` (``rfbnet_tf.recordings.bag_prediction``) on a synthetic recording.

Writes, under ``--work_dir``, a ROS 1 bag of ``--frames`` synthetic scenes (``synthetic.render_scene``: sensor-like
depth with holes; rgb8 + 16UC1 millimetres + CameraInfo, 30 Hz) and a run directory of ``--model`` with random
weights (speed only) trained at the frame size, then segments the bag exactly as
``python -m rfbnet_tf.predict --model_dir=WORK/run --bag=WORK/in.bag --output_bag=WORK/out.bag`` does and writes
the summary (frames/s, latency p50/p95), the machine and its load, and the peak RSS to ``--output_json``.
``--size=height,width`` (H, W, as every benchmark size; default 480,640), stored as ``"size": [H, W]`` under
``"size_order": "hw"``.

    python benchmarks/bag_segmentation.py --frames=60 --output_json=benchmarks/bag_segmentation_cpu_2core.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

import keras
import numpy as np

from rfbnet_tf import rundir
from rfbnet_tf.utils import files
from rfbnet_tf.profiling import benchmark_run, measurement
from rfbnet_tf.profiling.benchmark_report import SIZE_ORDER
from rfbnet_tf.profiling.end_to_end import raw_frame
from rfbnet_tf.recordings import bag_prediction


def _make_run(model_dir, model, size, num_classes):
    config = {"model": model, "model_options": {}, "num_classes": num_classes,
              "class_names": [f"class_{index}" for index in range(num_classes)], "depth_input": "hha",
              "image_size": list(size), "record_dir": None}
    os.makedirs(model_dir)
    files.write_json_atomically(os.path.join(model_dir, rundir.layout.FLAGS_FILENAME), config)
    stats = {"rgb": {"mean": [120.0] * 3, "std": [60.0] * 3}, "hha": {"mean": [128.0] * 3, "std": [50.0] * 3}}
    rundir.facts.write_run_info(model_dir, rundir.facts.from_dataset_info({
        "dataset": "benchmark", "num_classes": num_classes, "class_names": config["class_names"],
        "normalization": stats, "max_depth": 10.0}))
    keras.utils.set_random_seed(0)
    model = rundir.config_file.build_from_run_config(rundir.config_file.load_run_config(model_dir))
    rundir.checkpoints.save_weights_atomically(model, rundir.layout.final_weights_path(model_dir))
    files.write_json_atomically(os.path.join(model_dir, rundir.layout.SUMMARY_FILENAME), {"step": 0})


def _write_bag(path, frames, size):
    from rosbags.rosbag1 import Writer
    from rosbags.typesys import Stores, get_typestore

    typestore = get_typestore(Stores.ROS1_NOETIC)
    types = typestore.types
    height, width = size
    with Writer(Path(path)) as writer:
        rgb_topic = writer.add_connection("/camera/color/image_raw", "sensor_msgs/msg/Image", typestore=typestore)
        depth_topic = writer.add_connection("/camera/aligned_depth_to_color/image_raw", "sensor_msgs/msg/Image",
                                            typestore=typestore)
        info_topic = writer.add_connection("/camera/color/camera_info", "sensor_msgs/msg/CameraInfo",
                                           typestore=typestore)
        for index in range(frames):
            rgb, depth, matrix = raw_frame(size, seed=index)
            stamp = 1_700_000_000_000_000_000 + index * 33_333_333
            header = types["std_msgs/msg/Header"](
                seq=index, stamp=types["builtin_interfaces/msg/Time"](sec=stamp // 10**9, nanosec=stamp % 10**9),
                frame_id="camera_color_optical_frame")
            if index == 0:
                roi = types["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0,
                                                                do_rectify=False)
                info = types["sensor_msgs/msg/CameraInfo"](
                    header=header, height=height, width=width, distortion_model="plumb_bob", D=np.zeros(5),
                    K=matrix.reshape(-1), R=np.eye(3).reshape(-1), P=np.zeros(12), binning_x=0, binning_y=0,
                    roi=roi)
                writer.write(info_topic, stamp, typestore.serialize_ros1(info, "sensor_msgs/msg/CameraInfo"))
            for connection, image, encoding in ((rgb_topic, rgb, "rgb8"), (depth_topic, depth, "16UC1")):
                data = np.ascontiguousarray(image).view(np.uint8).reshape(-1)
                message = types["sensor_msgs/msg/Image"](header=header, height=height, width=width,
                                                         encoding=encoding, is_bigendian=0,
                                                         step=data.size // height, data=data)
                writer.write(connection, stamp + 5_000_000, typestore.serialize_ros1(message, "sensor_msgs/msg/Image"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--model", default="rfbnet_erfnet_enc")
    parser.add_argument("--num_classes", type=int, default=19)
    parser.add_argument("--size", default="480,640", help="height,width of the frames (H, W; default 480,640)")
    parser.add_argument("--work_dir", default="/tmp/rfbnet_bag_benchmark")
    parser.add_argument("--output_json", default=None)
    args = parser.parse_args(argv)
    try:
        size = benchmark_run.parse_size(args.size)
    except ValueError as error:
        parser.error(str(error))
    shutil.rmtree(args.work_dir, ignore_errors=True)
    os.makedirs(args.work_dir)
    model_dir, bag = os.path.join(args.work_dir, "run"), os.path.join(args.work_dir, "in.bag")
    _make_run(model_dir, args.model, size, args.num_classes)
    _write_bag(bag, args.frames, size)
    load_before = measurement.load_average()
    measurement.reset_peak_rss()
    summary = bag_prediction.predict_bag(model_dir, bag_prediction.BagRecordingConfig(
        bag, os.path.join(args.work_dir, "out.bag"), rgb_topic="/camera/color/image_raw",
        depth_topic="/camera/aligned_depth_to_color/image_raw", camera_info_topic="/camera/color/camera_info"))
    result = {
        "command": " ".join(["python", "benchmarks/bag_segmentation.py"] + (argv or sys.argv[1:])),
        "model": args.model, "num_classes": args.num_classes, "size": list(size), "size_order": SIZE_ORDER,
        "weights": "random (speed only)", "frames_in_bag": args.frames,
        "summary": summary, "peak_rss_mb": measurement.window_peak_rss_bytes() / 2**20,
        "load_average": {"before": load_before, "after": measurement.load_average()},
        "machine": measurement.describe_machine(),
    }
    text = json.dumps(result, indent=2, default=str)
    print(text)
    if args.output_json:
        with open(args.output_json, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")


if __name__ == "__main__":
    main()
