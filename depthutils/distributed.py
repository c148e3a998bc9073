"""Data-parallel training under ``torchrun``: PyTorch's DistributedDataParallel, nothing home-made.

``torchrun --nproc_per_node=N -m depthutils train ...`` starts N processes with ``RANK``, ``LOCAL_RANK`` and
``WORLD_SIZE`` set; ``fit`` then:

- joins the process group (NCCL on GPUs, gloo on CPU) and puts each rank on its own GPU (``cuda:LOCAL_RANK``);
- keeps on each rank only its shard of the training images (every ``world_size``-th image, all shards the same
  size), device-resident as in a single process;
- splits ``--batch-size`` across ranks (it stays the global batch, so results compare with single-process runs)
  and averages gradients with DDP; BatchNorm statistics are per rank unless ``--sync-bn``;
- draws each rank's shuffling and augmentation from (seed, epoch, rank): reproducible, and exact on resume;
- lets rank 0 alone evaluate and write the run folder, while the other ranks wait at a barrier.

Without ``torchrun`` (``WORLD_SIZE`` unset or 1) nothing here does anything.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

__all__ = ["DistInfo", "setup", "shard", "mean_across_ranks", "barrier", "teardown"]


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def record(self) -> dict:
        """What results and configs record."""
        return {"world_size": self.world_size, "backend": self.backend}


def _exit_with_launcher(poll_s: float = 1.0) -> None:
    """End this rank when its launcher dies. torchrun's agent starts each rank in a session of its own, so a
    ``kill -9`` of torchrun (by a user, an OOM killer or a job scheduler) does not reach the ranks: they would
    train on and keep the run folder locked. A daemon thread watches the parent; once the rank has been handed to
    another parent, it exits at once. The last completed epoch is safe in last.pt (written atomically); the lock of
    a dead process is taken over by the next ``--resume``."""
    import threading
    import time

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(1)  # noqa: SLF001 (no cleanup to run: every file this rank writes is atomic)

    threading.Thread(target=watch, name="depthutils-launcher-watchdog", daemon=True).start()


def setup(device_type: str) -> DistInfo:
    """Join the torchrun process group when there is one (NCCL for CUDA, gloo for CPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    _exit_with_launcher()
    backend = "nccl" if device_type == "cuda" else "gloo"
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device_type == "cuda":
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return DistInfo(rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=local_rank, backend=backend)


def shard(indices: np.ndarray, info: DistInfo) -> np.ndarray:
    """This rank's share of ``indices``: every ``world_size``-th one, cut so that every rank holds as many (so
    every rank takes the same number of steps, as DDP requires)."""
    if not info.active:
        return indices
    per_rank = len(indices) // info.world_size
    return indices[info.rank :: info.world_size][:per_rank]


def mean_across_ranks(value: float, device: torch.device, info: DistInfo) -> float:
    """The mean of a per-rank number over all ranks (one collective)."""
    if not info.active:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t) / info.world_size


def barrier(info: DistInfo) -> None:
    if info.active:
        dist.barrier()


def teardown(info: DistInfo) -> None:
    if info.active and dist.is_initialized():
        dist.destroy_process_group()
