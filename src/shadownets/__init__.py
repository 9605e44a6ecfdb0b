"""shadownets: Arora, Liang & Ma (2015), *Why are deep nets reversible*, made usable.

The public API, re-exported lazily (importing ``shadownets`` stays cheap; each name loads its
module on first use):

- theory: :class:`NetConfig`, :class:`RandomLikeNet`, :func:`run_recovery`, :func:`run_sweep`
- shadow nets: :func:`reverse`, :func:`list_layers`, :class:`ShadowNet`
- audits: :func:`audit`, :func:`run_audit`, :class:`AuditConfig`
- data: :func:`load_dataset`, :func:`label_budget`
- training: :class:`ShadowAugmenter`, :class:`TrainConfig`, :func:`fit`, :func:`compare`
- the report: :func:`reproduce`
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "NetConfig": "shadownets.theory",
    "RandomLikeNet": "shadownets.theory",
    "run_recovery": "shadownets.theory",
    "run_sweep": "shadownets.theory.sweep",
    "reverse": "shadownets.reverse",
    "list_layers": "shadownets.reverse",
    "ShadowNet": "shadownets.reverse",
    "audit": "shadownets.audit",
    "run_audit": "shadownets.audit",
    "AuditConfig": "shadownets.audit",
    "load_dataset": "shadownets.data",
    "label_budget": "shadownets.data",
    "ShadowAugmenter": "shadownets.train",
    "TrainConfig": "shadownets.train",
    "fit": "shadownets.train",
    "compare": "shadownets.train",
    "reproduce": "shadownets.report",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'shadownets' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
