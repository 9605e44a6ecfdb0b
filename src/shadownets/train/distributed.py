"""DistributedDataParallel plumbing for the trainer (torchrun: gloo on CPU, nccl on GPU).

A run started by ``torchrun --nproc_per_node=N`` (environment ``WORLD_SIZE`` > 1) joins a
process group; otherwise everything here is a no-op for one process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["DistInfo", "setup_distributed", "teardown_distributed", "barrier", "weight_spread",
           "resolve_device"]


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: rank, world size, device, and whether it opened the group."""

    rank: int = 0
    world_size: int = 1
    device: str = "cpu"
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        """True on rank 0 (the one that writes files)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def resolve_device(device: str | None, local_rank: int = 0) -> str:
    """``None``/"auto" → ``cuda:<local_rank>`` when CUDA is available, else ``"cpu"``."""
    if device in (None, "auto"):
        return f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    if not isinstance(device, str) or not (device == "cpu" or device.startswith("cuda")):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:i]'; got {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")
    return device


def setup_distributed(device: str | None = None) -> DistInfo:
    """Join the torchrun process group if there is one (gloo on CPU, nccl on CUDA)."""
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local_rank)
    if world <= 1:
        return DistInfo(device=dev)
    if dev.startswith("cuda"):
        dev = f"cuda:{local_rank}"
        torch.cuda.set_device(local_rank)
    owns = False
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.startswith("cuda") else "gloo")
        owns = True
    return DistInfo(rank=dist.get_rank(), world_size=dist.get_world_size(), device=dev,
                    owns_group=owns)


def teardown_distributed(info: DistInfo) -> None:
    """Leave the process group if :func:`setup_distributed` opened it."""
    import torch.distributed as dist

    if info.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    """Wait for all ranks (no-op for one process)."""
    import torch.distributed as dist

    if info.distributed:
        dist.barrier()


def weight_spread(model: nn.Module, info: DistInfo) -> float:
    """Largest absolute difference between this rank's parameters and rank 0's, max over ranks.

    0.0 for one process. Under DDP it should be exactly 0.0: every rank applies the same
    averaged gradients.
    """
    if not info.distributed:
        return 0.0
    import torch.distributed as dist

    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    ref = flat.clone()
    dist.broadcast(ref, src=0)
    diff = (flat - ref).abs().max().reshape(1)
    dist.all_reduce(diff, op=dist.ReduceOp.MAX)
    return float(diff.item())
