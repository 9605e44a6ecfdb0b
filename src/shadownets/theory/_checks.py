"""Input checks shared by the theory module (the one place its arguments are validated)."""

from __future__ import annotations

import math
import operator
from typing import Any

import numpy as np
import torch

__all__ = [
    "check_int",
    "check_prob",
    "check_finite",
    "check_nonnegative",
    "check_matrix_batch",
    "make_generator",
    "derive_seed",
    "bernoulli_mask",
]


def check_int(name: str, value: Any, *, low: int | None = None, high: int | None = None) -> int:
    """Return ``value`` as an int, or raise ValueError naming ``name`` and the allowed range.

    Python, numpy and torch integers are accepted, and floats with an integral value.
    """
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    try:
        value = operator.index(value)
    except TypeError:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ValueError(f"{name} must be an integer, got {value!r}") from None
    lo = "-inf" if low is None else str(low)
    hi = "inf" if high is None else str(high)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name} must lie in [{lo}, {hi}], got {value}")
    return value


def check_prob(name: str, value: Any) -> float:
    """Return a keep probability in (0, 1], or raise ValueError."""
    if isinstance(value, (str, bytes, bool)):
        raise ValueError(f"{name} must be a number in (0, 1], got {value!r}")
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in (0, 1], got {value!r}") from None
    if not (0.0 < value <= 1.0) or math.isnan(value):
        raise ValueError(f"{name} must lie in (0, 1] (keep probability), got {value}")
    return value


def check_finite(name: str, t: torch.Tensor) -> torch.Tensor:
    """Raise ValueError if ``t`` holds NaN or infinite entries."""
    if not torch.is_tensor(t):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    # a finite sum proves every entry finite (NaN and inf propagate); only a non-finite sum
    # (also reached by overflow) needs the exact, slower check
    if t.is_floating_point() and not bool(torch.isfinite(t.sum())) and not bool(
        torch.isfinite(t).all()
    ):
        bad = int((~torch.isfinite(t)).sum())
        raise ValueError(f"{name} holds {bad} non-finite entries (NaN or inf); all must be finite")
    return t


def check_nonnegative(name: str, t: torch.Tensor) -> torch.Tensor:
    """Raise ValueError if ``t`` is non-finite or has negative entries."""
    check_finite(name, t)
    if t.numel() and float(t.min()) < 0:
        raise ValueError(f"{name} must be nonnegative, found min {float(t.min()):.4g}")
    return t


def check_matrix_batch(name: str, t: torch.Tensor, width: int) -> torch.Tensor:
    """Check that ``t`` has shape (batch, width)."""
    if not torch.is_tensor(t):
        raise ValueError(f"{name} must be a torch.Tensor of shape (batch, {width})")
    if t.dim() != 2 or t.shape[1] != width:
        raise ValueError(
            f"{name} must have shape (batch, {width}), got {tuple(t.shape)}"
        )
    return t


def make_generator(
    seed: int | torch.Generator | None, device: torch.device | str = "cpu"
) -> torch.Generator:
    """Turn a seed (or an existing generator) into a ``torch.Generator`` on ``device``.

    ``None`` draws a fresh nondeterministic seed: pass an int for reproducible runs. A given
    generator must live on the same kind of device as the tensors it will draw.
    """
    device = torch.device(device)
    if isinstance(seed, torch.Generator):
        if seed.device.type != device.type:
            raise ValueError(f"generator is on {seed.device}, but the tensors it draws are on "
                             f"{device}; pass a generator on {device.type} or an int seed")
        return seed
    gen = torch.Generator(device=device)
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(check_int("seed", seed, low=0))
    return gen


def derive_seed(seed: int, stream: int) -> int:
    """An independent seed for stream ``stream`` of base seed ``seed`` (numpy SeedSequence),
    so that, e.g., the samples of seed 0 never share a stream with the net of seed 1."""
    seq = np.random.SeedSequence([check_int("seed", seed, low=0), stream])
    return int(seq.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def bernoulli_mask(shape: tuple[int, ...], rho: float, *, generator: torch.Generator,
                   dtype: torch.dtype) -> torch.Tensor:
    """Keep mask z with P(z = 1) = ρ rounded to a multiple of 2⁻¹⁶ (exact for ρ = 1/2, 1/4, ...;
    off by at most 7.6·10⁻⁶ otherwise), as ``dtype`` zeros and ones on the generator's device.

    Four 16-bit uniforms come from each 64-bit random word, so a mask costs a quarter of the
    random-number calls of ``torch.rand(shape) < ρ``.
    """
    numel = math.prod(shape)
    threshold = round(rho * 65536) - 32768
    if threshold >= 32768:  # ρ rounds to 1: keep everything (and 32768 does not fit int16)
        return torch.ones(shape, dtype=dtype, device=generator.device)
    words = torch.randint(-(2**63), 2**63 - 1, ((numel + 3) // 4,), dtype=torch.int64,
                          generator=generator, device=generator.device)
    u16 = words.view(torch.int16)[:numel]  # uniform on [-2^15, 2^15)
    return (u16 < threshold).to(dtype).reshape(shape)
