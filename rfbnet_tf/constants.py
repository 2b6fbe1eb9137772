"""Project-wide constants (the lowest layer: imports nothing from rfbnet_tf)."""

IGNORE_LABEL = 255
"""Label value of pixels that carry no class: no loss, no metric, black in colour maps."""

AUX_LOSS_WEIGHTS = (0.6, 0.5)
"""Weights of the auxiliary losses of AdapNet++ (Valada et al., IJCV 2019, Sec. 3.3); the main loss has 1."""
