"""Data-parallel training under torchrun: one process per device, gradients averaged.

`torchrun --nproc_per_node=N` starts N copies of the same command and tells each its
place through the RANK, WORLD_SIZE and LOCAL_RANK environment variables; outside torchrun
they are absent and everything here reduces to a single process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Cluster:
    """This process's place among the training processes."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes checkpoints, models and reports."""
        return self.rank == 0


def current_cluster() -> Cluster:
    """The cluster torchrun describes in the environment, or a single process."""
    return Cluster(
        rank=int(os.environ.get("RANK", 0)),
        world_size=int(os.environ.get("WORLD_SIZE", 1)),
        local_rank=int(os.environ.get("LOCAL_RANK", 0)),
    )


def join(cluster: Cluster, device: torch.device) -> torch.device:
    """Join the process group (NCCL on CUDA, gloo on the CPU); the device this rank uses."""
    if not cluster.distributed:
        return device
    if device.type == "cuda":
        device = torch.device("cuda", cluster.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def from_main(value: float, cluster: Cluster, device: torch.device) -> float:
    """Rank 0's value on every rank, so that all ranks take the same decisions."""
    if not cluster.distributed:
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    dist.broadcast(tensor, src=0)
    return float(tensor.item())


def shard(index: torch.Tensor, cluster: Cluster) -> torch.Tensor:
    """This rank's share of a global batch: every world_size-th sample from its rank on.

    Every rank draws the same global order, so the shards of one batch are disjoint and
    together make up the batch a single process would have used.
    """
    return index[cluster.rank::cluster.world_size]
