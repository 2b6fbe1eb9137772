"""What a binary run by subprocess said: its stderr without the log lines (TensorFlow's C++ start-up lines and
absl's ``I1207 12:00:00.000 file.py:1] ...`` lines share one prefix), i.e. the lines meant for the user."""

import re

NATIVE_LOG = re.compile(r"^([IWEF]\d{4} |WARNING: All log messages before absl::InitializeLog)")


def message_lines(stderr: str) -> list[str]:
    """The lines of ``stderr`` that are not log lines."""
    return [line for line in stderr.splitlines() if not NATIVE_LOG.match(line)]
