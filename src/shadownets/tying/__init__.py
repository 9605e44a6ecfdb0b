"""Weight tying explained? Untied denoising autoencoders and how close D comes to c · Eᵀ.

The paper's generative model "is just the reverse of the feedforward net: if the forward
transformation at a layer is A then the reverse transformation is Aᵀ (this can be seen as an
explanation of the old weight tying idea for denoising autoencoders)". :func:`run_tying`
measures it: untied ReLU autoencoders trained on corrupted inputs (model data with a known W,
or real data), the per-unit cosine of decoder column and encoder row against a random-pair
null, the best scalar c in D ≈ c·Eᵀ and its residual, the Hungarian match of the learned units
to W, tied vs untied errors, and the linear ℓ2 autoencoder as the positive control. Figures
are in :mod:`shadownets.tying.plots`.

>>> result = run_tying(TyingConfig(data="model:n=256,m=64,k=8", hidden=64))  # doctest: +SKIP
>>> result.headline[["model", "median_cosine", "null_median"]]            # doctest: +SKIP
"""

from shadownets.tying.alignment import (
    Matching,
    best_scale,
    layer_alignment,
    match_units,
    null_cosines,
    relative_residual,
    unit_cosines,
    unit_gains,
)
from shadownets.tying.config import MODELS, NOISE_KINDS, Noise, TyingConfig, parse_noise
from shadownets.tying.core import (
    ALIGNMENT_COLUMNS,
    CURVE_COLUMNS,
    ERROR_COLUMNS,
    HEADLINE_COLUMNS,
    MATCH_COLUMNS,
    SUMMARY_COLUMNS,
    UNIT_COLUMNS,
    TyingResult,
    headline_table,
    run_tying,
    summarise,
)
from shadownets.tying.data import ModelData, TyingData, load_tying_data, parse_tying_data
from shadownets.tying.model import Autoencoder

__all__ = [
    "ALIGNMENT_COLUMNS",
    "CURVE_COLUMNS",
    "ERROR_COLUMNS",
    "HEADLINE_COLUMNS",
    "MATCH_COLUMNS",
    "MODELS",
    "NOISE_KINDS",
    "SUMMARY_COLUMNS",
    "UNIT_COLUMNS",
    "Autoencoder",
    "Matching",
    "ModelData",
    "Noise",
    "TyingConfig",
    "TyingData",
    "TyingResult",
    "best_scale",
    "headline_table",
    "layer_alignment",
    "load_tying_data",
    "match_units",
    "null_cosines",
    "parse_noise",
    "parse_tying_data",
    "relative_residual",
    "run_tying",
    "summarise",
    "unit_cosines",
    "unit_gains",
]
