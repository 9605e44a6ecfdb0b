"""Trained torch net -> its generative shadow net with tied (transposed) weights.

>>> shadow = reverse(model, x[:1], "features.3", rho=0.5)  # doctest: +SKIP
>>> enc = shadow.encode(x)                                  # doctest: +SKIP
>>> x_shadow = shadow.generate(enc.h, switches=enc.switches)  # doctest: +SKIP
"""

from shadownets.reverse.errors import NotReversibleError
from shadownets.reverse.graph import LayerInfo, list_layers
from shadownets.reverse.ops import UNPOOL_MODES
from shadownets.reverse.shadow import Encoding, ShadowNet, reverse

__all__ = [
    "reverse",
    "list_layers",
    "ShadowNet",
    "Encoding",
    "LayerInfo",
    "NotReversibleError",
    "UNPOOL_MODES",
]
