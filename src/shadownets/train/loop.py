"""The trainer: ``fit(config) -> RunResult`` for the methods plain, dropout, input-noise, shadow
and the semi-supervised ones (:mod:`shadownets.train.semi`).

Determinism and resume. All randomness of epoch ``e`` comes from generators seeded with
``(seed, e, stream)``: the batch order (same on every rank), the augmentation noise and the
global RNG used by ``nn.Dropout`` (per rank). A run resumed from the checkpoint written after
epoch ``k`` therefore replays epochs ``k+1..N`` exactly as a straight run would: on CPU the
final weights are bit-identical. The caller's global RNG state is restored on return.

Batches. An epoch is ``steps_per_epoch`` batches of ``min(batch_size, n_labels)`` examples,
read from a fresh random permutation of the labeled set (cycled when one pass is not enough),
so a 50-label budget still gets full batches. Under torchrun each rank takes every
``world_size``-th example of the global batch and DDP averages the gradients.

Loss. Semi-supervised methods: ``CE(labeled) + λ · U(unlabeled batch)`` (after
``warmup_epochs``), see :mod:`shadownets.train.semi`; the unlabeled pool is the train split
less the labeled subset (``n_unlabeled`` of it, seeded), one batch drawn per step from a
per-epoch generator. Supervised: ``CE(real) + λ · CE(augmented)``; ``input-noise`` adds
Gaussian noise to ``n_aug`` copies of each input, ``shadow`` draws ``n_aug`` shadows per input
from the net's shadow net (after ``warmup_epochs`` of plain training; α is re-calibrated at
every epoch start). Shadows are
drawn from the code of the real batch at the shadow layer, which is a value of the training
forward itself: where :attr:`ShadowAugmenter.reuses_forward` holds (the zoo nets without
Dropout, ``shadow_source="current"``) the step runs the net once on the real batch, keeping
that code and the max-pool switches, generates from them and runs the net once more on the
shadows — no separate encoding pass. Otherwise (and for ``input-noise``) the augmenter encodes
the batch itself and one forward pass runs over the concatenated batch. Both give the same
loss; they differ only in float rounding (the order in which the gradient is summed).

Run folders. With ``out_dir``, :func:`fit` first claims the folder with
:func:`shadownets.rundir.claim` (kind ``"train"``, the full config): a folder holding a run is
refused unless ``resume`` (same config and code) or ``overwrite``. Each epoch is then committed
as a whole — checkpoint, weights, state, ``metrics.csv`` and, after the last epoch,
``summary.json`` (see :mod:`shadownets.train.checkpoint`). Under torchrun only rank 0 claims
and writes; its errors are raised on every rank.

Divergence. An epoch whose training loss is not finite stops the run with
:class:`TrainingDiverged` (a ``ValueError``); nothing of that epoch is written and the folder's
``run.json`` says ``"status": "diverged"``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from shadownets import rundir
from shadownets.io import to_jsonable
from shadownets.train.augment import ShadowAugmenter
from shadownets.train.checkpoint import (
    Checkpoint,
    clean_stale,
    has_checkpoint,
    load_checkpoint,
    load_optimizer_tensors,
    save_checkpoint,
)
from shadownets.train.config import SEMI_SUPERVISED, TrainConfig
from shadownets.train.distributed import (
    DistInfo,
    setup_distributed,
    teardown_distributed,
    weight_spread,
)
from shadownets.train.models import ZooNet, create_model, list_models

__all__ = ["RunResult", "TrainingDiverged", "fit", "evaluate", "select_labeled",
           "data_identity"]

T = TypeVar("T")

METRICS_FILE = "metrics.csv"
SUMMARY_FILE = "summary.json"
_EVAL_BATCH = 2048


@dataclass(frozen=True)
class RunResult:
    """Outcome of :func:`fit`.

    Attributes
    ----------
    config : TrainConfig
    history : list of dict
        One row per epoch: epoch, train_loss, train_error, aug_loss, train_seconds (wall time
        of the epoch's training steps, evaluation excluded), val_loss, val_error, test_loss,
        test_error (None where not evaluated).
    final : dict
        The last row, with val/test evaluated.
    model : ZooNet
        The trained model (bare, on CPU, eval mode).
    out_dir : Path or None
    world_size : int
    weight_spread : float
        Max |weights(rank) - weights(rank 0)| after training (0.0 for one process).
    """

    config: TrainConfig
    history: list[dict[str, float]]
    final: dict[str, float]
    model: ZooNet = field(repr=False)
    out_dir: Path | None = None
    world_size: int = 1
    weight_spread: float = 0.0


class TrainingDiverged(ValueError):
    """The training loss became non-finite (NaN or infinite): the run was stopped.

    Attributes
    ----------
    epoch : int
        The (1-based) epoch in which it happened; nothing of it was saved.
    """

    def __init__(self, message: str, epoch: int) -> None:
        super().__init__(message)
        self.epoch = epoch


def data_identity(splits: Any) -> dict[str, Any]:
    """What identifies a data set's splits: name, shapes, sizes and a sha256 of all tensors."""
    digest = hashlib.sha256()
    sizes = {}
    for split in ("train", "val", "test"):
        for kind in ("x", "y"):
            t = getattr(splits, f"{kind}_{split}").detach().cpu().contiguous()
            digest.update(f"{kind}_{split}{t.dtype}{tuple(t.shape)}".encode())
            digest.update(t.reshape(-1).view(torch.uint8).numpy())
        sizes[split] = int(getattr(splits, f"y_{split}").shape[0])
    return {"name": getattr(splits, "name", None), "input_shape": list(splits.input_shape),
            "num_classes": int(splits.num_classes), "sizes": sizes,
            "sha256": digest.hexdigest()[:16]}


def _derive(*keys: int) -> int:
    """A 63-bit seed from integer keys (numpy SeedSequence: well-mixed, stable)."""
    return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(2, np.uint64)[0]
               >> np.uint64(1))


def select_labeled(splits: Any, n_labels: int | None, seed: int) -> torch.Tensor:
    """Indices (int64) of the labeled training subset: stratified ``n_labels`` or everything."""
    n = int(splits.y_train.shape[0])
    if n_labels is None or n_labels >= n:
        return torch.arange(n)
    from shadownets.data import label_budget

    return torch.as_tensor(label_budget(splits.y_train, n_labels, seed=seed), dtype=torch.long)


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Mean cross-entropy and error rate of ``model`` on ``x`` (N, *input_shape), ``y`` (N,)."""
    was_training = model.training
    model.eval()
    loss, wrong = 0.0, 0
    for start in range(0, x.shape[0], _EVAL_BATCH):
        logits = model(x[start:start + _EVAL_BATCH])
        target = y[start:start + _EVAL_BATCH]
        loss += float(F.cross_entropy(logits, target, reduction="sum"))
        wrong += int((logits.argmax(1) != target).sum())
    model.train(was_training)
    n = max(int(x.shape[0]), 1)
    return loss / n, wrong / n


def _make_optimizer(cfg: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                           weight_decay=cfg.weight_decay)


def _batches(n: int, batch: int, steps: int, g: torch.Generator) -> list[torch.Tensor]:
    need = steps * batch
    order = torch.cat([torch.randperm(n, generator=g) for _ in range(math.ceil(need / n))])
    return [order[i * batch:(i + 1) * batch] for i in range(steps)]


def _augment(cfg: TrainConfig, aug: ShadowAugmenter | None, epoch: int, xb: torch.Tensor,
             yb: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor] | None:
    if epoch < cfg.warmup_epochs:
        return None
    if cfg.method == "input-noise":
        x_rep = xb.repeat_interleave(cfg.n_aug, dim=0)
        noise = torch.randn(x_rep.shape, generator=g, device=xb.device)
        return x_rep + cfg.noise_std * noise, yb.repeat_interleave(cfg.n_aug, dim=0)
    if aug is not None:
        return aug(xb, yb, generator=g)
    return None


def _forward(cfg: TrainConfig, ddp_model: nn.Module, aug: ShadowAugmenter | None, epoch: int,
             xb: torch.Tensor, yb: torch.Tensor, g: torch.Generator
             ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Logits of the real batch (batch, classes) and, when the step augments, those of the
    augmented inputs with their labels (else None, None)."""
    if aug is not None and epoch >= cfg.warmup_epochs and aug.reuses_forward:
        # the real pass runs on the bare net (it records the code); under DDP the pass over
        # the shadows is the wrapper's, and its all-reduce covers the gradient of both passes,
        # which autograd sums into each parameter before DDP's hook fires
        logits, enc = aug.forward_encode(xb)
        x_s, y_s = aug.from_encoding(enc, xb, yb, generator=g)
        return logits, ddp_model(x_s), y_s
    extra = _augment(cfg, aug, epoch, xb, yb, g)
    if extra is None:
        return ddp_model(xb), None, None
    logits = ddp_model(torch.cat([xb, extra[0]]))
    return logits[:len(yb)], logits[len(yb):], extra[1]


def _semi_step(cfg: TrainConfig, model: nn.Module, ddp_model: nn.Module,
               aug: ShadowAugmenter | None, xb: torch.Tensor, ub: torch.Tensor,
               g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits of the labeled batch and the unlabeled loss ``U`` of one semi-supervised step
    (:mod:`shadownets.train.semi`); one pass of the (DDP) net over labeled + perturbed."""
    from shadownets.train import semi

    target = None
    if cfg.method != "pseudo-label":  # its target is its own prediction (taken below)
        with torch.no_grad():
            target = F.softmax(model(ub), dim=1)
    u_tilde = semi.perturb(cfg.method, ub, n_aug=cfg.n_aug, noise_std=cfg.noise_std,
                           augmenter=aug, generator=g)
    logits = ddp_model(torch.cat([xb, u_tilde]))
    lp = logits[len(xb):]
    if target is None:
        target = F.softmax(lp.detach(), dim=1)
    loss_u = semi.unlabeled_loss(cfg.method, model, ub, lp, consistency=cfg.consistency,
                                 pseudo_threshold=cfg.pseudo_threshold, target=target)
    return logits[:len(xb)], loss_u


def _train_epoch(cfg: TrainConfig, model: nn.Module, ddp_model: nn.Module,
                 opt: torch.optim.Optimizer, aug: ShadowAugmenter | None, x: torch.Tensor,
                 y: torch.Tensor, epoch: int, info: DistInfo,
                 x_unl: torch.Tensor | None = None) -> tuple[dict[str, float], float | None]:
    """One epoch; returns its mean metrics and the first non-finite loss (None if none).
    ``x_unl``: the unlabeled pool of a semi-supervised method (one batch drawn per step)."""
    n = int(x.shape[0])
    batch = min(cfg.batch_size, n)
    steps = cfg.steps_per_epoch or math.ceil(n / batch)
    g_data = torch.Generator().manual_seed(_derive(cfg.seed, epoch, 0))
    g_aug = torch.Generator(device=x.device).manual_seed(_derive(cfg.seed, epoch, 1, info.rank))
    torch.manual_seed(_derive(cfg.seed, epoch, 2, info.rank))  # nn.Dropout's masks
    g_unl = torch.Generator().manual_seed(_derive(cfg.seed, epoch, 4))
    semi_on = x_unl is not None and epoch >= cfg.warmup_epochs
    if aug is not None and epoch >= cfg.warmup_epochs:
        aug.refresh((x_unl if x_unl is not None else x)[:cfg.calib_size])
    model.train()
    sums = {"train_loss": 0.0, "aug_loss": 0.0, "train_error": 0.0}
    bad: float | None = None
    for idx in _batches(n, batch, steps, g_data):
        idx = idx[info.rank::info.world_size].to(x.device)
        xb, yb = x[idx], y[idx]
        loss_u = None
        if semi_on:
            assert x_unl is not None
            pick = torch.randint(int(x_unl.shape[0]), (batch,), generator=g_unl)
            ub = x_unl[pick[info.rank::info.world_size].to(x.device)]
            logits, loss_u = _semi_step(cfg, model, ddp_model, aug, xb, ub, g_aug)
            logits_aug = None
        elif x_unl is not None:  # semi-supervised, still warming up: labeled loss only
            logits, logits_aug = ddp_model(xb), None
        else:
            logits, logits_aug, y_aug = _forward(cfg, ddp_model, aug, epoch, xb, yb, g_aug)
        loss_real = F.cross_entropy(logits, yb)
        loss = loss_real
        if loss_u is not None:
            loss = loss_real + cfg.aug_weight * loss_u
            sums["aug_loss"] += float(loss_u.detach())
        if logits_aug is not None:
            loss_aug = F.cross_entropy(logits_aug, y_aug)
            loss = loss_real + cfg.aug_weight * loss_aug
            sums["aug_loss"] += float(loss_aug.detach())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        value = float(loss.detach())
        sums["train_loss"] += float(loss_real.detach())
        sums["train_error"] += float((logits.argmax(1) != yb).float().mean())
        if not math.isfinite(value) and bad is None:
            bad = value
            if not info.distributed:  # alone: stop now (under DDP every rank ends the epoch)
                break
    return {k: v / steps for k, v in sums.items()}, bad


def _progress(total: int, start: int, enabled: bool):
    if not enabled or not os.isatty(2):
        return None
    from rich.console import Console
    from rich.progress import Progress

    bar = Progress(console=Console(stderr=True), transient=True)
    bar.start()
    bar.add_task("training", total=total, completed=start)
    return bar


def _load_data(cfg: TrainConfig, splits: Any) -> Any:
    if splits is not None:
        return splits
    from shadownets.data import load_dataset

    return load_dataset(cfg.dataset, data_dir=cfg.data_dir, download=cfg.download,
                        seed=cfg.data_seed, val_size=cfg.val_size)


def _check_names(model: str, datasets: list[str]) -> None:
    """Refuse unknown model / data set names before a run folder is claimed."""
    if model not in list_models():
        raise ValueError(f"unknown model {model!r}; known models: {', '.join(list_models())}")
    from shadownets.data.registry import get_loader

    for name in datasets:
        get_loader(name)


def _build_model(cfg: TrainConfig, splits: Any) -> ZooNet:
    return create_model(cfg.model, tuple(splits.input_shape), int(splits.num_classes),
                        **cfg.effective_model_kwargs())


def _on_main(info: DistInfo, func: Callable[[], T]) -> T | None:
    """Run ``func`` on rank 0 only; its error is raised on every rank (none is left waiting).

    Returns ``func()`` on rank 0 and None on the other ranks.
    """
    if not info.distributed:
        return func()
    import torch.distributed as dist

    value, box = None, [None]
    if info.is_main:
        try:
            value = func()
        except Exception as exc:  # passed on to the other ranks, then raised here too
            box = [exc]
    dist.broadcast_object_list(box, src=0)
    if box[0] is not None:
        raise box[0]
    return value


def _any_rank(flag: bool, info: DistInfo) -> bool:
    """Whether ``flag`` is true on any rank."""
    if not info.distributed:
        return flag
    import torch.distributed as dist

    t = torch.tensor([1.0 if flag else 0.0], device=info.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def _resume_state(cfg: TrainConfig, out_dir: Path, ckpt: Checkpoint, model: nn.Module,
                  opt: torch.optim.Optimizer) -> tuple[int, list[dict[str, float]]]:
    saved = ckpt.state.get("config", {})
    mine = json.loads(json.dumps(to_jsonable(cfg.to_dict())))
    diff = sorted(k for k in set(saved) | set(mine) if saved.get(k) != mine.get(k))
    if diff:
        raise ValueError(f"resume: the checkpoint in {out_dir} was written with a different "
                         f"config (fields {diff}); use the same options or a new --out folder")
    model.load_state_dict(ckpt.model_state)
    load_optimizer_tensors(opt, ckpt.optim_tensors, ckpt.state["param_groups"])
    return int(ckpt.state["epoch"]), list(ckpt.state.get("history", []))


def fit(config: TrainConfig, *, splits: Any = None, out_dir: str | os.PathLike | None = None,
        resume: bool = False, overwrite: bool = False, stop_after: int | None = None,
        device: str | None = None, progress: bool = True) -> RunResult:
    """Train one model as ``config`` says; optionally commit every epoch into ``out_dir``.

    Parameters
    ----------
    config : TrainConfig
    splits : DataSplits, optional
        Pre-loaded data (x_* of shape (N, C, H, W), y_* of shape (N,)); default: loaded with
        :func:`shadownets.data.load_dataset` from ``config``.
    out_dir : path-like, optional
        Run folder, claimed first (:func:`shadownets.rundir.claim`, kind ``"train"``): a
        folder that holds a run is refused unless ``resume`` or ``overwrite``. After every
        epoch rank 0 commits checkpoint.safetensors, model.safetensors, state.json,
        metrics.csv (and, after the last, summary.json) together; ``run.json`` records the
        config, code version, data identity and status.
    resume : bool, default False
        Continue the run in ``out_dir`` (same config, data and code required); a finished
        run returns at once. A new or empty folder (or one without a committed epoch) starts
        from scratch.
    overwrite : bool, default False
        Replace the run in ``out_dir`` (its files are removed once the data and model have
        been checked).
    stop_after : int, optional
        Stop after this many epochs in total (simulates a killed run; used by tests).
    device : str, optional
        "cpu", "cuda[:i]" or "auto" (default: CUDA when available).
    progress : bool, default True
        Show a rich progress bar on a terminal (rank 0 only).

    Returns
    -------
    RunResult

    Raises
    ------
    TrainingDiverged
        The training loss became non-finite (the run is stopped).
    shadownets.rundir.OutDirError
        ``out_dir`` cannot be used as asked.
    """
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a TrainConfig; got {type(config).__name__}")
    if resume and out_dir is None:
        raise ValueError("resume=True needs out_dir (the run folder to continue)")
    if overwrite and out_dir is None:
        raise ValueError("overwrite=True needs out_dir (the run folder to replace)")
    if resume and overwrite:
        raise rundir.OutDirError("give at most one of --resume and --overwrite")
    if stop_after is not None and (not isinstance(stop_after, int) or stop_after < 0):
        raise ValueError(f"stop_after must be an int >= 0; got {stop_after!r}")
    _check_names(config.model, [config.dataset] if splits is None else [])
    out = Path(out_dir) if out_dir is not None else None
    info = setup_distributed(device)
    try:
        claim, ckpt = None, None
        if resume and out is not None and has_checkpoint(out):
            ckpt = load_checkpoint(out)  # a corrupt checkpoint is refused before the claim
        if out is not None:
            if overwrite:  # everything that can fail before the old run is removed
                splits = _load_data(config, splits)
                _build_model(config, splits)
            claim = _on_main(info, lambda: _claim(out, config, resume, overwrite))
        try:
            data = _load_data(config, splits)
            if out is not None:
                _on_main(info, lambda: claim.check_data(data_identity(data)))
            with torch.random.fork_rng(devices=[]):
                result = _fit(config, data, out, ckpt, stop_after, info, progress)
        except TrainingDiverged as exc:
            if claim is not None:
                claim.end("diverged", diverged={"epoch": exc.epoch, "message": str(exc)})
            raise
        except BaseException:
            if claim is not None:  # a replaced run is put back; a fresh empty claim undone
                claim.abandon()
            raise
        if claim is not None and len(result.history) == config.epochs:
            claim.finish(final=result.final, world_size=result.world_size,
                         weight_spread=result.weight_spread)
        return result
    finally:
        teardown_distributed(info)


def _claim(out: Path, cfg: TrainConfig, resume: bool, overwrite: bool) -> rundir.Claim:
    claim = rundir.claim(out, kind="train", config=cfg.to_dict(), resume=resume,
                         overwrite=overwrite)
    clean_stale(out)  # what an interrupted commit left
    return claim


def _fit(cfg: TrainConfig, splits: Any, out: Path | None, ckpt: Checkpoint | None,
         stop_after: int | None, info: DistInfo, progress: bool) -> RunResult:
    dev = info.device
    idx = select_labeled(splits, cfg.n_labels, cfg.seed)
    x, y = splits.x_train[idx].to(dev), splits.y_train[idx].to(dev)
    x_val, y_val = splits.x_val.to(dev), splits.y_val.to(dev)
    x_test, y_test = splits.x_test.to(dev), splits.y_test.to(dev)
    torch.manual_seed(_derive(cfg.seed, 0, 3))  # initial weights: same on every rank
    model = _build_model(cfg, splits).to(dev)
    opt = _make_optimizer(cfg, model)
    start, history = 0, []
    if ckpt is not None and out is not None:
        start, history = _resume_state(cfg, out, ckpt, model, opt)
    ddp_model: nn.Module = model
    if info.distributed:
        ddp_model = nn.parallel.DistributedDataParallel(
            model, device_ids=[int(dev.split(":")[1])] if dev.startswith("cuda") else None)
    aug = None
    x_unl = None
    if cfg.method in SEMI_SUPERVISED:
        from shadownets.train.semi import unlabeled_pool

        pool = unlabeled_pool(int(splits.y_train.shape[0]), idx, cfg.n_unlabeled,
                              _derive(cfg.seed, 0, 5))
        if pool.numel() == 0:
            raise ValueError(f"method {cfg.method!r} learns from the unlabeled rest of the "
                             f"train split, but n_labels={cfg.n_labels} labels all of it; "
                             "give a smaller n_labels")
        x_unl = splits.x_train[pool].to(dev)
    if cfg.method in ("shadow", "shadow-consistency"):
        sc = cfg.shadow_config()
        aug = ShadowAugmenter(model, layer=sc.layer, rho=sc.rho, n_shadows=sc.n_shadows,
                              alpha=sc.alpha, source=sc.source, unpool=sc.unpool,
                              match=sc.match, mean=getattr(splits, "mean", None),
                              std=getattr(splits, "std", None), example_input=x[:2])
    last = cfg.epochs if stop_after is None else min(cfg.epochs, stop_after)
    bar = _progress(cfg.epochs, start, progress and info.is_main)
    spread = None
    try:
        for epoch in range(start, last):
            row: dict[str, float] = {"epoch": epoch + 1}
            tic = time.perf_counter()
            metrics, bad = _train_epoch(cfg, model, ddp_model, opt, aug, x, y, epoch, info,
                                        x_unl)
            if _any_rank(bad is not None, info):
                raise TrainingDiverged(
                    f"training diverged: the loss became {bad if bad is not None else 'nan'} "
                    f"in epoch {epoch + 1} ({cfg.method}, {cfg.optimizer} lr={cfg.lr:g}, "
                    f"weight_decay={cfg.weight_decay:g}); nothing of that epoch was saved — "
                    f"lower the learning rate"
                    + (" or the augmentation weight" if cfg.method in ("input-noise", "shadow",
                                                                       *SEMI_SUPERVISED)
                       else ""), epoch + 1)
            row.update(metrics)
            row["train_seconds"] = time.perf_counter() - tic
            if (epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs:
                row["val_loss"], row["val_error"] = evaluate(model, x_val, y_val)
                row["test_loss"], row["test_error"] = evaluate(model, x_test, y_test)
            else:
                row.update(val_loss=None, val_error=None, test_loss=None, test_error=None)
            history.append(row)
            summary = None
            if epoch + 1 == cfg.epochs:
                spread = weight_spread(model, info)
                summary = {"config": cfg.to_dict(), "final": dict(row),
                           "world_size": info.world_size, "weight_spread": spread}
            if out is not None:
                _on_main(info, lambda e=epoch, s=summary: _write_epoch(
                    out, cfg, model, opt, e + 1, history, s))
            if bar is not None:
                bar.advance(bar.task_ids[0])
    finally:
        if bar is not None:
            bar.stop()
    if spread is None:
        spread = weight_spread(model, info)
    final = dict(history[-1]) if history else {}
    return RunResult(config=cfg, history=history, final=final, model=model.cpu().eval(),
                     out_dir=out, world_size=info.world_size, weight_spread=spread)


def _write_epoch(out: Path, cfg: TrainConfig, model: nn.Module, opt: torch.optim.Optimizer,
                 epoch: int, history: list[dict[str, float]],
                 summary: dict[str, Any] | None) -> None:
    """Commit the epoch: checkpoint, weights, state, metrics.csv (and summary.json) at once."""
    import pandas as pd

    rng = {"torch": torch.get_rng_state()}
    state = {"config": cfg.to_dict(), "epoch": epoch, "history": history,
             "rng_scheme": "per-epoch generators seeded from (seed, epoch, stream)"}
    files = {METRICS_FILE: pd.DataFrame(history).to_csv(index=False).encode()}
    if summary is not None:
        files[SUMMARY_FILE] = (json.dumps(to_jsonable(summary), indent=2, allow_nan=False)
                               + "\n").encode()
    save_checkpoint(out, model, opt, state, rng=rng, files=files)
