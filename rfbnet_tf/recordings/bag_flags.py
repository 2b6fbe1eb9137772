"""The absl flags of the bag modes, defined by the binaries that read bags (``predict --bag``, ``prepare_data
--dataset=bag``): one definition of the topic flags for both (:func:`define_topic_flags`)."""

from __future__ import annotations

from absl import flags

from rfbnet_tf.recordings import bag_reader

DEFAULT_RGB_TOPIC = "/camera/color/image_raw"
DEFAULT_DEPTH_TOPIC = "/camera/aligned_depth_to_color/image_raw"
DEFAULT_CAMERA_INFO_TOPIC = "/camera/color/camera_info"
DEFAULT_MAX_TIME_DIFFERENCE = 0.02
"""Seconds between the stamps of a paired RGB and depth frame at most."""


def define_topic_flags():
    """``--rgb_topic``, ``--depth_topic``, ``--camera_info_topic``, ``--max_time_difference`` (defaults: the
    RealSense ROS driver's topics with aligned depth)."""
    flags.DEFINE_string("rgb_topic", DEFAULT_RGB_TOPIC,
                        "Bag topic of the colour images: sensor_msgs/Image (rgb8, bgr8, rgba8, bgra8) or "
                        "CompressedImage (jpeg, png).")
    flags.DEFINE_string("depth_topic", DEFAULT_DEPTH_TOPIC,
                        "Bag topic of the depth images registered to the colour camera: sensor_msgs/Image in "
                        "16UC1 (millimetres) or 32FC1 (metres).")
    flags.DEFINE_string("camera_info_topic", DEFAULT_CAMERA_INFO_TOPIC,
                        "Bag topic of the colour camera's sensor_msgs/CameraInfo (its first K gives the "
                        "intrinsics; without one, pass --intrinsics).")
    flags.DEFINE_float("max_time_difference", DEFAULT_MAX_TIME_DIFFERENCE,
                       "Seconds: a depth frame pairs with the RGB frame nearest in header stamp within this.")


def define_prediction_flags():
    """The flags of ``predict --bag`` besides the topic flags and those ``predict`` already has."""
    from rfbnet_tf.recordings import bag_prediction  # TensorFlow: not for prepare_data's workers

    flags.DEFINE_string("bag", None, "Segment this ROS bag (ROS 1 .bag file, ROS 2 directory or .mcap/.db3 file) "
                        "into --output_bag instead of image files; needs the extra [ros].")
    flags.DEFINE_string("output_bag", None, "The bag --bag writes (/rfbnet/labels, /rfbnet/color, /rfbnet/classes); "
                        "must not exist.")
    flags.DEFINE_enum("output_format", None, list(bag_reader.BAG_FORMATS),
                      "Format of --output_bag (default: the input bag's).")
    flags.DEFINE_string("video", None, "With --bag: also write an overlay video (.mp4 or .avi).")
    flags.DEFINE_enum("empty_depth", "skip", list(bag_prediction.EMPTY_DEPTH_POLICIES),
                      "With --bag: frames whose depth has no measured pixel (sensor start-up) are skipped, or "
                      "written as all-ignore labels.")
