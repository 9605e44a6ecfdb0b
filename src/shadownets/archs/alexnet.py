"""AlexNet in torchvision's layout (``torchvision.models.alexnet``, the "one weird trick"
variant with 64-192-384-256-256 channels), so torchvision's state dicts load unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

from shadownets.archs.layers import (
    check_activation,
    check_dropout,
    check_num_classes,
    make_activation,
)
from shadownets.archs.registry import register_arch

__all__ = ["AlexNet", "alexnet"]


class AlexNet(nn.Module):
    """AlexNet: ``features`` (5 convs, 3 max pools), ``avgpool`` to 6×6, ``classifier``.

    Module names, parameter shapes and initialisation (PyTorch's default for every layer)
    are torchvision's: the state dict has the keys ``features.{0,3,6,8,10}.{weight,bias}``
    and ``classifier.{1,4,6}.{weight,bias}``.

    Parameters
    ----------
    num_classes : int, default 1000
        Number of output logits.
    dropout : float, default 0.5
        Drop probability of the two ``nn.Dropout`` modules of the classifier.
    activation : {"relu", "gelu", "leaky_relu", "silu", "relu6"}, default "relu"
        The module put wherever torchvision has a ReLU (no parameters: same keys).

    Attributes
    ----------
    input_shape : tuple of int
        (3, 224, 224): the ImageNet per-sample shape, used by the command line when
        no ``--input-shape`` is given (other sizes work too, see Notes).

    Notes
    -----
    Input: a tensor of shape (N, 3, H, W) with H, W >= 63 (ImageNet: (N, 3, 224, 224)).
    ``features`` gives (N, 256, 6, 6) at 224×224; the output has shape (N, num_classes).
    """

    input_shape: tuple[int, int, int] = (3, 224, 224)

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5,
                 activation: str = "relu") -> None:
        super().__init__()
        num_classes = check_num_classes(num_classes)
        dropout = check_dropout(dropout)
        act = check_activation(activation)
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
            make_activation(act),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            make_activation(act),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            make_activation(act),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            make_activation(act),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            make_activation(act),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(256 * 6 * 6, 4096),
            make_activation(act),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            make_activation(act),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape (N, num_classes) for images of shape (N, 3, H, W)."""
        x = self.features(x)      # (N, 256, h, w); 6×6 at 224×224
        x = self.avgpool(x)       # (N, 256, 6, 6)
        x = torch.flatten(x, 1)   # (N, 9216)
        return self.classifier(x)


@register_arch("alexnet")
def alexnet(*, num_classes: int = 1000, dropout: float = 0.5,
            activation: str = "relu") -> AlexNet:
    """AlexNet as ``torchvision.models.alexnet()`` (61,100,840 parameters)."""
    return AlexNet(num_classes=num_classes, dropout=dropout, activation=activation)
