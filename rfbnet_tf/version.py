"""The package version (``rfbnet_tf.__version__``), importable without loading Keras."""

__version__ = "0.1.0"
