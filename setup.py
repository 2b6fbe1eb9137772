"""Install rfbnet_tf: `pip install -e .` (add `[test]` for the test tools).

Version bounds: the lower bounds are the oldest releases the code needs (TensorFlow 2.18 / Keras 3.5 APIs), the
upper bounds stop at the next release not tested here (tested: tensorflow 2.21.0, keras 3.15.1, numpy 2.4.6,
opencv-python-headless 5.0, absl-py 2.5.1, jax 0.10.2, pytest 9.0, Python 3.11); see README "Dependencies".
"""
import glob

from setuptools import find_packages, setup

CONSOLE_SCRIPTS = [  # rfbnet_tf/cli.py CONSOLE_SCRIPTS lists the same (tests/test_cli.py checks it)
    "rfbnet-prepare-data = rfbnet_tf.prepare_data:run",
    "rfbnet-train = rfbnet_tf.train:run",
    "rfbnet-evaluate = rfbnet_tf.evaluate:run",
    "rfbnet-export = rfbnet_tf.export:run",
    "rfbnet-predict = rfbnet_tf.predict:run",
    "rfbnet-benchmark = rfbnet_tf.benchmark:run",
    "rfbnet-study = rfbnet_tf.study:run",
]

setup(
    name="rfbnet_tf",
    version="0.1.0",
    description=(
        "RFBNet (residual fusion blocks for RGB-D semantic segmentation) in "
        "TensorFlow 2 / Keras 3"
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["rfbnet_tf", "rfbnet_tf.*"]),
    # The flagfiles, for a regular install (rfbnet_tf.cli finds them under <prefix>/share/rfbnet_tf/experiments;
    # an editable install reads the repository's experiments/ directly).
    data_files=[("share/rfbnet_tf/experiments", sorted(glob.glob("experiments/*.flags")))],
    install_requires=[
        "tensorflow>=2.18,<2.22",
        "keras>=3.5,<4",
        "numpy>=1.26,<3",
        "opencv-python-headless>=4.8,<6",
        "absl-py>=2.1,<3",
        "scipy>=1.10",  # MATLAB v5 .mat files of NYUv2 / SUN RGB-D (datasets/matlab_files.py)
        "h5py>=3.8",  # MATLAB v7.3 (HDF5) .mat files of NYUv2 / SUN RGB-D; TensorFlow installs it too
    ],
    extras_require={
        "test": ["pytest>=8", "pytest-xdist>=3.5", "jax[cpu]", "cityscapesscripts>=2.2,<3"],
        "tensorboard": ["tensorboard"],
        # export --format=onnx / litert (and the ONNX Runtime path of the benchmark); .ci/run installs it
        "onnx": ["tf2onnx>=1.16", "onnxruntime>=1.18", "ai-edge-litert>=1.0"],
        # the benchmark's PyTorch peer (--peer): large (CUDA wheels on Linux), not installed by .ci/run
        "peer": ["torch>=2.4", "onnxscript"],
        "gpu": ["tensorflow[and-cuda]>=2.18,<2.22"],
        # ROS 1 / ROS 2 bags: predict --bag, prepare_data --dataset=bag (pure Python); .ci/run installs it
        "ros": ["rosbags>=0.11,<0.12"],
    },
    entry_points={"console_scripts": CONSOLE_SCRIPTS},
)
