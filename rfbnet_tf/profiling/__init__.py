"""Measurement helpers of the benchmark binary (``python -m rfbnet_tf.benchmark``), grouped by what is measured:

* ``model_cost`` — model latency and FLOPs: every measurement of one model at its sizes (parameters, FLOPs,
  latency of the inference paths interleaved with the matrix product, throughput, memory), two models side by
  side (head-to-head) and the paper's speed targets; built on
  ``model_latency`` — the inference callables per Keras backend, the plain / optimised (BN-folded) / bf16 paths,
  and where inference time goes per TensorFlow op type, and
  ``flops`` — floating-point operations counted from a traced TensorFlow graph;
* ``train_step`` — the training step (the train binary's own on TensorFlow) and its timing;
* ``input_pipeline`` — examples/s of the input pipeline alone and feeding training steps;
* ``end_to_end`` — one raw RGB-D frame → labels, numpy preprocessing against the graph path;
* ``peer`` — the independent PyTorch ERFNet encoder and its side-by-side comparison with our paths under ONNX
  Runtime (``--peer``);

and what they share: ``measurement`` (how callables are timed: latency statistics, interleaved so that callables
compared with each other see the same machine load, the reference fp32 matrix product; and the machine they ran
on: CPU, RAM, load average, peak memory, versions), ``benchmark_run`` (the arguments, checked once, and the whole
run) and ``benchmark_report`` (the console table, ratios against a previous JSON, the JSON file and its (H, W)
order: the JSON's ``"size_order"``, reading JSON written before it, sizes as text).

Sizes are (H, W) everywhere: the flags (``--size=height,width``), the arguments, and the JSON (``"size": [H, W]``,
``"size_order": "hw"``).
"""
