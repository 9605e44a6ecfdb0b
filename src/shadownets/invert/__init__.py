"""Inversion and leakage: reconstruct a net's input from a hidden layer's activations.

Four methods (:data:`METHODS`): one pass of the shadow net (``shadow``), regularised
maximum-likelihood inversion from a neutral start (``optimize``; He, Zhang & Lee 2019,
Mahendran & Vedaldi 2015), the same started from the shadow (``warm``), and a trained inverse
network (``learned``, :mod:`shadownets.invert.learned`). :func:`invert` runs one method at one
layer; :func:`leakage` runs several at every layer, the leakage profile of a net for split
inference. Figures are in :mod:`shadownets.invert.plots`.

>>> result = invert(model, x, "net.4", config=InvertConfig(method="warm"))  # doctest: +SKIP
>>> profile = leakage(model, x, scale=ValueScale(mean, std))               # doctest: +SKIP
"""

from shadownets.invert.config import METHODS, SWITCHES, UNKNOWN_UNPOOL, InvertConfig
from shadownets.invert.core import (
    CURVES_COLUMNS,
    DEFAULT_METHODS,
    SUMMARY_COLUMNS,
    TABLE_COLUMNS,
    InversionResult,
    LeakageResult,
    invert,
    leakage,
    summarise_table,
)
from shadownets.invert.methods import objective, total_variation
from shadownets.invert.metrics import ValueScale, feature_error, psnr, ssim

__all__ = [
    "CURVES_COLUMNS",
    "DEFAULT_METHODS",
    "METHODS",
    "SUMMARY_COLUMNS",
    "SWITCHES",
    "TABLE_COLUMNS",
    "UNKNOWN_UNPOOL",
    "InversionResult",
    "InvertConfig",
    "LeakageResult",
    "ValueScale",
    "feature_error",
    "invert",
    "leakage",
    "objective",
    "psnr",
    "ssim",
    "summarise_table",
    "total_variation",
]
