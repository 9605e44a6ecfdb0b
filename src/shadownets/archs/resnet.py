"""ResNet in torchvision's layout (``torchvision.models.resnet18``, ``resnet50``, ...: v1.5,
the stride of a bottleneck on its 3×3 conv), so torchvision's state dicts load unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from shadownets.archs.layers import (
    check_activation,
    check_flag,
    check_num_classes,
    make_activation,
)
from shadownets.archs.registry import register_arch

__all__ = ["BasicBlock", "Bottleneck", "ResNet", "conv1x1", "conv3x3", "resnet18",
           "resnet50"]


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """3×3 convolution, padding 1, no bias."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1,
                     bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """1×1 convolution, no bias."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3×3 convs with BatchNorm and a shortcut: ``act(bn2(conv2(act(bn1(conv1(x))))) +
    downsample(x))``.

    The one activation module ``relu`` is called twice, as in torchvision.

    Parameters
    ----------
    inplanes, planes : int
        Input and output channels.
    stride : int, default 1
        Stride of ``conv1`` (and of ``downsample``).
    downsample : nn.Module, optional
        Shortcut projection (``Sequential(conv1x1, BatchNorm2d)``) when shapes change.
    activation : str, default "relu"

    Notes
    -----
    Maps (N, inplanes, H, W) to (N, planes, H / stride, W / stride).
    """

    expansion: int = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None, activation: str = "relu") -> None:
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = make_activation(activation)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class Bottleneck(nn.Module):
    """1×1 reduce, 3×3 (with the stride), 1×1 expand ×4, BatchNorm after each, a shortcut.

    Parameters
    ----------
    inplanes, planes : int
        Input channels and bottleneck width; the output has ``4 * planes`` channels.
    stride : int, default 1
        Stride of ``conv2`` (and of ``downsample``).
    downsample : nn.Module, optional
        Shortcut projection when shapes change.
    activation : str, default "relu"

    Notes
    -----
    Maps (N, inplanes, H, W) to (N, 4 * planes, H / stride, W / stride).
    """

    expansion: int = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None, activation: str = "relu") -> None:
        super().__init__()
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = make_activation(activation)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ResNet(nn.Module):
    """ResNet: stem (``conv1``, ``bn1``, ``relu``, ``maxpool``), ``layer1`` … ``layer4``,
    ``avgpool`` to 1×1 and ``fc``.

    Initialisation is torchvision's: convs Kaiming-normal (fan_out, ReLU gain), BatchNorm
    weight 1 and bias 0, ``fc`` PyTorch's default; with ``zero_init_residual`` the last
    BatchNorm weight of every block is 0 (each block starts as the identity).

    Parameters
    ----------
    block : {BasicBlock, Bottleneck}
    layers : sequence of 4 int
        Blocks per stage: (2, 2, 2, 2) for ResNet-18, (3, 4, 6, 3) for ResNet-50.
    num_classes : int, default 1000
    zero_init_residual : bool, default False
    activation : {"relu", "gelu", "leaky_relu", "silu", "relu6"}, default "relu"
        The module put wherever torchvision has a ReLU (no parameters: same keys).

    Attributes
    ----------
    input_shape : tuple of int
        (3, 224, 224): the ImageNet per-sample shape, used by the command line when
        no ``--input-shape`` is given (other sizes work too, see Notes).

    Notes
    -----
    Input: a tensor of shape (N, 3, H, W), ImageNet (N, 3, 224, 224) (any H, W >= 1 runs;
    the feature map of ``layer4`` is (N, 512 · expansion, H / 32, W / 32));
    the output has shape (N, num_classes).
    """

    input_shape: tuple[int, int, int] = (3, 224, 224)

    def __init__(self, block: type[BasicBlock] | type[Bottleneck], layers: Sequence[int],
                 num_classes: int = 1000, zero_init_residual: bool = False,
                 activation: str = "relu") -> None:
        super().__init__()
        if block not in (BasicBlock, Bottleneck):
            raise ValueError(f"block: expected BasicBlock or Bottleneck, got {block!r}")
        layers = list(layers)
        if len(layers) != 4 or not all(isinstance(n, int) and not isinstance(n, bool)
                                       and n >= 1 for n in layers):
            raise ValueError(f"layers: expected 4 ints >= 1 (blocks per stage), got {layers!r}")
        num_classes = check_num_classes(num_classes)
        zero_init_residual = check_flag("zero_init_residual", zero_init_residual)
        self._activation = check_activation(activation)
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = make_activation(self._activation)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    nn.init.constant_(m.bn3.weight, 0)
                elif isinstance(m, BasicBlock):
                    nn.init.constant_(m.bn2.weight, 0)

    def _make_layer(self, block: type[BasicBlock] | type[Bottleneck], planes: int,
                    blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            # built before the blocks, as in torchvision (same random stream)
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample, self._activation)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes, activation=self._activation))
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape (N, num_classes) for images of shape (N, 3, H, W)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (N, 64, H/4, W/4)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)         # (N, 512 · expansion, H/32, W/32)
        x = self.avgpool(x)        # (N, 512 · expansion, 1, 1)
        x = torch.flatten(x, 1)
        return self.fc(x)


@register_arch("resnet18")
def resnet18(*, num_classes: int = 1000, zero_init_residual: bool = False,
             activation: str = "relu") -> ResNet:
    """ResNet-18 as ``torchvision.models.resnet18()`` (11,689,512 parameters)."""
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes=num_classes,
                  zero_init_residual=zero_init_residual, activation=activation)


@register_arch("resnet50")
def resnet50(*, num_classes: int = 1000, zero_init_residual: bool = False,
             activation: str = "relu") -> ResNet:
    """ResNet-50 as ``torchvision.models.resnet50()`` (25,557,032 parameters)."""
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes=num_classes,
                  zero_init_residual=zero_init_residual, activation=activation)
