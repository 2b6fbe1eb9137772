"""Measurement helpers of the benchmark binary (``python -m rfbnet_tf.benchmark``), one concept per module:

* ``flops`` — floating-point operations counted from a traced TensorFlow graph;
* ``timing`` — latency statistics of a callable (warm-up, median, p10/p90), interleaved so that callables
  compared with each other see the same machine load;
* ``matmul_reference`` — the fp32 matrix product that tells what the machine can do;
* ``machine`` — description of the machine and the process (CPU, RAM, load average, peak memory, versions);
* ``backend_functions`` — compiled inference and training-step callables for the active Keras backend;
* ``inference_paths`` — the plain, the optimised (BN-folded) and the bf16 inference paths the benchmark compares;
* ``torch_erfnet``, ``onnx_peer`` — the independent PyTorch ERFNet encoder and its side-by-side comparison with
  our paths under ONNX Runtime (``--peer``);
* ``op_profile`` — where inference time goes, per TensorFlow op type;
* ``pipeline_rate`` — examples/s of the input pipeline alone and feeding training steps;
* ``benchmark_arguments`` — the benchmark's sizes, model names and pairs, checked once;
* ``model_measurements`` — every measurement of one model at its sizes;
* ``speed_comparisons`` — two models side by side (head-to-head) and the paper's speed targets;
* ``model_benchmark`` — the whole run: arguments, every model, the comparisons, the machine description;
* ``benchmark_report`` — its console table, ratios against a previous JSON, the JSON file.
"""
