"""The model-zoo table of README.md, generated from the code (never typed by hand).

``python -m rfbnet_tf.zoo_table`` prints the Markdown table; ``--update README.md`` rewrites the table
between the ``<!-- model-zoo:start -->`` and ``<!-- model-zoo:end -->`` markers. ``tests/test_readme.py`` checks
that README's table equals ``zoo_table()``.
"""

import sys

import numpy as np

from rfbnet_tf.models.registry import MODEL_NAMES, MODELS, build_model

START, END = "<!-- model-zoo:start -->", "<!-- model-zoo:end -->"
TABLE_CLASSES = 19


def _options(defaults):
    return ", ".join(f"`{k}={v!r}`" for k, v in defaults.items())


def zoo_rows(num_classes=TABLE_CLASSES):
    """``(name, family, backbone, options, trainable, total)`` for every model at its default options."""
    rows = []
    for name in MODEL_NAMES:
        family, backbone, defaults = MODELS[name]
        model = build_model(name, num_classes)
        trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        rows.append((name, family, backbone, _options(defaults), trainable, model.count_params()))
    return rows


def zoo_table(num_classes=TABLE_CLASSES):
    """The Markdown table."""
    lines = [
        f"| name | family | backbone | options (defaults) | trainable params ({num_classes} classes) | total params |",
        "| --- | --- | --- | --- | ---: | ---: |",
    ]
    for name, family, backbone, options, trainable, total in zoo_rows(num_classes):
        lines.append(f"| `{name}` | {family} | {backbone} | {options} | {trainable:,} | {total:,} |")
    return "\n".join(lines)


def replace_table(text, table):
    """``text`` with the region between the markers replaced by ``table``."""
    if START not in text or END not in text:
        raise ValueError(f"the markers {START} and {END} are missing")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table}\n{END}{tail}"


def main(argv):
    table = zoo_table()
    if len(argv) == 3 and argv[1] == "--update":
        with open(argv[2], encoding="utf-8") as f:
            text = f.read()
        with open(argv[2], "w", encoding="utf-8") as f:
            f.write(replace_table(text, table))
    elif len(argv) == 1:
        print(table)
    else:
        raise SystemExit("usage: python -m rfbnet_tf.zoo_table [--update README.md]")


if __name__ == "__main__":
    main(sys.argv)
