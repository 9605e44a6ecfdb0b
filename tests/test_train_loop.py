"""Tests for shadownets.train.loop / config: learning, resume, DDP, errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from shadownets.train.config import TrainConfig
from shadownets.train.loop import fit

SMALL = {"model_kwargs": {"widths": [32]}, "steps_per_epoch": 5, "batch_size": 32}


@pytest.fixture(scope="module")
def digits():
    from shadownets.data import load_dataset

    return load_dataset("digits")


def _no_time(history):
    """History rows without the wall-clock column (the only non-deterministic one)."""
    return [{k: v for k, v in row.items() if k != "train_seconds"} for row in history]


@pytest.mark.parametrize("method", ["plain", "shadow"])
def test_learns_digits(digits, method):
    cfg = TrainConfig(n_labels=300, method=method, epochs=8, steps_per_epoch=10,
                      shadow_rho=0.5, aug_weight=0.5)
    result = fit(cfg, splits=digits, progress=False)
    assert result.final["test_error"] < 0.25  # chance: 0.9
    assert len(result.history) == 8
    if method == "shadow":
        assert result.history[-1]["aug_loss"] > 0


def test_learns_fashion_mnist_subset():
    from shadownets.data import load_dataset
    from shadownets.data.sources import debian_fashion_mnist_dir

    if debian_fashion_mnist_dir() is None:
        pytest.skip("Fashion-MNIST IDX files of the Debian package dataset-fashion-mnist are "
                    "not installed (apt-get install dataset-fashion-mnist)")
    splits = load_dataset("fashion-mnist", download=False, limit_train=2000)
    cfg = TrainConfig(dataset="fashion-mnist", n_labels=500, method="shadow", epochs=4,
                      steps_per_epoch=10, model_kwargs={"widths": [64]}, aug_weight=0.5)
    result = fit(cfg, splits=splits, progress=False)
    assert result.final["test_error"] < 0.45  # chance: 0.9


@pytest.mark.parametrize("method", ["dropout", "input-noise", "shadow"])
def test_kill_and_resume_is_bit_identical(digits, tmp_path, method):
    cfg = TrainConfig(n_labels=100, method=method, epochs=4, warmup_epochs=1, **SMALL)
    straight = fit(cfg, splits=digits, out_dir=tmp_path / "a", progress=False)
    killed = fit(cfg, splits=digits, out_dir=tmp_path / "b", stop_after=2, progress=False)
    assert len(killed.history) == 2 and not (tmp_path / "b" / "summary.json").exists()
    resumed = fit(cfg, splits=digits, out_dir=tmp_path / "b", resume=True, progress=False)
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert _no_time(straight.history) == _no_time(resumed.history)
    metrics = pd.read_csv(tmp_path / "b" / "metrics.csv")
    assert list(metrics.epoch) == [1, 2, 3, 4]


@pytest.mark.parametrize("model, kwargs", [("mlp", {"widths": [32]}),
                                           ("lenet", {"channels": [4, 8], "hidden": [16]})])
def test_shadow_step_sharing_the_forward_trains_as_a_separate_encoding(digits, monkeypatch,
                                                                       model, kwargs):
    from shadownets.train.augment import ShadowAugmenter

    cfg = TrainConfig(n_labels=100, method="shadow", model=model, model_kwargs=kwargs,
                      epochs=3, warmup_epochs=1, n_aug=2, steps_per_epoch=5, batch_size=32)
    calls = []
    shared = ShadowAugmenter.forward_encode
    monkeypatch.setattr(ShadowAugmenter, "forward_encode",
                        lambda self, x: calls.append(1) or shared(self, x))
    fast = fit(cfg, splits=digits, progress=False)
    assert len(calls) == 10  # the two augmented epochs took the shared forward
    # the oracle: the augmenter encodes each batch itself, one pass over the joined batch
    monkeypatch.setattr(ShadowAugmenter, "reuses_forward", property(lambda self: False))
    separate = fit(cfg, splits=digits, progress=False)
    assert len(calls) == 10
    a, b = fast.model.state_dict(), separate.model.state_dict()
    for k in a:  # the same steps; only the order in which gradients are summed differs
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)
    for row_a, row_b in zip(_no_time(fast.history), _no_time(separate.history), strict=True):
        assert row_a == pytest.approx(row_b, rel=1e-5, abs=1e-7)


def test_resume_of_finished_run_returns_it(digits, tmp_path):
    cfg = TrainConfig(n_labels=50, epochs=2, **SMALL)
    first = fit(cfg, splits=digits, out_dir=tmp_path, progress=False)
    again = fit(cfg, splits=digits, out_dir=tmp_path, resume=True, progress=False)
    assert _no_time(again.history) == _no_time(first.history)


def test_resume_with_other_config_refused(digits, tmp_path):
    cfg = TrainConfig(n_labels=50, epochs=2, **SMALL)
    fit(cfg, splits=digits, out_dir=tmp_path, stop_after=1, progress=False)
    with pytest.raises(ValueError, match=r"was made with other settings \(lr: 0.001 → 0.5\)"):
        fit(cfg.replace(lr=0.5), splits=digits, out_dir=tmp_path, resume=True, progress=False)


def test_seeded_runs_repeat_and_caller_rng_untouched(digits):
    cfg = TrainConfig(n_labels=50, epochs=1, method="dropout", **SMALL)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a = fit(cfg, splits=digits, progress=False)
    assert torch.equal(torch.get_rng_state(), state)
    b = fit(cfg, splits=digits, progress=False)
    assert _no_time(a.history) == _no_time(b.history)
    c = fit(cfg.replace(seed=1), splits=digits, progress=False)
    assert _no_time(c.history) != _no_time(a.history)


def test_sgd_and_eval_every(digits):
    cfg = TrainConfig(n_labels=50, epochs=3, optimizer="sgd", lr=0.05, eval_every=2, **SMALL)
    result = fit(cfg, splits=digits, progress=False)
    assert result.history[0]["val_error"] is None
    assert result.history[1]["val_error"] is not None
    assert result.history[2]["test_error"] is not None  # the last epoch is always evaluated


@pytest.mark.parametrize("changes, match", [
    ({"method": "mixup"}, r"method must be one of plain, dropout, input-noise, shadow, "
                          r"shadow-consistency, pi-noise, pi-dropout, pseudo-label; got"),
    ({"optimizer": "lbfgs"}, r"optimizer must be one of adam, sgd; got 'lbfgs'"),
    ({"epochs": 0}, r"epochs must be an int >= 1; got 0"),
    ({"n_labels": -5}, r"n_labels must be an int >= 1; got -5"),
    ({"lr": 0.0}, r"lr must be a positive float; got 0.0"),
    ({"aug_weight": -1.0}, r"aug_weight must be a non-negative float; got -1.0"),
    ({"dropout": 1.5}, r"dropout must be a float in \[0, 1\); got 1.5"),
    ({"model_kwargs": [1]}, r"model_kwargs must be a dict; got \[1\]"),
    ({"method": "shadow", "shadow_rho": 2.0}, r"rho must be a float in \(0, 1\]; got 2.0"),
    ({"method": "shadow", "shadow_source": "x"}, r"source must be one of current, frozen"),
])
def test_bad_config(changes, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**changes)


def test_from_dict_round_trip_and_unknown_keys():
    cfg = TrainConfig(method="shadow", shadow_alpha=0.3, model_kwargs={"widths": [8]})
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(ValueError, match=r"unknown TrainConfig fields \['epoch'\]"):
        TrainConfig.from_dict({"epoch": 3})


def test_fit_argument_errors(digits):
    with pytest.raises(ValueError, match="config must be a TrainConfig; got dict"):
        fit({"epochs": 1}, splits=digits)
    with pytest.raises(ValueError, match=r"resume=True needs out_dir"):
        fit(TrainConfig(), splits=digits, resume=True)
    with pytest.raises(ValueError, match=r"unknown model 'resnet'"):
        fit(TrainConfig(model="resnet", epochs=1), splits=digits, progress=False)
    with pytest.raises(ValueError, match=r"device must be 'auto', 'cpu' or 'cuda\[:i\]'"):
        fit(TrainConfig(epochs=1), splits=digits, device="tpu")


def _torchrun_train(out: Path, logs: Path) -> tuple[int, str]:
    """Two gloo workers under torchrun: (return code, every rank's stderr tail + the launcher's)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if Path("/sys/class/net/lo").exists():
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")  # loopback, not what the hostname resolves to
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "--log-dir", str(logs), "--redirects", "3",
           "-m", "shadownets.train", "--out", str(out),
           "--labels", "100", "--epochs", "2", "--steps-per-epoch", "3",
           "--model-kwargs", '{"widths": [16]}', "--method", "shadow", "--device", "cpu",
           "--json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=Path(__file__).resolve().parents[1],
                            start_new_session=True)
    try:
        _, stderr = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the launcher and both workers
        proc.communicate()
        pytest.fail("torchrun with 2 CPU processes did not finish within 120 s")
    ranks = [f"--- {f.relative_to(logs)}:\n{f.read_text(errors='replace')[-1500:]}"
             for f in sorted(logs.rglob("stderr.log"))]
    return proc.returncode, "\n".join([*ranks, "--- launcher:", stderr[-1500:]])


def test_ddp_two_cpu_processes_agree(tmp_path):
    # A worker killed by a signal (SIGABRT from gloo's C++ transport, e.g. pytorch/gloo#514) is
    # not our code failing (a Python error exits with 1): such a crash is retried once, in a
    # fresh folder, and shown with the second one if it happens again. Any other failure fails.
    first = ""
    for attempt in range(2):
        out, logs = tmp_path / f"run{attempt}", tmp_path / f"logs{attempt}"
        rc, text = _torchrun_train(out, logs)
        crashed = any(f"({sig})" in text for sig in ("SIGABRT", "SIGSEGV", "SIGBUS"))
        if rc == 0 or not crashed:
            break
        first = text
    assert rc == 0, (f"first attempt:\n{first}\n\nsecond attempt:\n{text}" if first else text)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2
    assert summary["weight_spread"] == 0.0
    assert summary["final"]["test_error"] < 0.9
