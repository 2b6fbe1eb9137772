"""The reproduction study of the paper's Tables III and IV (``python -m rfbnet_tf.study``).

* ``rows`` — a study row (a table row of the paper: model, options, paper mIoU) and its flagfile syntax;
* ``claims`` — the paper's findings as paired comparisons between rows;
* ``statistics`` — paired differences over seeds, t intervals and verdicts;
* ``runner`` — trains and evaluates every (row, seed) run, resumably, unimodal runs first;
* ``report`` — ``report.json`` / ``report.md`` from the runs' own files; ``chart`` — the PNG chart.
"""
