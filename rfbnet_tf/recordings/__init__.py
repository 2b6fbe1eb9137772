"""RGB-D recordings (ROS bags) in and out: the library of ``predict --bag`` and ``prepare_data --dataset=bag``.

* :mod:`~rfbnet_tf.recordings.bag_reader` — :class:`~rfbnet_tf.recordings.bag_reader.Recording`: a ROS 1 / ROS 2
  bag opened with ``rosbags`` (the optional extra ``[ros]``, imported only when a bag is opened), its checked
  topics, the intrinsics of its first ``CameraInfo``, and the stream of paired frames;
* :mod:`~rfbnet_tf.recordings.frame_pairing` — RGB and depth paired by header stamp, streaming;
* :mod:`~rfbnet_tf.recordings.image_messages` — ``Image`` / ``CompressedImage`` / ``CameraInfo`` ↔ numpy;
* :mod:`~rfbnet_tf.recordings.bag_writer` — the output bag (``/rfbnet/labels``, ``/rfbnet/color``,
  ``/rfbnet/classes``), written beside its path and renamed into place;
* :mod:`~rfbnet_tf.recordings.bag_prediction` — ``predict_bag``: a recording segmented through the run's graph
  preprocessing (``serving_raw``);
* :mod:`~rfbnet_tf.recordings.frame_extraction` — ``extract_frames``: every N-th frame into the own-data folder
  layout, for labelling;
* :mod:`~rfbnet_tf.recordings.bag_flags` — the flags both binaries share.
"""
