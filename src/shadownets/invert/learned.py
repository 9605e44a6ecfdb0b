"""The ``learned`` inversion method: an inverse network trained on auxiliary data.

The black-box attack of He, Zhang & Lee, "Model inversion attacks against collaborative
inference" (ACSAC 2019, §IV-B), after Dosovitskiy & Brox, "Inverting visual representations
with convolutional networks" (CVPR 2016): the attacker queries the frozen net on auxiliary
inputs of the same kind, collects pairs (layer-L activation, input) and fits a decoder
``g`` with ``min_g E ‖g(f_L(x)) − x‖²`` (pixel-space MSE on the net's normalised inputs).

>>> inv = train_inverse(model, "net.1", splits.x_train)   # doctest: +SKIP
>>> x_hat = inv.invert(h)                                  # doctest: +SKIP  (n, *input_shape)

Decoder (:func:`build_decoder`), from the code shape to the input shape:

* spatial code ``(C, *S)`` for a spatial input ``(C_in, *S_in)`` (1-D, 2-D or 3-D, same
  number of spatial dims): per-channel code standardisation; a stem ``Conv(C → w₀, 3)``;
  ``k = max_i ⌈log₂(S_in,i / S_i)⌉`` up-sampling stages ``ConvTranspose(k=3, stride 2 (1 in
  dims already large enough), padding 1, output_padding 1)``, channels halved each stage
  (never below ``width``); each conv followed by BatchNorm and ReLU; a resize (linear
  interpolation) to ``S_in`` exactly when the stages miss it (odd sizes, non-powers of 2);
  a head ``Conv(→ C_in, 3)`` without activation (normalised inputs are unbounded);
  ``w₀ = clamp(C, width, 4·width)``.
* any other code for a spatial input (flat codes of dense layers): standardisation, then
  ``Linear(→ 2·width · ∏S₀)`` + BatchNorm + ReLU to a small map ``S₀ = ⌈S_in / 2^k₀⌉``
  (``k₀ ≤ 3`` halvings that keep every side ≥ 4), then the stack above.
* a flat input (MLPs): standardisation and an MLP ``D → h → h → D_in`` with BatchNorm/ReLU,
  ``h = clamp(2·max(D, D_in), 4·width, 1024)``, plus a linear path ``D → D_in`` beside it
  (an exactly linear inverse, e.g. of a tied ``ReLU([W; −W]x)`` code, is then one layer).

He et al.'s decoders (github zechenghe/Inverse_Collaborative_Inference, ``net.py``:
``CIFAR10CNNDecoderReLU22``/``ReLU32``, ``LeNetDecoderReLU2``) mirror the target net by hand:
one ``ConvTranspose2d(k=3, stride=2, padding=1, output_padding=1)`` + ReLU per pooling of
the net, a last transposed conv to the input channels, no output activation. The rule above
builds that shape automatically; BatchNorm, the stem conv and the code standardisation are
ours (stabler training on codes of any scale). Training defaults (:class:`LearnedConfig`)
are theirs (``inverse_blackbox_decoder_CIFAR.py``): Adam with lr 1e-3, eps 1e-3, AMSGrad,
batch 32, lr halved every 10 epochs (their ``--decrease_LR`` default), MSE on normalised
inputs; 50 epochs is their documented run (``--iter 50``). They validate on the test set and
keep the last epoch; we hold out ``val_fraction`` of the auxiliary data and keep the best
validation epoch.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["FORMAT", "HISTORY_COLUMNS", "LearnedConfig", "LearnedInverse", "build_decoder",
           "train_inverse"]

#: Format tag stored in a saved inverse network's metadata.
FORMAT = "shadownets-learned-inverse/1"
#: Columns of :attr:`LearnedInverse.history`, in order.
HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss")
_META_KEY = "shadownets"
_HASH_KEY = "shadownets_sha256"
_CHUNK = 1024  # samples per forward pass when encoding / inverting


@dataclass(frozen=True)
class LearnedConfig:
    """Training settings of the inverse network (defaults: He et al. 2019, see module doc)."""

    epochs: int = 50  # passes over the training share of the auxiliary data
    batch_size: int = 32  # >= 2 (BatchNorm)
    lr: float = 1e-3  # Adam learning rate
    adam_eps: float = 1e-3  # Adam epsilon (He et al.: 1e-3, not torch's 1e-8)
    amsgrad: bool = True
    lr_halve_every: int = 10  # halve lr after every this many epochs (0: never)
    val_fraction: float = 0.1  # held-out share of aux_x; the best validation epoch is kept
    width: int = 32  # base channel count of the decoder (see build_decoder)
    seed: int = 0  # validation split, decoder init, batch order

    def __post_init__(self) -> None:
        for name, low in (("epochs", 1), ("batch_size", 2), ("lr_halve_every", 0),
                          ("width", 1), ("seed", 0)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an int >= {low}; got {value!r}")
        for name in ("lr", "adam_eps"):
            value = getattr(self, name)
            if not (_real(value) and value > 0):
                raise ValueError(f"{name} must be a positive finite float; got {value!r}")
        if not (_real(self.val_fraction) and 0 < self.val_fraction < 1):
            raise ValueError(f"val_fraction must be a float in (0, 1); got {self.val_fraction!r}")
        if not isinstance(self.amsgrad, bool):
            raise ValueError(f"amsgrad must be a bool; got {self.amsgrad!r}")


def _real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# --------------------------------------------------------------------------- decoder


class _CodeNorm(nn.Module):
    """``(h − mean) / std`` per channel (dim 1); the statistics are set from training codes."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(channels))
        self.register_buffer("std", torch.ones(channels))

    def fit(self, h: Tensor) -> None:
        dims = [0, *range(2, h.ndim)]
        mean, std = h.double().mean(dims), h.double().std(dims, unbiased=False)
        floor = 1e-6 * float(std.max()) if std.numel() else 0.0
        std = torch.where(std > max(floor, 1e-12), std, torch.ones_like(std))  # dead channels
        self.mean.copy_(mean.float())
        self.std.copy_(std.float())

    def forward(self, h: Tensor) -> Tensor:
        shape = (1, -1) + (1,) * (h.ndim - 2)
        return (h - self.mean.view(shape)) / self.std.view(shape)


class _Reshape(nn.Module):
    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = shape

    def forward(self, x: Tensor) -> Tensor:
        return x.reshape(x.shape[0], *self.shape)


class _PlusLinear(nn.Module):
    """``mlp(z) + linear(z)``: a linear path beside the MLP (a linear inverse is one step)."""

    def __init__(self, mlp: nn.Module, linear: nn.Linear) -> None:
        super().__init__()
        self.mlp, self.linear = mlp, linear

    def forward(self, z: Tensor) -> Tensor:
        return self.mlp(z) + self.linear(z)


class _Resize(nn.Module):
    """Linear interpolation to a fixed spatial size (1-D, 2-D or 3-D)."""

    _MODES = {1: "linear", 2: "bilinear", 3: "trilinear"}

    def __init__(self, size: tuple[int, ...]) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: Tensor) -> Tensor:
        return F.interpolate(x, size=self.size, mode=self._MODES[len(self.size)],
                             align_corners=False)


def _conv_stack(c: int, sizes: tuple[int, ...], out_shape: tuple[int, ...],
                width: int) -> list[nn.Module]:
    """Stem, up-sampling stages, resize and head from ``(c, *sizes)`` to ``out_shape``."""
    d = len(sizes)
    conv, deconv = getattr(nn, f"Conv{d}d"), getattr(nn, f"ConvTranspose{d}d")
    norm = getattr(nn, f"BatchNorm{d}d")
    c_out, target = out_shape[0], tuple(out_shape[1:])
    doublings = [max(0, math.ceil(math.log2(t / s))) if t > s else 0
                 for s, t in zip(sizes, target, strict=True)]
    w = min(max(c, width), 4 * width)
    layers: list[nn.Module] = [conv(c, w, 3, padding=1), norm(w), nn.ReLU()]
    for j in range(max(doublings, default=0)):
        stride = tuple(2 if j < r else 1 for r in doublings)
        w_next = max(width, w // 2)
        layers += [deconv(w, w_next, 3, stride=stride, padding=1,
                          output_padding=tuple(s - 1 for s in stride)),
                   norm(w_next), nn.ReLU()]
        w, sizes = w_next, tuple(s * st for s, st in zip(sizes, stride, strict=True))
    if sizes != target:
        layers.append(_Resize(target))
    layers.append(conv(w, c_out, 3, padding=1))
    return layers


def build_decoder(code_shape: tuple[int, ...], input_shape: tuple[int, ...], *,
                  width: int = 32) -> nn.Sequential:
    """The inverse network's architecture for codes of ``code_shape`` (rule: module doc).

    Parameters
    ----------
    code_shape : tuple of int
        Per-sample shape of the activations (``(C, H, W)``, ``(C, L)``, ``(D,)``, ...).
    input_shape : tuple of int
        Per-sample shape of the net's inputs.
    width : int, default 32
        Base channel count.

    Returns
    -------
    nn.Sequential
        Maps tensors of shape (batch, *code_shape) to (batch, *input_shape); its first
        module standardises the codes (statistics set by :func:`train_inverse`).
    """
    code_shape, input_shape = tuple(int(s) for s in code_shape), tuple(int(s) for s in input_shape)
    if not input_shape or not code_shape or any(s < 1 for s in (*input_shape, *code_shape)):
        raise ValueError(f"build_decoder: expected positive sizes; got code {code_shape}, "
                         f"input {input_shape}")
    spatial_in = 2 <= len(input_shape) <= 4
    norm = _CodeNorm(code_shape[0])  # per channel (per feature for flat codes)
    d_code = math.prod(code_shape)
    if spatial_in and len(code_shape) == len(input_shape):
        return nn.Sequential(norm, *_conv_stack(code_shape[0], code_shape[1:], input_shape,
                                                width))
    if spatial_in:
        halvings, sizes = 0, input_shape[1:]
        while halvings < 3 and all(math.ceil(s / 2) >= 4 for s in sizes):
            sizes, halvings = tuple(math.ceil(s / 2) for s in sizes), halvings + 1
        c0, cells = 2 * width, math.prod(sizes)
        return nn.Sequential(norm, nn.Flatten(), nn.Linear(d_code, c0 * cells),
                             nn.BatchNorm1d(c0 * cells), nn.ReLU(), _Reshape((c0, *sizes)),
                             *_conv_stack(c0, sizes, input_shape, width))
    d_in = math.prod(input_shape)
    hidden = min(max(2 * max(d_code, d_in), 4 * width), 1024)
    mlp = nn.Sequential(nn.Linear(d_code, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
                        nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
                        nn.Linear(hidden, d_in))
    return nn.Sequential(norm, nn.Flatten(), _PlusLinear(mlp, nn.Linear(d_code, d_in)),
                         _Reshape(input_shape))


# --------------------------------------------------------------------------- the inverse


class LearnedInverse(nn.Module):
    """A trained inverse network from the activations at ``layer`` to the net's inputs.

    Attributes
    ----------
    decoder : nn.Sequential
        From :func:`build_decoder`, weights of the best validation epoch.
    layer : str
    code_shape, input_shape : tuple of int
    epochs : int
        Epochs trained.
    best_epoch : int
        Epoch whose weights are kept (lowest validation loss).
    train_seconds : float
        Wall time of training (encoding the auxiliary data included).
    history : pandas.DataFrame
        One row per epoch, columns :data:`HISTORY_COLUMNS` (mean MSE in normalised units).
    config : LearnedConfig
    """

    def __init__(self, decoder: nn.Sequential, *, layer: str, code_shape: tuple[int, ...],
                 input_shape: tuple[int, ...], config: LearnedConfig, epochs: int,
                 best_epoch: int, train_seconds: float, history: pd.DataFrame) -> None:
        super().__init__()
        self.decoder = decoder
        self.layer = layer
        self.code_shape = tuple(code_shape)
        self.input_shape = tuple(input_shape)
        self.config = config
        self.epochs = epochs
        self.best_epoch = best_epoch
        self.train_seconds = train_seconds
        self.history = history

    def forward(self, h: Tensor) -> Tensor:
        """The decoder (differentiable, current mode): (batch, *code_shape) → inputs."""
        return self.decoder(h)

    def invert(self, h: Tensor) -> Tensor:
        """Reconstruct inputs from activations, in the net's normalised input space.

        Parameters
        ----------
        h : Tensor of shape (batch, *code_shape)

        Returns
        -------
        Tensor of shape (batch, *input_shape), on ``h``'s device, no grad.
        """
        if not isinstance(h, Tensor) or tuple(h.shape[1:]) != self.code_shape \
                or not h.is_floating_point():
            got = tuple(h.shape) if isinstance(h, Tensor) else type(h).__name__
            raise ValueError(f"h: expected a float tensor of shape (batch, "
                             f"{', '.join(map(str, self.code_shape))}) (activations at "
                             f"{self.layer!r}), got {got}")
        device = next(self.decoder.parameters()).device
        was = self.decoder.training
        self.decoder.eval()
        try:
            with torch.no_grad():
                out = [self.decoder(c.to(device, torch.float32)) for c in h.split(_CHUNK)]
        finally:
            self.decoder.train(was)
        if not out:
            return h.new_zeros((0, *self.input_shape))
        return torch.cat(out).to(h.device)

    # ------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike) -> Path:
        """Write weights and settings to one safetensors file, atomically."""
        from safetensors.torch import save_file

        from shadownets.io import atomic_write_with, to_jsonable
        from shadownets.train.checkpoint import content_hash

        tensors = {k: v.detach().cpu().contiguous().clone()
                   for k, v in self.decoder.state_dict().items()}
        meta = {"format": FORMAT, "layer": self.layer, "code_shape": list(self.code_shape),
                "input_shape": list(self.input_shape), "config": dataclasses.asdict(self.config),
                "epochs": self.epochs, "best_epoch": self.best_epoch,
                "train_seconds": self.train_seconds,
                "history": self.history.to_dict(orient="list")}
        text = json.dumps(to_jsonable(meta), allow_nan=False)
        metadata = {_META_KEY: text, _HASH_KEY: content_hash(tensors, text)}
        return atomic_write_with(path, lambda p: save_file(tensors, str(p), metadata=metadata))

    @classmethod
    def load(cls, path: str | os.PathLike, *, device: str | torch.device = "cpu"
             ) -> LearnedInverse:
        """Read a file written by :meth:`save` (its content hash is checked)."""
        from safetensors import safe_open

        from shadownets.train.checkpoint import content_hash

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file (expected a learned inverse saved "
                                    "with LearnedInverse.save)")
        try:
            with safe_open(str(path), framework="pt") as fh:
                raw = fh.metadata() or {}
                tensors = {k: fh.get_tensor(k) for k in fh.keys()}
            text = raw[_META_KEY]
            meta = json.loads(text)
        except Exception as exc:  # noqa: BLE001 - any unreadable file gets one message
            raise ValueError(f"{path}: not a learned inverse file ({type(exc).__name__})") \
                from None
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path}: format {meta.get('format')!r}, expected {FORMAT!r}")
        if raw.get(_HASH_KEY) != content_hash(tensors, text):
            raise ValueError(f"{path}: content hash mismatch (file damaged or edited)")
        config = LearnedConfig(**meta["config"])
        decoder = build_decoder(tuple(meta["code_shape"]), tuple(meta["input_shape"]),
                                width=config.width)
        decoder.load_state_dict(tensors)
        return cls(decoder.to(device).eval(), layer=meta["layer"],
                   code_shape=tuple(meta["code_shape"]), input_shape=tuple(meta["input_shape"]),
                   config=config, epochs=int(meta["epochs"]), best_epoch=int(meta["best_epoch"]),
                   train_seconds=float(meta["train_seconds"]),
                   history=pd.DataFrame(meta["history"], columns=list(HISTORY_COLUMNS)))


# --------------------------------------------------------------------------- training


def _resolve_config(config: Any, epochs: int | None) -> LearnedConfig:
    """A LearnedConfig from ``config``: itself, the defaults (None), or read off another
    config (an InvertConfig): its ``inverse_<field>`` attributes and its ``seed``."""
    if config is None:
        cfg = LearnedConfig()
    elif isinstance(config, LearnedConfig):
        cfg = config
    else:
        names = [f.name for f in dataclasses.fields(LearnedConfig)]
        found = {n: getattr(config, f"inverse_{n}") for n in names
                 if hasattr(config, f"inverse_{n}")}
        if not found:
            raise ValueError(f"config: expected a LearnedConfig or a config with inverse_* "
                             f"settings (InvertConfig), got {type(config).__name__}")
        if hasattr(config, "seed"):
            found.setdefault("seed", config.seed)
        cfg = LearnedConfig(**found)
    if epochs is not None:
        if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
            raise ValueError(f"epochs must be an int >= 1; got {epochs!r}")
        cfg = dataclasses.replace(cfg, epochs=epochs)
    return cfg


def _encoder(model: nn.Module, aux_x: Tensor, layer: str):
    """Check the inputs; return ``encode(x) -> h`` at ``layer`` (model frozen, eval mode)."""
    from shadownets.reverse.graph import TracedNet
    from shadownets.reverse.tracing import TrainingState

    if not isinstance(aux_x, Tensor) or aux_x.ndim < 2 or not aux_x.is_floating_point():
        got = (f"{tuple(aux_x.shape)} {aux_x.dtype}" if isinstance(aux_x, Tensor)
               else type(aux_x).__name__)
        raise ValueError(f"aux_x: expected a float tensor of shape (n, *input_shape), got {got}")
    want = getattr(model, "input_shape", None)
    if want is not None and tuple(aux_x.shape[1:]) != tuple(want):
        raise ValueError(f"aux_x: the model takes inputs of shape (n, "
                         f"{', '.join(map(str, want))}), got {tuple(aux_x.shape)}")
    if not bool(torch.isfinite(aux_x).all()):
        raise ValueError(f"aux_x: {int((~torch.isfinite(aux_x)).sum())} non-finite values "
                         "(NaN or inf); give finite inputs")
    try:
        net = TracedNet(model, aux_x[:1])
    except RuntimeError as exc:
        text = " ".join(str(exc).split())[:200]
        raise ValueError(f"aux_x: the model cannot run on inputs of shape "
                         f"{tuple(aux_x.shape[1:])}: {text}") from None
    node = net.node(layer, "layer")

    def encode(x: Tensor) -> Tensor:
        with torch.no_grad(), TrainingState(model):
            return torch.cat([net.run(net.input, c, node)[node] for c in x.split(_CHUNK)])

    return encode


def _device(model: nn.Module, aux_x: Tensor) -> torch.device:
    p = next(iter(model.parameters()), None)
    return p.device if p is not None else aux_x.device


def _bar(total: int, enabled: bool):
    if not enabled or not os.isatty(2):
        return None
    from rich.console import Console
    from rich.progress import Progress

    bar = Progress(console=Console(stderr=True), transient=True)
    bar.start()
    bar.add_task("inverse net", total=total)
    return bar


def _mse(decoder: nn.Module, h: Tensor, x: Tensor) -> float:
    decoder.eval()
    with torch.no_grad():
        total = sum(F.mse_loss(decoder(hc), xc, reduction="sum").item()
                    for hc, xc in zip(h.split(_CHUNK), x.split(_CHUNK), strict=True))
    return total / x.numel()


def train_inverse(model: nn.Module, layer: str, aux_x: Tensor, *,
                  config: LearnedConfig | Any | None = None, epochs: int | None = None,
                  generator: torch.Generator | None = None,
                  progress: bool = False) -> LearnedInverse:
    """Train an inverse network from the activations of ``model`` at ``layer`` to inputs.

    Parameters
    ----------
    model : nn.Module
        The attacked net; frozen (run in eval mode under ``no_grad``; its weights and modes
        are left as they were).
    layer : str
        Activation point (a name from :func:`shadownets.reverse.list_layers`).
    aux_x : Tensor of shape (n, *input_shape)
        Auxiliary inputs of the same kind, normalised like the net's inputs. A share
        ``config.val_fraction`` is held out for validation (at least 2 samples each side).
    config : LearnedConfig or InvertConfig, optional
        Training settings (default ``LearnedConfig()``). Another config (an InvertConfig)
        gives the fields it has as ``inverse_<field>`` (``inverse_epochs``, ``inverse_lr``,
        ``inverse_batch_size``, ...) and its ``seed``; the rest keep LearnedConfig's defaults.
    epochs : int, optional
        Overrides ``config.epochs``.
    generator : torch.Generator, optional
        Source of all randomness (split, init, batch order); default: seeded with
        ``config.seed``. The global RNG is left untouched.
    progress : bool, default False
        Show a progress bar on a terminal.

    Returns
    -------
    LearnedInverse
        With the weights of the epoch of lowest validation MSE.

    Raises
    ------
    ValueError
        Bad ``aux_x`` (shape, dtype, non-finite, too few samples), ``layer`` not in the net
        (the message lists the known layers), ``epochs < 1`` or a bad ``config``.
    """
    cfg = _resolve_config(config, epochs)
    encode = _encoder(model, aux_x, layer)
    n = aux_x.shape[0]
    n_val = int(round(n * cfg.val_fraction))
    if n_val < 2 or n - n_val < 2:
        raise ValueError(f"aux_x: {n} samples split into {n - n_val} train / {n_val} "
                         f"validation (val_fraction={cfg.val_fraction}); need >= 2 in each")
    gen = generator if generator is not None else torch.Generator().manual_seed(cfg.seed)
    start = time.perf_counter()
    device = _device(model, aux_x)
    order = torch.randperm(n, generator=gen)
    x = aux_x.detach().to(device)
    h = encode(x).float()
    x = x.float()
    if not bool(torch.isfinite(h).all()):
        raise ValueError(f"layer: the activations at {layer!r} are not finite on aux_x")
    val, train = order[:n_val].to(device), order[n_val:].to(device)
    h_tr, x_tr, h_va, x_va = h[train], x[train], h[val], x[val]

    init_seed = int(torch.randint(2**62, (1,), generator=gen))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(init_seed)
        decoder = build_decoder(tuple(h.shape[1:]), tuple(x.shape[1:]), width=cfg.width)
    decoder[0].fit(h_tr)  # the code standardisation: statistics of the training codes
    decoder = decoder.to(device)
    opt = torch.optim.Adam(decoder.parameters(), lr=cfg.lr, eps=cfg.adam_eps,
                           amsgrad=cfg.amsgrad)

    rows, best, best_state, best_epoch = [], math.inf, None, 0
    bar = _bar(cfg.epochs, progress)
    try:
        for epoch in range(1, cfg.epochs + 1):
            decoder.train()
            perm = torch.randperm(len(train), generator=gen).to(device)
            total, count = 0.0, 0
            for idx in perm.split(cfg.batch_size):
                if len(idx) < 2:  # BatchNorm needs two samples; a lone remainder is skipped
                    continue
                loss = F.mse_loss(decoder(h_tr[idx]), x_tr[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total, count = total + loss.item() * len(idx), count + len(idx)
            val_loss = _mse(decoder, h_va, x_va)
            rows.append((epoch, total / count, val_loss))
            if val_loss < best:
                best, best_epoch = val_loss, epoch
                best_state = copy.deepcopy(decoder.state_dict())
            if cfg.lr_halve_every and epoch % cfg.lr_halve_every == 0:
                for group in opt.param_groups:
                    group["lr"] /= 2.0
            if bar is not None:
                bar.update(bar.task_ids[0], advance=1,
                           description=f"inverse net  val MSE {val_loss:.4f}")
    finally:
        if bar is not None:
            bar.stop()
    if best_state is None:  # every validation loss was NaN: training diverged
        raise ValueError(f"training diverged (validation loss not finite); lower lr "
                         f"(now {cfg.lr})")
    decoder.load_state_dict(best_state)
    decoder.eval()
    history = pd.DataFrame(rows, columns=list(HISTORY_COLUMNS))
    return LearnedInverse(decoder, layer=layer, code_shape=tuple(h.shape[1:]),
                          input_shape=tuple(x.shape[1:]), config=cfg, epochs=cfg.epochs,
                          best_epoch=best_epoch, train_seconds=time.perf_counter() - start,
                          history=history)
