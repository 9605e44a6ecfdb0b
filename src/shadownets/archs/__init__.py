"""Architectures people use, in torchvision's exact layout: AlexNet, VGG-11-BN, VGG-16,
ResNet-18 and ResNet-50.

Module names, parameter / buffer shapes and the random initialisation are torchvision's, so a
state dict saved from ``torchvision.models.NAME()`` (for instance torchvision's published
ImageNet weights, ``alexnet-owt-7be5be79.pth``) loads into ``create_arch(NAME)`` unchanged.
The key / shape manifest of each torchvision state dict lies in ``manifests/NAME.json``
(written by ``scripts/make_arch_manifests.py`` from an independent transcription); see
:func:`arch_manifest`. Each entry also takes ``activation=`` ("relu", "gelu", "leaky_relu",
"silu", "relu6"), which swaps every ReLU module without changing the keys.

The ``zoo:`` model-spec prefix builds these entries (``zoo:alexnet``).

>>> model = create_arch("resnet18", num_classes=10)
>>> model.fc.out_features
10
"""

from shadownets.archs.alexnet import AlexNet
from shadownets.archs.layers import ACTIVATIONS
from shadownets.archs.registry import ARCHS, arch_manifest, create_arch, list_archs, register_arch
from shadownets.archs.resnet import BasicBlock, Bottleneck, ResNet
from shadownets.archs.vgg import VGG

__all__ = [
    "ACTIVATIONS",
    "ARCHS",
    "AlexNet",
    "BasicBlock",
    "Bottleneck",
    "ResNet",
    "VGG",
    "arch_manifest",
    "create_arch",
    "list_archs",
    "register_arch",
]
