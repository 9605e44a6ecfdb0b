"""The audit's settings: one frozen dataclass, checked on construction."""

from __future__ import annotations

import math
from dataclasses import dataclass

from shadownets.audit.nulls import NULL_KINDS
from shadownets.audit.verdict import CORRECTIONS
from shadownets.theory.bias import THEORY_C

__all__ = ["AuditConfig", "VERDICT_SETTINGS"]

#: Reversibility settings the verdict may be based on (see :class:`AuditConfig.verdict_on`).
VERDICT_SETTINGS: tuple[str, ...] = ("one", "one_theory", "input")


@dataclass(frozen=True)
class AuditConfig:
    """How an audit is run.

    The verdict rule (see :mod:`shadownets.audit.verdict`), on the reversibility setting
    ``verdict_on``: for each layer and null kind, the log of the ratio
    ``r`` = trained mean rel-error / geometric mean of the null nets' mean rel-errors (same
    inputs; ``s`` the spread of the null nets' log mean errors, ``t`` with ``n_null − 1``
    degrees of freedom) is tested against the band ``[−log factor, log factor]``:
    ``p_inside`` (TOST) with the confidence standard error ``s/√n_null`` (the ratio to the
    typical null net), ``p_above`` / ``p_below`` with the prediction standard error
    ``s·√(1 + 1/n_null)`` (outside the null population, not just its mean). Each kind of
    p-value is adjusted by ``correction`` (Holm) across the family *layers × null kinds of
    this one audit call*, and compared with ``significance``:

    * **random-like** — shown inside the band ``[1/factor, factor]``;
    * **worse than random** — shown above ``factor``; **better than random** — shown below
      ``1/factor``;
    * **undetermined** — none of these (an interval that merely meets the band decides
      nothing); ``to_decide`` / ``inputs_to_decide`` say what would decide it.

    A layer is random-like if random-like against every null kind; worse (better) if worse
    (better) against some kind and better (worse) against none; undetermined otherwise. With
    one null net per kind there is no interval: every verdict is undetermined.
    """

    n_inputs: int = 256  # real inputs used (a seeded random subset when more are given)
    n_null: int = 5  # null nets per kind (>= 2 for a verdict)
    null_kinds: tuple[str, ...] = NULL_KINDS  # which null nets ("gaussian", "shuffle")
    seed: int = 0  # seeds the input subset, null nets, dropout masks, probes and bootstrap
    bootstrap: int = 1000  # bootstrap replicates (0: no intervals)
    level: float = 0.95  # coverage of the intervals shown (bootstrap and ratio; not Holm-adjusted)
    rho: float = 1.0  # keep probability of the shadow net's dropout
    alpha: str | float = "calibrated"  # shadow-net scale: "theory", "calibrated" or a number
    unpool: str = "switches"  # how the shadow net undoes max pooling
    calibrate_inputs: int = 32  # inputs used to calibrate alpha (the first ones of the subset)
    fit_scale: bool = True  # fit one factor per net and setting (on the first fit_inputs;
    #                         "input" only when alpha is not "calibrated")
    fit_inputs: int = 8  # inputs the factor is fitted on (<= calibrate_inputs of them)
    theory_c: float = THEORY_C  # constant c of the theory bias b = -c·(‖A_i‖/√n)·‖z‖·√(ln m)
    factor: float = 1.5  # verdict band [1/factor, factor] for the trained/null error ratio
    significance: float = 0.05  # family-wise error rate of the verdicts (per test if no correction)
    correction: str = "holm"  # across layers x null kinds of one audit: "holm" or "none"
    verdict_on: str = "one"  # reversibility setting the verdict reads: "one", "one_theory", "input"
    to_input: bool = True  # also generate all the way down to the network input
    weight_stats: bool = True  # compute weight statistics (spectra, incoherence, RIP)
    dense_max: int = 4_000_000  # largest n_out·n_in for which the dense operator is built
    lanczos_steps: int = 40  # Lanczos steps per probe for large operators
    lanczos_probes: int = 6  # probes for stochastic Lanczos quadrature
    rip_draws: int = 128  # random sparse codes for the RIP estimate
    rip_k: int | None = None  # code support size for RIP (None: median active units measured)
    batch_size: int = 256  # inputs per forward/backward batch
    n_examples: int = 8  # generated inputs kept per layer for the figures

    def __post_init__(self) -> None:
        def _int(name: str, lo: int) -> None:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ValueError(f"{name} must be an int >= {lo}, got {v!r}")

        for name, lo in (("n_inputs", 2), ("n_null", 1), ("seed", 0), ("bootstrap", 0),
                         ("calibrate_inputs", 1), ("fit_inputs", 1), ("dense_max", 0),
                         ("lanczos_steps", 2),
                         ("lanczos_probes", 1), ("rip_draws", 1), ("batch_size", 1),
                         ("n_examples", 0)):
            _int(name, lo)
        kinds = tuple(self.null_kinds)
        if not kinds or any(k not in NULL_KINDS for k in kinds) or len(set(kinds)) != len(kinds):
            raise ValueError(
                f"null_kinds must be a non-empty subset of {list(NULL_KINDS)} without repeats, "
                f"got {list(kinds)}"
            )
        object.__setattr__(self, "null_kinds", kinds)
        if not 0.0 < self.level < 1.0:
            raise ValueError(f"level must be in (0, 1), got {self.level}")
        if not 0.0 < self.rho <= 1.0:
            raise ValueError(f"rho must be in (0, 1], got {self.rho}")
        if isinstance(self.alpha, str):
            if self.alpha not in ("theory", "calibrated"):
                raise ValueError(
                    f"alpha must be 'theory', 'calibrated' or a positive number, got "
                    f"{self.alpha!r}"
                )
        elif isinstance(self.alpha, bool) or not (
            isinstance(self.alpha, (int, float)) and math.isfinite(self.alpha) and self.alpha > 0
        ):
            raise ValueError(
                f"alpha must be 'theory', 'calibrated' or a positive number, got {self.alpha!r}"
            )
        if not (math.isfinite(self.theory_c) and self.theory_c >= 0):
            raise ValueError(f"theory_c must be a finite number >= 0, got {self.theory_c}")
        if not (math.isfinite(self.factor) and self.factor > 1.0):
            raise ValueError(f"factor must be a finite number > 1, got {self.factor}")
        if not 0.0 < self.significance < 1.0:
            raise ValueError(f"significance must be in (0, 1), got {self.significance}")
        if self.correction not in CORRECTIONS:
            raise ValueError(
                f"correction must be one of {list(CORRECTIONS)}, got {self.correction!r}"
            )
        if self.verdict_on not in VERDICT_SETTINGS:
            raise ValueError(
                f"verdict_on must be one of {list(VERDICT_SETTINGS)}, got {self.verdict_on!r}"
            )
        if self.verdict_on == "input" and not self.to_input:
            raise ValueError("verdict_on='input' needs to_input=True, got to_input=False")
        if self.rip_k is not None:
            _int("rip_k", 1)
