"""Where the independent trainings of a comparison run: in this process, in local processes,
or on a Ray cluster.

Every executor maps :func:`run_one` over a list of :class:`~shadownets.train.config.TrainConfig`
and yields ``(index, final)`` as runs finish (in completion order; ``final`` is the run's final
metrics, ``None`` when it diverged). A run's result depends only on its config, its data and
the number of torch threads it runs with, so every executor gives the same numbers as the
serial loop for the same ``threads`` (PyTorch's CPU kernels may differ in the last bits across
thread counts, which is why the thread count is fixed per run, not left to the pool).

* ``"local"`` with ``jobs = 1``: the serial loop, in this process.
* ``"local"`` with ``jobs > 1``: a :class:`concurrent.futures.ProcessPoolExecutor` of ``jobs``
  *spawned* processes (no fork of a process that holds torch threads); the data are sent to
  each worker once, by its initializer.
* ``"ray"``: tasks on a Ray cluster (``address``: an existing cluster, e.g.
  ``"ray://head:10001"`` or ``"auto"``; ``None`` starts a local Ray instance), at most ``jobs``
  in flight, each reserving ``threads`` CPUs; the data are put into Ray's object store once.
  Ray is an optional extra: ``pip install "shadownets[ray]"``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch

from shadownets.train.config import TrainConfig

__all__ = ["EXECUTORS", "default_threads", "run_all", "run_one"]

#: Executor names :func:`run_all` knows.
EXECUTORS: tuple[str, ...] = ("local", "ray")

_DATA: Mapping[str, Any] | None = None  # a local worker's data, set by its initializer


def default_threads(jobs: int) -> int:
    """Torch threads per run when none are given: the usable cores shared by ``jobs`` runs."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, int(cores or 1) // max(jobs, 1))


def run_one(cfg: TrainConfig, data: Mapping[str, Any], threads: int | None
            ) -> dict[str, float] | None:
    """Train one run of a comparison: its final metrics, or ``None`` if it diverged."""
    from shadownets.train.loop import TrainingDiverged, fit

    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return fit(cfg, splits=data[cfg.dataset], progress=False).final
    except TrainingDiverged:
        return None


def _init_worker(data: Mapping[str, Any], threads: int) -> None:
    global _DATA
    _DATA = data
    torch.set_num_threads(threads)


def _worker(cfg: TrainConfig) -> dict[str, float] | None:
    assert _DATA is not None, "worker not initialised"
    return run_one(cfg, _DATA, None)


def _ray_module() -> Any:
    try:
        import ray
    except ImportError as err:
        raise ValueError("executor 'ray' needs Ray: pip install \"shadownets[ray]\" (or "
                         "pip install ray); or use --executor local") from err
    return ray


def run_all(configs: Sequence[TrainConfig], data: Mapping[str, Any], *, jobs: int = 1,
            executor: str = "local", address: str | None = None,
            threads: int | None = None) -> Iterator[tuple[int, dict[str, float] | None]]:
    """Train every config; yield ``(index into configs, final or None)`` as each finishes.

    Parameters
    ----------
    configs : sequence of TrainConfig
    data : mapping of data-set name to DataSplits
        The data of every ``cfg.dataset``.
    jobs : int, default 1
        Runs at once (``"local"``: processes; ``"ray"``: tasks in flight).
    executor : {"local", "ray"}
    address : str, optional
        Ray cluster address (``"ray"`` only; ``None``: a local Ray instance).
    threads : int, optional
        Torch threads per run (default: :func:`default_threads`; the serial loop then keeps
        this process's setting).

    Closing the generator early (an exception in the caller, Ctrl-C) cancels the runs not yet
    started; finished runs were already yielded.
    """
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {list(EXECUTORS)}, got {executor!r}")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be an int >= 1, got {jobs!r}")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                or threads < 1):
        raise ValueError(f"threads must be an int >= 1 or None, got {threads!r}")
    if address is not None and executor != "ray":
        raise ValueError(f"address is for executor 'ray' (a Ray cluster), not {executor!r}")
    if executor == "ray":
        yield from _run_ray(configs, data, jobs, address, threads or default_threads(jobs))
    elif jobs == 1:
        before = torch.get_num_threads()
        try:
            for i, cfg in enumerate(configs):
                yield i, run_one(cfg, data, threads)
        finally:
            torch.set_num_threads(before)
    else:
        yield from _run_pool(configs, data, jobs, threads or default_threads(jobs))


def _run_pool(configs: Sequence[TrainConfig], data: Mapping[str, Any], jobs: int,
              threads: int) -> Iterator[tuple[int, dict[str, float] | None]]:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=min(jobs, max(len(configs), 1)), mp_context=ctx,
                               initializer=_init_worker, initargs=(dict(data), threads))
    try:
        pending = {pool.submit(_worker, cfg): i for i, cfg in enumerate(configs)}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in sorted(done, key=pending.__getitem__):
                i = pending.pop(fut)
                yield i, fut.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _run_ray(configs: Sequence[TrainConfig], data: Mapping[str, Any], jobs: int,
             address: str | None, threads: int
             ) -> Iterator[tuple[int, dict[str, float] | None]]:
    ray = _ray_module()
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                  "configure_logging": False}
        ray.init(address=address, **kwargs)
    data_ref = ray.put(dict(data))
    task = ray.remote(num_cpus=threads)(run_one)
    queue = list(enumerate(configs))
    in_flight: dict[Any, int] = {}
    try:
        while queue or in_flight:
            while queue and len(in_flight) < jobs:
                i, cfg = queue.pop(0)
                in_flight[task.remote(cfg, data_ref, threads)] = i
            done, _ = ray.wait(list(in_flight), num_returns=1)
            i = in_flight.pop(done[0])
            yield i, ray.get(done[0])
    finally:
        for ref in in_flight:
            ray.cancel(ref)
