"""Shared test settings: single-threaded torch (tests use tiny tensors) and a seeded generator."""

import pytest
import torch

torch.set_num_threads(1)  # tiny tensors: more intra-op threads on shared cores only add contention


@pytest.fixture
def gen():
    """A seeded CPU generator."""
    return torch.Generator().manual_seed(1234)
