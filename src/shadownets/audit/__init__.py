"""How random-like is a trained net? Per-layer audits against null nets.

>>> table = audit(model, x_real)          # doctest: +SKIP  (one row per layer)
>>> result = run_audit(model, x_real)     # doctest: +SKIP  (table + spectra + samples)
>>> figures = audit_figures(result)       # doctest: +SKIP

The audit measures what the theory needs — whether the forward pass recovers a hidden layer
from inputs its shadow net generated — and compares it with null nets of the same architecture
(Gaussian re-draws and shuffles of each layer's weights), and states a three-valued verdict
per layer (random-like / worse / better than random, or undetermined; Holm across the call).
Weight statistics of each layer's true linear operator (spectrum against Marchenko–Pastur,
incoherence, RIP) come alongside.
"""

from shadownets.audit.adapters import as_inputs, load_data_spec
from shadownets.audit.config import VERDICT_SETTINGS, AuditConfig
from shadownets.audit.core import AuditResult, LayerSpectrum, audit, run_audit
from shadownets.audit.nulls import NULL_KINDS, null_net, null_nets, reestimate_batchnorm
from shadownets.audit.operator import LayerOperator, Spectrum, is_linear_layer
from shadownets.audit.plots import audit_figures, plot_generated, plot_ratios, plot_spectra
from shadownets.audit.reversibility import SETTINGS, Site, find_sites, measure_site
from shadownets.audit.spectral import ks_to_mp, mp_cdf, mp_edges, mp_pdf
from shadownets.audit.stats import ratio_estimate
from shadownets.audit.verdict import AUDIT_VERDICTS, combine, decide_family
from shadownets.audit.weights import (
    WeightStats,
    entry_stats,
    rip_constant,
    row_incoherence,
    weight_stats,
)

__all__ = [
    "AUDIT_VERDICTS",
    "AuditConfig",
    "AuditResult",
    "LayerOperator",
    "LayerSpectrum",
    "NULL_KINDS",
    "SETTINGS",
    "Site",
    "Spectrum",
    "VERDICT_SETTINGS",
    "WeightStats",
    "as_inputs",
    "audit",
    "audit_figures",
    "combine",
    "decide_family",
    "entry_stats",
    "find_sites",
    "is_linear_layer",
    "ks_to_mp",
    "load_data_spec",
    "measure_site",
    "mp_cdf",
    "mp_edges",
    "mp_pdf",
    "null_net",
    "null_nets",
    "plot_generated",
    "plot_ratios",
    "plot_spectra",
    "ratio_estimate",
    "reestimate_batchnorm",
    "rip_constant",
    "row_incoherence",
    "run_audit",
    "weight_stats",
]
