"""Install rfbnet_tf: `pip install -e .` (add `[test]` for the test tools)."""
from setuptools import find_packages, setup

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
    install_requires=[
        "tensorflow>=2.18",
        "keras>=3.5",
        "numpy",
        "opencv-python-headless",
        "absl-py",
    ],
    extras_require={"test": ["pytest", "jax[cpu]"]},
)
