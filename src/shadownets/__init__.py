"""shadownets: Arora, Liang & Ma (2015), *Why are deep nets reversible*, made usable.

The public API, re-exported lazily (importing ``shadownets`` stays cheap; each name loads its
module on first use):

- theory: :class:`NetConfig`, :class:`RandomLikeNet`, :func:`run_recovery`, :func:`run_sweep`
- shadow nets: :func:`reverse`, :func:`list_layers`, :class:`ShadowNet`
- audits: :func:`audit`, :func:`run_audit`, :class:`AuditConfig`
- inversion and leakage: :func:`invert`, :func:`leakage`, :class:`InvertConfig`
- weight tying in autoencoders: :func:`run_tying`, :class:`TyingConfig`
- data: :func:`load_dataset`, :func:`label_budget`
- training: :class:`ShadowAugmenter`, :class:`TrainConfig`, :func:`fit`, :func:`compare`
- the report: :func:`reproduce`

``shadownets.reverse`` and ``shadownets.audit`` are always the *functions*, in any import
order: the subpackages of the same name are reached with ``from shadownets.reverse import …``
and ``from shadownets.audit import …`` (Python's import machinery sets a package attribute to a
subpackage when it is first imported; this package keeps the function instead). For the same
reason write ``from shadownets import audit as audit_fn``, not ``import shadownets.audit as A``.
"""

from __future__ import annotations

import sys
import types
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
    "invert": "shadownets.invert",
    "leakage": "shadownets.invert",
    "InvertConfig": "shadownets.invert",
    "run_tying": "shadownets.tying",
    "TyingConfig": "shadownets.tying",
    "load_dataset": "shadownets.data",
    "label_budget": "shadownets.data",
    "ShadowAugmenter": "shadownets.train",
    "TrainConfig": "shadownets.train",
    "fit": "shadownets.train",
    "compare": "shadownets.train",
    "reproduce": "shadownets.report",
}

__all__ = ["__version__", *_EXPORTS]


#: Public names that are also subpackage names: the name is the function, not the module.
_SHADOWED = {name for name, mod in _EXPORTS.items() if mod == f"{__name__}.{name}"}


class _Package(types.ModuleType):
    """Module type of ``shadownets``: refuses to let a subpackage import replace a function."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _SHADOWED and isinstance(value, types.ModuleType):
            return  # the import system binding the subpackage: keep the lazy function
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'shadownets' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
