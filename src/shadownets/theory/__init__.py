"""The random-like generative model of Arora, Liang & Ma (2015) and its feed-forward inference.

Knows nothing of trained nets.
"""

from shadownets.theory.bias import (
    BIAS_RULES,
    THEORY_C,
    LayerBias,
    fit_bias_constants,
    resolve_bias,
)
from shadownets.theory.metrics import in_regime, recovery_metrics, theorem_bound
from shadownets.theory.model import NetConfig, RandomLikeNet
from shadownets.theory.priors import HIDDEN_LAWS, HiddenPrior, sample_hidden
from shadownets.theory.recovery import (
    RECOVERY_COLUMNS,
    RecoveryResult,
    recover,
    recovery_table,
    run_recovery,
)
from shadownets.theory.weights import (
    DenseWeights,
    LayerWeights,
    SparseWeights,
    gaussian_weights,
    sparse_graph_weights,
)

__all__ = [
    "BIAS_RULES", "THEORY_C", "HIDDEN_LAWS", "RECOVERY_COLUMNS",
    "LayerBias", "fit_bias_constants", "resolve_bias",
    "in_regime", "recovery_metrics", "theorem_bound",
    "NetConfig", "RandomLikeNet",
    "HiddenPrior", "sample_hidden",
    "RecoveryResult", "recover", "recovery_table", "run_recovery",
    "DenseWeights", "LayerWeights", "SparseWeights", "gaussian_weights", "sparse_graph_weights",
]
