"""VGG in torchvision's layout (``torchvision.models.vgg11_bn``, ``vgg16``, ...), so
torchvision's state dicts load unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

from shadownets.archs.layers import (
    check_activation,
    check_dropout,
    check_flag,
    check_num_classes,
    make_activation,
)
from shadownets.archs.registry import register_arch

__all__ = ["VGG", "VGG_CONFIGS", "make_layers", "vgg11_bn", "vgg16"]

#: torchvision's ``cfgs``: output channels of each 3×3 conv, "M" for a 2×2 max pool.
VGG_CONFIGS: dict[str, list[int | str]] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512,
          "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512,
          512, 512, 512, "M"],
}


def make_layers(cfg: list[int | str], batch_norm: bool = False,
                activation: str = "relu") -> nn.Sequential:
    """torchvision's ``make_layers``: conv [+ BatchNorm] + activation per int, pool per "M".

    Parameters
    ----------
    cfg : list of int or "M"
        One entry of :data:`VGG_CONFIGS`.
    batch_norm : bool, default False
        Put a ``BatchNorm2d`` after every conv (the ``*_bn`` variants).
    activation : str, default "relu"
        See :data:`shadownets.archs.layers.ACTIVATIONS`.

    Returns
    -------
    nn.Sequential
        Maps (N, 3, H, W) to (N, 512, H / 32, W / 32) for the standard configs.
    """
    act = check_activation(activation)
    layers: list[nn.Module] = []
    in_channels = 3
    for v in cfg:
        if v == "M":
            layers += [nn.MaxPool2d(kernel_size=2, stride=2)]
        else:
            conv2d = nn.Conv2d(in_channels, int(v), kernel_size=3, padding=1)
            if batch_norm:
                layers += [conv2d, nn.BatchNorm2d(int(v)), make_activation(act)]
            else:
                layers += [conv2d, make_activation(act)]
            in_channels = int(v)
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """VGG: ``features``, ``avgpool`` to 7×7, ``classifier`` (3 Linear layers).

    Initialisation is torchvision's: convs Kaiming-normal (fan_out, ReLU gain) with zero
    bias, BatchNorm weight 1 and bias 0, Linear weights N(0, 0.01²) with zero bias.

    Parameters
    ----------
    features : nn.Module
        From :func:`make_layers`; maps (N, 3, H, W) to (N, 512, h, w).
    num_classes : int, default 1000
    init_weights : bool, default True
        Apply torchvision's initialisation (else PyTorch's default one stays).
    dropout : float, default 0.5
        Drop probability of the two ``nn.Dropout`` modules of the classifier.
    activation : {"relu", "gelu", "leaky_relu", "silu", "relu6"}, default "relu"
        The module used in the classifier (``features`` gets its own from
        :func:`make_layers`).

    Attributes
    ----------
    input_shape : tuple of int
        (3, 224, 224): the ImageNet per-sample shape, used by the command line when
        no ``--input-shape`` is given (other sizes work too, see Notes).

    Notes
    -----
    Input: a tensor of shape (N, 3, H, W) with H, W >= 32 (ImageNet: (N, 3, 224, 224));
    the output has shape (N, num_classes).
    """

    input_shape: tuple[int, int, int] = (3, 224, 224)

    def __init__(self, features: nn.Module, num_classes: int = 1000, init_weights: bool = True,
                 dropout: float = 0.5, activation: str = "relu") -> None:
        super().__init__()
        num_classes = check_num_classes(num_classes)
        dropout = check_dropout(dropout)
        init_weights = check_flag("init_weights", init_weights)
        act = check_activation(activation)
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            make_activation(act),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            make_activation(act),
            nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),
        )
        if init_weights:
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                    if m.bias is not None:
                        nn.init.constant_(m.bias, 0)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.constant_(m.weight, 1)
                    nn.init.constant_(m.bias, 0)
                elif isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, 0, 0.01)
                    nn.init.constant_(m.bias, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape (N, num_classes) for images of shape (N, 3, H, W)."""
        x = self.features(x)      # (N, 512, H/32, W/32)
        x = self.avgpool(x)       # (N, 512, 7, 7)
        x = torch.flatten(x, 1)   # (N, 25088)
        return self.classifier(x)


@register_arch("vgg11_bn")
def vgg11_bn(*, num_classes: int = 1000, dropout: float = 0.5, init_weights: bool = True,
             activation: str = "relu") -> VGG:
    """VGG-11 with BatchNorm as ``torchvision.models.vgg11_bn()`` (132,868,840 parameters)."""
    return VGG(make_layers(VGG_CONFIGS["A"], batch_norm=True, activation=activation),
               num_classes=num_classes, init_weights=init_weights, dropout=dropout,
               activation=activation)


@register_arch("vgg16")
def vgg16(*, num_classes: int = 1000, dropout: float = 0.5, init_weights: bool = True,
          activation: str = "relu") -> VGG:
    """VGG-16 as ``torchvision.models.vgg16()`` (138,357,544 parameters)."""
    return VGG(make_layers(VGG_CONFIGS["D"], batch_norm=False, activation=activation),
               num_classes=num_classes, init_weights=init_weights, dropout=dropout,
               activation=activation)
