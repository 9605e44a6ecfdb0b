"""Model zoo for shadow-data training: a registry of small nets the shadow net can reverse.

Every model is a :class:`ZooNet` holding one :class:`torch.nn.Sequential` called ``net`` built
only from reversible pieces (``Linear``, ``Conv1d``, ``Conv2d``, ``ReLU``, ``MaxPool2d``,
``Flatten``) plus optional ``Dropout`` modules, which are the identity in eval mode. Activation
points are therefore named ``"net.<index>"`` (a module's output), e.g. ``"net.3"``.

The registry follows timm: a dict and a decorator; an unknown name gets an error listing the
known ones.

>>> model = create_model("mlp", input_shape=(1, 8, 8), num_classes=10, widths=(64,))
>>> hidden_layer_names(model)
['net.2']
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

__all__ = [
    "ZooNet",
    "register_model",
    "create_model",
    "list_models",
    "hidden_layer_names",
    "resolve_layer",
]

_MODELS: dict[str, Callable[..., ZooNet]] = {}


class ZooNet(nn.Module):
    """A feed-forward classifier: ``net`` maps (batch, C, H, W) inputs to (batch, classes) logits.

    Parameters
    ----------
    net : nn.Sequential
        The layers, input to logits.
    name : str
        Registry name the model was built from.
    input_shape : tuple of int
        Per-sample input shape (C, H, W).
    num_classes : int
        Number of output logits.
    kwargs : dict
        The registry keyword arguments used, kept so that checkpoints can rebuild the model.
    """

    def __init__(self, net: nn.Sequential, *, name: str, input_shape: tuple[int, ...],
                 num_classes: int, kwargs: dict[str, Any]) -> None:
        super().__init__()
        self.net = net
        self.zoo_name = name
        self.input_shape = tuple(int(s) for s in input_shape)
        self.num_classes = int(num_classes)
        self.zoo_kwargs = dict(kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape (batch, num_classes) for inputs of shape (batch, *input_shape)."""
        return self.net(x)


def register_model(name: str) -> Callable[[Callable[..., ZooNet]], Callable[..., ZooNet]]:
    """Decorator: register builder ``fn(input_shape, num_classes, **kwargs)`` as ``name``."""

    def decorator(fn: Callable[..., ZooNet]) -> Callable[..., ZooNet]:
        if name in _MODELS:
            raise ValueError(f"model name {name!r} is already registered")
        _MODELS[name] = fn
        return fn

    return decorator


def list_models() -> list[str]:
    """Names of the registered models, sorted."""
    return sorted(_MODELS)


def _check_shape(input_shape: Sequence[int], num_classes: int) -> tuple[int, int, int]:
    shape = tuple(input_shape)
    if len(shape) != 3 or not all(isinstance(s, int) and s > 0 for s in shape):
        raise ValueError(f"input_shape must be three positive ints (C, H, W); got {shape!r}")
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2; got {num_classes!r}")
    return shape  # type: ignore[return-value]


def create_model(name: str, input_shape: Sequence[int], num_classes: int,
                 **kwargs: Any) -> ZooNet:
    """Build the registered model ``name``.

    Parameters
    ----------
    name : str
        A name from :func:`list_models`.
    input_shape : sequence of int
        Per-sample input shape (C, H, W).
    num_classes : int
        Number of classes (>= 2).
    **kwargs
        The model's own options (see each builder); unknown ones raise ``ValueError``.

    Returns
    -------
    ZooNet
    """
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(list_models())}")
    shape = _check_shape(input_shape, num_classes)
    try:
        return _MODELS[name](shape, num_classes, **kwargs)
    except TypeError as exc:  # an argument the builder does not take
        raise ValueError(f"model {name!r}: {exc}; its arguments are those of "
                         f"shadownets.train.models.{_MODELS[name].__name__}") from None


def _check_dropout(dropout: float) -> float:
    if not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be a float in [0, 1); got {dropout!r}")
    return float(dropout)


def _check_widths(arg: str, widths: Sequence[int], allow_empty: bool = True) -> tuple[int, ...]:
    widths = tuple(widths)
    if (not allow_empty and not widths) or not all(isinstance(w, int) and w > 0 for w in widths):
        raise ValueError(f"{arg} must be a sequence of positive ints; got {widths!r}")
    return widths


def _dense_stack(in_features: int, widths: Sequence[int], dropout: float) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for width in widths:
        layers += [nn.Linear(in_features, width), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        in_features = width
    return layers


@register_model("mlp")
def mlp(input_shape: tuple[int, int, int], num_classes: int, *,
        widths: Sequence[int] = (256, 256), dropout: float = 0.0) -> ZooNet:
    """Flatten → [Linear → ReLU (→ Dropout)] per width → Linear.

    Parameters
    ----------
    widths : sequence of int, default (256, 256)
        Hidden layer widths, bottom to top.
    dropout : float, default 0.0
        Dropout probability after each hidden ReLU (0: no Dropout module).
    """
    widths = _check_widths("widths", widths)
    dropout = _check_dropout(dropout)
    n_in = math.prod(input_shape)
    top = widths[-1] if widths else n_in
    layers = [nn.Flatten(), *_dense_stack(n_in, widths, dropout), nn.Linear(top, num_classes)]
    kwargs = {"widths": list(widths), "dropout": dropout}
    return ZooNet(nn.Sequential(*layers), name="mlp", input_shape=input_shape,
                  num_classes=num_classes, kwargs=kwargs)


def _conv_stack(in_channels: int, blocks: Sequence[Sequence[int]], kernel: int,
                hw: tuple[int, int]) -> tuple[list[nn.Module], int, tuple[int, int]]:
    """Blocks of ``same``-padded conv → ReLU, each block closed by a 2×2 max pool."""
    layers: list[nn.Module] = []
    h, w = hw
    for block in blocks:
        for channels in block:
            layers += [nn.Conv2d(in_channels, channels, kernel, padding=kernel // 2), nn.ReLU()]
            in_channels = channels
        if h < 2 or w < 2:
            raise ValueError(f"input_shape too small for {len(blocks)} pooling stages; got "
                             f"spatial size {hw}")
        layers.append(nn.MaxPool2d(2))
        h, w = h // 2, w // 2
    return layers, in_channels, (h, w)


@register_model("lenet")
def lenet(input_shape: tuple[int, int, int], num_classes: int, *,
          channels: Sequence[int] = (6, 16), hidden: Sequence[int] = (120, 84),
          dropout: float = 0.0) -> ZooNet:
    """LeNet-style: [Conv5×5 → ReLU → MaxPool2] per channel count → Flatten → MLP head.

    Convolutions are ``same``-padded so that 8×8 digits and 28×28 images both fit.

    Parameters
    ----------
    channels : sequence of int, default (6, 16)
        Output channels of each conv stage.
    hidden : sequence of int, default (120, 84)
        Widths of the dense hidden layers.
    dropout : float, default 0.0
        Dropout probability after each dense hidden ReLU.
    """
    channels = _check_widths("channels", channels, allow_empty=False)
    hidden = _check_widths("hidden", hidden)
    dropout = _check_dropout(dropout)
    c, h, w = input_shape
    convs, c_out, (h, w) = _conv_stack(c, [[ch] for ch in channels], 5, (h, w))
    n_flat = c_out * h * w
    top = hidden[-1] if hidden else n_flat
    layers = [*convs, nn.Flatten(), *_dense_stack(n_flat, hidden, dropout),
              nn.Linear(top, num_classes)]
    kwargs = {"channels": list(channels), "hidden": list(hidden), "dropout": dropout}
    return ZooNet(nn.Sequential(*layers), name="lenet", input_shape=input_shape,
                  num_classes=num_classes, kwargs=kwargs)


@register_model("vgg-small")
def vgg_small(input_shape: tuple[int, int, int], num_classes: int, *,
              channels: Sequence[int] = (32, 64), convs_per_block: int = 2,
              hidden: int = 128, dropout: float = 0.0) -> ZooNet:
    """Small VGG-style: per block ``convs_per_block`` × (Conv3×3 → ReLU) → MaxPool2; a dense head.

    Parameters
    ----------
    channels : sequence of int, default (32, 64)
        Channels of each block.
    convs_per_block : int, default 2
        Convolutions per block.
    hidden : int, default 128
        Width of the dense hidden layer (0: none).
    dropout : float, default 0.0
        Dropout probability after the dense hidden ReLU.
    """
    channels = _check_widths("channels", channels, allow_empty=False)
    if not isinstance(convs_per_block, int) or convs_per_block < 1:
        raise ValueError(f"convs_per_block must be an int >= 1; got {convs_per_block!r}")
    if not isinstance(hidden, int) or hidden < 0:
        raise ValueError(f"hidden must be an int >= 0; got {hidden!r}")
    dropout = _check_dropout(dropout)
    c, h, w = input_shape
    blocks = [[ch] * convs_per_block for ch in channels]
    convs, c_out, (h, w) = _conv_stack(c, blocks, 3, (h, w))
    n_flat = c_out * h * w
    widths = (hidden,) if hidden else ()
    top = hidden if hidden else n_flat
    layers = [*convs, nn.Flatten(), *_dense_stack(n_flat, widths, dropout),
              nn.Linear(top, num_classes)]
    kwargs = {"channels": list(channels), "convs_per_block": convs_per_block, "hidden": hidden,
              "dropout": dropout}
    return ZooNet(nn.Sequential(*layers), name="vgg-small", input_shape=input_shape,
                  num_classes=num_classes, kwargs=kwargs)


def _check_int(arg: str, value: int, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{arg} must be an int >= {low}; got {value!r}")
    return value


@register_model("cnn1d")
def cnn1d(input_shape: tuple[int, int, int], num_classes: int, *,
          channels: Sequence[int] = (25, 25, 25), kernel: int = 5, stride: int = 2,
          padding: int = 1, dropout: float = 0.0) -> ZooNet:
    """1-D CNN for signals: Flatten(1, 2) → [Conv1d → ReLU (→ Dropout)] per channel count →
    Flatten → Linear.

    Inputs are signals stored as (C, 1, L) images (``mnist1d``: (1, 1, 40)); ``Flatten(1, 2)``
    turns a batch (N, C, 1, L) into (N, C, L). The defaults are the CNN of the MNIST-1D paper
    (Greydanus 2020): three convolutions of 25 channels, kernel 5, stride 2, padding 1; on
    length 40 the lengths are 19, 9, 4, so the head is Linear(100, num_classes).

    Parameters
    ----------
    channels : sequence of int, default (25, 25, 25)
        Output channels of each convolution.
    kernel : int, default 5
        Kernel size of every convolution.
    stride : int, default 2
        Stride of every convolution.
    padding : int, default 1
        Zero padding at each end, per convolution.
    dropout : float, default 0.0
        Dropout probability after each ReLU (0: no Dropout module).
    """
    channels = _check_widths("channels", channels, allow_empty=False)
    kernel = _check_int("kernel", kernel, 1)
    stride = _check_int("stride", stride, 1)
    padding = _check_int("padding", padding, 0)
    dropout = _check_dropout(dropout)
    c, h, length = input_shape
    if h != 1:
        raise ValueError(f"cnn1d: input_shape must be (C, 1, L) signals; got {input_shape!r} "
                         f"with height {h} (use lenet or vgg-small for images)")
    layers: list[nn.Module] = [nn.Flatten(1, 2)]
    for width in channels:
        if length + 2 * padding < kernel:
            raise ValueError(f"input_shape too short for {len(channels)} convolutions of kernel "
                             f"{kernel}, stride {stride}, padding {padding}; got length "
                             f"{input_shape[2]}")
        layers += [nn.Conv1d(c, width, kernel, stride=stride, padding=padding), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        c, length = width, (length + 2 * padding - kernel) // stride + 1
    layers += [nn.Flatten(), nn.Linear(c * length, num_classes)]
    kwargs = {"channels": list(channels), "kernel": kernel, "stride": stride,
              "padding": padding, "dropout": dropout}
    return ZooNet(nn.Sequential(*layers), name="cnn1d", input_shape=input_shape,
                  num_classes=num_classes, kwargs=kwargs)


def hidden_layer_names(model: nn.Module) -> list[str]:
    """Activation points the shadow net can start from: each hidden ReLU's output, bottom to top.

    Parameters
    ----------
    model : ZooNet
        A model from this registry (``model.net`` is a Sequential).

    Returns
    -------
    list of str
        Qualified module names such as ``"net.2"``.
    """
    net = getattr(model, "net", None)
    if not isinstance(net, nn.Sequential):
        raise ValueError(f"model must be a zoo model with a Sequential `net`; got "
                         f"{type(model).__name__}")
    return [f"net.{i}" for i, m in enumerate(net) if isinstance(m, nn.ReLU)]


def resolve_layer(model: nn.Module, layer: str | int) -> str:
    """Turn ``layer`` into a qualified activation name.

    Parameters
    ----------
    model : ZooNet
    layer : str or int
        ``"top"`` (the top hidden ReLU), an int index into :func:`hidden_layer_names`
        (negative counts from the top: -1 is ``"top"``), an int-like string such as ``"-2"``,
        or a qualified module name such as ``"net.2"``.

    Returns
    -------
    str
    """
    names = hidden_layer_names(model)
    if not names:
        raise ValueError("layer: the model has no hidden ReLU layer to start a shadow from")
    if isinstance(layer, str) and layer.lstrip("-").isdigit():
        layer = int(layer)
    if layer == "top":
        return names[-1]
    if isinstance(layer, int) and not isinstance(layer, bool):
        if -len(names) <= layer < len(names):
            return names[layer]
        raise ValueError(f"layer index {layer} out of range for {len(names)} hidden layers "
                         f"{names}; allowed: -{len(names)}..{len(names) - 1}")
    if isinstance(layer, str):
        modules = dict(model.named_modules())
        if layer in modules and layer != "":
            return layer
    raise ValueError(f"layer must be 'top', an index into the hidden layers {names}, or a "
                     f"module name of the model; got {layer!r}")
