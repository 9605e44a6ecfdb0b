"""The CUDA path: reverse, audit and one shadow-training step on a GPU (skipped without one).

Generators are created on the device of the tensors they draw (shadow nets, the audit's
dropout masks and codes); null-net weights, Lanczos probes and RIP codes are drawn on a CPU
generator and moved to the model's device.
"""

import pytest
import torch
from torch import nn

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _mlp() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 96), nn.ReLU(), nn.Linear(96, 48), nn.ReLU(),
                         nn.Linear(48, 10))


@cuda
def test_reverse_generates_on_the_gpu():
    from shadownets import reverse

    net = _mlp().cuda().eval()
    x = torch.randn(16, 64, device="cuda")
    shadow = reverse(net, x[:1], layer="3", rho=0.5).calibrate(x)
    enc = shadow.encode(x)
    out = shadow.generate(enc.h, generator=torch.Generator("cuda").manual_seed(0))
    assert out.device.type == "cuda" and out.shape == x.shape and torch.isfinite(out).all()


@cuda
def test_audit_runs_on_the_gpu_like_on_the_cpu():
    from shadownets.audit import AuditConfig, audit

    x = torch.randn(48, 64, generator=torch.Generator().manual_seed(1))
    cfg = AuditConfig(n_inputs=48, n_null=2, bootstrap=20, n_examples=0)
    gpu = audit(_mlp().cuda(), x.cuda(), config=cfg)
    cpu = audit(_mlp(), x, config=cfg)
    assert list(gpu["layer"]) == list(cpu["layer"])
    assert gpu["rel_err_one"].notna().all()


@cuda
def test_one_shadow_training_step_on_the_gpu():
    from shadownets.data import load_dataset
    from shadownets.train import TrainConfig, fit

    data = load_dataset("digits", limit_train=128)
    cfg = TrainConfig(model="mlp", method="shadow", epochs=1, steps_per_epoch=2)
    result = fit(cfg, splits=data, device="cuda", progress=False)
    assert result.final["train_loss"] == result.final["train_loss"]  # finite, not NaN
