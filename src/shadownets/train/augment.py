"""ShadowAugmenter: synthetic labeled inputs drawn from a net's shadow distribution.

From a labeled batch ``(x, y)`` the augmenter computes the hidden code ``h`` at ``layer`` with
the net, samples ``x̃ ~ p(x | h)`` through the shadow net (weights tied to the net, dropout
noise with keep probability ``rho``) and returns ``(x̃, y)``: ``n_shadows`` synthetic inputs per
input, each with its source's label. It plugs into any training loop::

    aug = ShadowAugmenter(model, layer="top", rho=0.3, n_shadows=1)
    aug.refresh(x_calib)                 # calibrate α (and snapshot the net if source="frozen")
    x_s, y_s = aug(x, y, generator=g)    # (n_shadows * batch, C, H, W), (n_shadows * batch,)

The input space. The shadow net generates at the input position, where the forward net has no
ReLU, so generated shadows are signed and their scale follows from α and the dropout mask, not
from the data; pixels dropped by the mask sit at 0, which in the normalised space is the data
MEAN (grey), not the background. ``match`` decides how a shadow is put into the input space:

- ``"raw"``: generate in the RAW pixel space, where the theory's model applies
  (observed x ≥ 0): the first layer acting on normalised inputs ``(x - mean) / std`` is the
  layer ``W / std`` acting on raw inputs, so the raw shadow is ``ReLU(shadow) / std`` (dropped
  pixels become 0 = background); it is rescaled to its source's raw root mean square and then
  normalised like the data. Needs the data's per-channel ``mean`` and ``std``.
- ``"rms"`` (default): rescale each shadow to its source input's root mean square
  (normalised space).
- ``"moments"``: match each shadow's mean and standard deviation to its source's.
- ``"none"``: leave it as generated.

On digits validation data (MLP and LeNet) "rms", "moments" and "none" were within noise of each
other and "raw" was not better (docs/training.md); "rms" is the default.

Sharing the training forward. The code ``h`` is a value of the model's own forward pass, so a
trainer need not encode the batch a second time: where :attr:`ShadowAugmenter.reuses_forward`
holds (a zoo net of Linear / Conv / ReLU / MaxPool2d / Flatten, whose forward is the same in
train and eval mode, and ``source="current"``), :meth:`ShadowAugmenter.forward_encode` runs the
training forward once, keeping autograd, and returns the logits with the encoding (``h`` and
the max-pool switches), and :meth:`ShadowAugmenter.from_encoding` generates from it::

    logits, enc = aug.forward_encode(x)               # the training step's forward
    x_s, y_s = aug.from_encoding(enc, x, y, generator=g)   # same shadows as aug(x, y, ...)
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from shadownets.train.models import ZooNet, resolve_layer

if TYPE_CHECKING:
    from shadownets.reverse import Encoding

__all__ = ["ShadowConfig", "ShadowAugmenter", "match_scale"]

_SOURCES = ("current", "frozen")
_MATCHES = ("rms", "raw", "moments", "none")
_UNPOOLS = ("switches", "spread", "random", "nearest")
_EPS = 1e-12
# modules whose forward is the same in train and eval mode and has no state: with only these in
# a zoo net, the training forward is the shadow's encoder (Dropout(p=0) is the identity)
_MODE_FREE = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ReLU, nn.MaxPool2d, nn.Flatten)


@dataclass(frozen=True)
class ShadowConfig:
    """Knobs of the shadow augmentation (validated here, used by augmenter and trainer)."""

    layer: str | int = "top"  # activation point: "top", hidden-layer index, or module name
    rho: float = 0.3  # keep probability of the shadow net's dropout masks, in (0, 1]
    n_shadows: int = 1  # synthetic inputs per real input
    alpha: str | float = "calibrated"  # "calibrated", "theory" or a positive float
    source: str = "current"  # "current": the live net; "frozen": a snapshot taken at refresh
    unpool: str = "switches"  # how max pools are undone (see shadownets.reverse)
    match: str = "rms"  # "rms", "raw", "moments" or "none": how shadows enter the input space

    def __post_init__(self) -> None:
        if not isinstance(self.rho, (int, float)) or not 0.0 < float(self.rho) <= 1.0:
            raise ValueError(f"rho must be a float in (0, 1]; got {self.rho!r}")
        if not isinstance(self.n_shadows, int) or isinstance(self.n_shadows, bool) \
                or self.n_shadows < 1:
            raise ValueError(f"n_shadows must be an int >= 1; got {self.n_shadows!r}")
        if isinstance(self.alpha, str):
            if self.alpha not in ("calibrated", "theory"):
                raise ValueError(f"alpha must be 'calibrated', 'theory' or a positive float; "
                                 f"got {self.alpha!r}")
        elif not isinstance(self.alpha, (int, float)) or not float(self.alpha) > 0:
            raise ValueError(f"alpha must be 'calibrated', 'theory' or a positive float; "
                             f"got {self.alpha!r}")
        for arg, value, allowed in (("source", self.source, _SOURCES),
                                    ("match", self.match, _MATCHES),
                                    ("unpool", self.unpool, _UNPOOLS)):
            if value not in allowed:
                raise ValueError(f"{arg} must be one of {', '.join(allowed)}; got {value!r}")


def match_scale(x_gen: torch.Tensor, x_src: torch.Tensor, mode: str,
                mean: Sequence[float] | None = None,
                std: Sequence[float] | None = None) -> torch.Tensor:
    """Put each generated input on the scale of its source input.

    Parameters
    ----------
    x_gen : Tensor of shape (batch, *input_shape)
        Generated inputs.
    x_src : Tensor of shape (batch, *input_shape)
        The real inputs they were generated from (row i ↔ row i).
    mode : {"raw", "rms", "moments", "none"}
        ``"raw"``: ``ReLU(x_gen) / std`` in raw pixel space, scaled per row to the raw root
        mean square of ``x_src[i] * std + mean``, then normalised with ``mean``/``std``;
        ``"rms"``: scale row i so its root mean square equals that of ``x_src[i]``;
        ``"moments"``: match per-row mean and standard deviation; ``"none"``: unchanged.
    mean, std : sequence of float, length C
        The data's per-channel normalisation (needed for ``"raw"``); inputs are (batch, C, ...).

    Returns
    -------
    Tensor of shape (batch, *input_shape)
    """
    if mode == "none":
        return x_gen
    if mode == "raw":
        return _raw_space(x_gen, x_src, mean, std)
    g = x_gen.flatten(1)
    s = x_src.flatten(1)
    if mode == "rms":
        scale = s.pow(2).mean(1, keepdim=True).sqrt() / g.pow(2).mean(1, keepdim=True).sqrt()
        out = g * torch.nan_to_num(scale, nan=0.0, posinf=0.0)
    elif mode == "moments":
        g_c = g - g.mean(1, keepdim=True)
        g_std = g_c.pow(2).mean(1, keepdim=True).sqrt().clamp_min(_EPS)
        s_std = (s - s.mean(1, keepdim=True)).pow(2).mean(1, keepdim=True).sqrt()
        out = g_c / g_std * s_std + s.mean(1, keepdim=True)
    else:
        raise ValueError(f"match must be one of {', '.join(_MATCHES)}; got {mode!r}")
    return out.reshape(x_gen.shape)


def _rms_rows(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1).pow(2).mean(1).sqrt().reshape(-1, *([1] * (t.ndim - 1)))


def _raw_space(x_gen: torch.Tensor, x_src: torch.Tensor, mean: Sequence[float] | None,
               std: Sequence[float] | None) -> torch.Tensor:
    if mean is None or std is None or len(mean) != x_gen.shape[1] or len(std) != x_gen.shape[1]:
        raise ValueError(f"match='raw' needs the data's per-channel mean and std ({x_gen.shape[1]}"
                         f" values each); got mean={mean!r}, std={std!r}")
    view = (1, -1) + (1,) * (x_gen.ndim - 2)
    m = torch.as_tensor(mean, dtype=x_gen.dtype, device=x_gen.device).reshape(view)
    sd = torch.as_tensor(std, dtype=x_gen.dtype, device=x_gen.device).reshape(view)
    raw_gen = torch.relu(x_gen) / sd
    scale = _rms_rows(x_src * sd + m) / _rms_rows(raw_gen)
    raw_gen = raw_gen * torch.nan_to_num(scale, nan=0.0, posinf=0.0)
    return (raw_gen - m) / sd


def _forward_plan(model: nn.Module, layer: str, source: str) -> tuple[int, dict[int, str]] | None:
    """Where the code sits in ``model.net`` and the names of the max pools below it, when the
    training forward of ``model`` is also the shadow's encoder (None when it is not)."""
    net = getattr(model, "net", None)
    if (source != "current" or not isinstance(model, ZooNet)
            or type(model).forward is not ZooNet.forward or type(net) is not nn.Sequential
            or not layer.startswith("net.") or not layer[4:].isdigit()
            or int(layer[4:]) >= len(net)):
        return None
    for module in net:
        plain = type(module) in _MODE_FREE or (type(module) is nn.Dropout and module.p == 0)
        if not plain or (isinstance(module, nn.MaxPool2d) and module.return_indices):
            return None
    stop = int(layer[4:])
    pools = {i: f"net.{i}" for i, m in enumerate(net) if i < stop and isinstance(m, nn.MaxPool2d)}
    return stop, pools


def _run_recording(net: nn.Sequential, x: torch.Tensor, stop: int, pools: dict[int, str]
                   ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """``net(x)`` (logits), its value after module ``stop`` and the switches of ``pools``.

    The pools run as ``max_pool2d(..., return_indices=True)``: the values are the module's
    (a max is exact), and autograd keeps the indices for the backward pass anyway.
    """
    h, switches = None, {}
    for i, module in enumerate(net):
        if i in pools:
            x, switches[pools[i]] = F.max_pool2d(
                x, module.kernel_size, module.stride, module.padding, module.dilation,
                ceil_mode=module.ceil_mode, return_indices=True)
        else:
            x = module(x)
        if i == stop:
            h = x
    return x, h, switches


class ShadowAugmenter:
    """Generate labeled synthetic inputs from a classifier's shadow net.

    Parameters
    ----------
    model : nn.Module
        A zoo model (see :mod:`shadownets.train.models`); pass the bare module, not a DDP
        wrapper. With ``source="current"`` the shadow net shares the model's parameters, so
        shadows follow training as it goes.
    layer : str or int, default "top"
        Where the hidden code is taken: ``"top"``, an index into the hidden ReLU layers
        (negative from the top) or a module name such as ``"net.2"``.
    rho : float, default 0.3
        Keep probability of the shadow net's Bernoulli masks, in (0, 1].
    n_shadows : int, default 1
        Synthetic inputs per real input.
    alpha : "calibrated", "theory" or float, default "calibrated"
        Per-layer generation scale (see :func:`shadownets.reverse.reverse`). ``"calibrated"``
        is fitted on the batch given to :meth:`refresh` (or the first batch seen).
    source : {"current", "frozen"}, default "current"
        Generate with the live net, or with a copy taken at each :meth:`refresh`.
    unpool : str, default "switches"
        How max pools are undone.
    match : {"rms", "raw", "moments", "none"}, default "rms"
        How shadows enter the input space (see :func:`match_scale`).
    mean, std : sequence of float, optional
        The data's per-channel normalisation (``DataSplits.mean`` / ``.std``); required for
        ``match="raw"``.
    example_input : Tensor of shape (batch, *input_shape), optional
        Used to trace the net; defaults to zeros of shape (1, *model.input_shape).
    """

    def __init__(self, model: nn.Module, layer: str | int = "top", rho: float = 0.3,
                 n_shadows: int = 1, alpha: str | float = "calibrated",
                 source: str = "current", unpool: str = "switches", match: str = "rms",
                 mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                 example_input: torch.Tensor | None = None) -> None:
        self.config = ShadowConfig(layer=layer, rho=rho, n_shadows=n_shadows, alpha=alpha,
                                   source=source, unpool=unpool, match=match)
        if isinstance(model, nn.parallel.DistributedDataParallel):
            raise ValueError("model must be the bare module, not a DistributedDataParallel "
                             "wrapper; pass ddp_model.module")
        if match == "raw" and (mean is None or std is None):
            raise ValueError("match='raw' needs mean and std (the data's per-channel "
                             "normalisation, e.g. DataSplits.mean / .std); or use match='rms'")
        self.model = model
        self.mean = None if mean is None else tuple(float(v) for v in mean)
        self.std = None if std is None else tuple(float(v) for v in std)
        self.layer_ = resolve_layer(model, layer)
        if example_input is None:
            shape = getattr(model, "input_shape", None)
            if shape is None:
                raise ValueError("example_input is required for a model without input_shape")
            example_input = torch.zeros(1, *shape)
        self.example_input = example_input
        self._plan = _forward_plan(model, self.layer_, source)
        self.shadow_: Any = None
        self.calibrated_ = False

    @property
    def reuses_forward(self) -> bool:
        """Whether :meth:`forward_encode` can give the encoding from the training forward.

        True for a zoo net made only of modules that act the same in train and eval mode
        (Linear, Conv, ReLU, MaxPool2d, Flatten) with ``source="current"``; checked against the
        shadow net's own encoder when it is built (False if they disagree).
        """
        return self._plan is not None

    def _build(self) -> None:
        from shadownets.reverse import reverse

        cfg = self.config
        net = self.model
        if cfg.source == "frozen":
            net = copy.deepcopy(self.model)
            for p in net.parameters():
                p.requires_grad_(False)
            net.eval()
        alpha = cfg.alpha if isinstance(cfg.alpha, str) else float(cfg.alpha)
        self.shadow_ = reverse(net, self.example_input, self.layer_, rho=float(cfg.rho),
                               alpha=alpha, unpool=cfg.unpool)
        self._net = net
        self.calibrated_ = False
        if self._plan is not None and not self._plan_agrees():
            self._plan = None

    def _plan_agrees(self) -> bool:
        """Whether the recording forward gives the shadow's encoding of the example input."""
        with torch.no_grad(), _eval_mode(self._net):
            enc = self.shadow_.encode(self.example_input)
            _, h, switches = _run_recording(self.model.net, self.example_input, *self._plan)
        theirs = enc.switches or {}
        return (h is not None and h.shape == enc.h.shape and torch.allclose(h, enc.h)
                and set(theirs) == set(switches)
                and all(torch.equal(switches[k], theirs[k]) for k in switches))

    def refresh(self, x_calib: torch.Tensor | None = None) -> ShadowAugmenter:
        """Re-snapshot the net (``source="frozen"``) and re-calibrate α on ``x_calib``.

        Parameters
        ----------
        x_calib : Tensor of shape (batch, *input_shape), optional
            Real inputs for α calibration (needed when ``alpha="calibrated"``; if omitted the
            next batch passed to ``__call__`` is used).
        """
        if self.shadow_ is None or self.config.source == "frozen":
            self._build()
        self.calibrated_ = False
        if x_calib is not None:
            self._calibrate(x_calib)
        return self

    def _calibrate(self, x: torch.Tensor) -> None:
        if self.config.alpha == "calibrated":
            with torch.no_grad(), _eval_mode(self._net):
                self.shadow_.calibrate(x)
        self.calibrated_ = True

    def __call__(self, x: torch.Tensor, y: torch.Tensor, *,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Synthetic inputs and labels.

        Parameters
        ----------
        x : Tensor of shape (batch, *input_shape)
            Real (normalised) inputs.
        y : Tensor of shape (batch,)
            Their labels.
        generator : torch.Generator, optional
            Source of the dropout masks (and random unpooling); pass one for reproducibility.

        Returns
        -------
        x_s : Tensor of shape (n_shadows * batch, *input_shape)
            Shadows; rows ``i * n_shadows ... (i + 1) * n_shadows - 1`` come from ``x[i]``.
        y_s : Tensor of shape (n_shadows * batch,)
            Their labels, ``y`` repeated.
        """
        if x.ndim < 2 or y.ndim != 1 or x.shape[0] != y.shape[0]:
            raise ValueError(f"x must be (batch, ...) and y (batch,) with the same batch; got "
                             f"x {tuple(x.shape)} and y {tuple(y.shape)}")
        if self.shadow_ is None:
            self._build()
        if not self.calibrated_:
            self._calibrate(x)
        with torch.no_grad(), _eval_mode(self._net):
            enc = self.shadow_.encode(x)
            return self._generate(enc, x, y, generator)

    def forward_encode(self, x: torch.Tensor) -> tuple[torch.Tensor, Encoding]:
        """The model's forward on ``x`` and, from the same pass, the shadow's encoding of ``x``.

        Runs with autograd as the caller has it and in the model's current mode (which, where
        :attr:`reuses_forward` holds, changes nothing): the logits serve the training step,
        the encoding :meth:`from_encoding`.

        Parameters
        ----------
        x : Tensor of shape (batch, *input_shape)

        Returns
        -------
        logits : Tensor of shape (batch, num_classes)
        enc : shadownets.reverse.Encoding
            ``h`` of shape (batch, *code_shape), detached, and the max-pool switches.
        """
        if self.shadow_ is None:
            self._build()
        if self._plan is None:
            raise ValueError("forward_encode needs a net whose training forward is the shadow's "
                             "encoder (see reuses_forward); call the augmenter instead")
        from shadownets.reverse import Encoding

        logits, h, switches = _run_recording(self.model.net, x, *self._plan)
        return logits, Encoding(h.detach(), switches or None)

    def from_encoding(self, enc: Encoding, x: torch.Tensor, y: torch.Tensor, *,
                      generator: torch.Generator | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """Shadows of ``x`` from its encoding ``enc`` (:meth:`forward_encode`, same batch).

        Same result as ``self(x, y, generator=generator)`` (up to float rounding), without
        encoding ``x`` again.

        Parameters
        ----------
        enc : shadownets.reverse.Encoding
            ``h`` of shape (batch, *code_shape) and the switches, from :meth:`forward_encode`.
        x : Tensor of shape (batch, *input_shape)
            The real inputs encoded (their scale is matched).
        y : Tensor of shape (batch,)
        generator : torch.Generator, optional

        Returns
        -------
        x_s, y_s : as :meth:`__call__`
        """
        if self.shadow_ is None:
            self._build()
        if self._plan is None:
            raise ValueError("from_encoding needs a net whose training forward is the shadow's "
                             "encoder (see reuses_forward); call the augmenter instead")
        if enc.h.shape[0] != x.shape[0] or y.shape != (x.shape[0],):
            raise ValueError(f"enc, x and y must hold the same batch; got h "
                             f"{tuple(enc.h.shape)}, x {tuple(x.shape)}, y {tuple(y.shape)}")
        if not self.calibrated_:
            self._calibrate(x)
        with torch.no_grad():  # the net acts the same in either mode: no mode switch
            return self._generate(enc, x, y, generator)

    def _generate(self, enc: Encoding, x: torch.Tensor, y: torch.Tensor,
                  generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
        n = self.config.n_shadows
        h, switches, x_rep = enc.h, enc.switches, x
        if n > 1:
            h = h.repeat_interleave(n, dim=0)
            x_rep = x.repeat_interleave(n, dim=0)
            if switches is not None:
                switches = {k: v.repeat_interleave(n, dim=0) for k, v in switches.items()}
        x_gen = self.shadow_.generate(h, switches=switches, generator=generator)
        x_gen = match_scale(x_gen.reshape(x_rep.shape), x_rep, self.config.match,
                            self.mean, self.std)
        return x_gen.detach(), y.repeat_interleave(n, dim=0) if n > 1 else y


class _eval_mode:
    """Context manager: module in eval mode inside, previous mode restored after."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        self.was_training = module.training

    def __enter__(self) -> None:
        self.module.eval()

    def __exit__(self, *exc: object) -> None:
        self.module.train(self.was_training)
