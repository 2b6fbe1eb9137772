"""Functions a spawned data worker runs in tests (importable by name there: the workers see ``tests`` on the path
the test gives them, never the test's ``__main__``)."""

import sys


def tensorflow_loaded(_=None) -> bool:
    """Whether this process has imported TensorFlow."""
    return "tensorflow" in sys.modules
