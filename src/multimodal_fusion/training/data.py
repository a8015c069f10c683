"""Where training's data lives while it trains: on the device, or streamed from disk.

Kept on the device (a GPU's memory, or RAM when training on the CPU), a split's tensors
move there once and every batch is indexed there, so a training step never waits on the
host. Past the memory budget, the modalities' values stay in their files and a DataLoader
with worker processes reads each batch's rows (into pinned memory on CUDA) while the device
works on the one before; presence masks and labels, a few bytes a sample, sit on the
device either way. Both read the same rows in the same order with the same modality
dropout, so one seed trains the same model either way.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader

from multimodal_fusion.core.npz import is_mapped, read_rows
from multimodal_fusion.models.inputs import (
    Batch,
    ModelInputs,
    StoredSplit,
    batch_for_split,
    to_device,
)
from multimodal_fusion.training.distributed import Cluster, shard

PLACEMENTS = ("auto", "device", "stream")
# Of a device's memory, the share `memory_budget_mb: auto` lets training data take: the
# rest is for the model, its optimiser, activations and (on the CPU) everything else.
BUDGET_SHARE = 0.5
# auto's most in this machine's RAM (training on the CPU or MPS): a constant, so a training
# holds no more memory on 100,000 samples than on 10,000; past it, the data streams.
HOST_BUDGET_MB = 1024
MIB = 1 << 20


@dataclass(frozen=True)
class Placement:
    """Whether training streams its data, and the figures that decided it."""

    streamed: bool
    data_mb: float
    budget_mb: float
    workers: int

    def describe(self, device: torch.device) -> str:
        where = (f"streamed from disk by a DataLoader with {self.workers} worker process"
                 f"{'es' if self.workers != 1 else ''}" if self.streamed else f"held on {device}")
        return (f"training data {self.data_mb:,.0f} MB (train and val splits), memory "
                f"budget {self.budget_mb:,.0f} MB: {where}")


def device_memory_mb(device: torch.device) -> float:
    """The memory of the device training runs on: a GPU's own, otherwise this machine's RAM."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory / MIB
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / MIB
    except (AttributeError, ValueError, OSError):
        return float("inf")  # no way to tell (Windows): never stream unless asked


def loader_workers(setting: int | str) -> int:
    """`auto`: one worker per core beyond the one training uses, at most four."""
    if setting == "auto":
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
            os.cpu_count() or 1)
        return max(1, min(4, cores - 1))
    if not isinstance(setting, int) or setting < 0:
        raise ValueError(f"training.fit.loader_workers {setting!r}: give a whole number (0 "
                         "reads in the training process) or auto")
    return setting


def auto_budget_mb(device: torch.device) -> float:
    """Half a GPU's memory; in this machine's RAM, half of it up to `HOST_BUDGET_MB`."""
    share = device_memory_mb(device) * BUDGET_SHARE
    return share if device.type == "cuda" else min(share, HOST_BUDGET_MB)


def choose_placement(model_inputs: ModelInputs, spec: dict, placement: str,
                     budget_mb: float | str, workers: int | str,
                     device: torch.device) -> Placement:
    """Stream when asked, or under `auto` when the train and val splits' values of the
    model's modalities exceed the budget (`auto`: see `auto_budget_mb`)."""
    if placement not in PLACEMENTS:
        raise ValueError(f"training.fit.data_placement must be one of {', '.join(PLACEMENTS)}, "
                         f"not {placement!r}")
    rows = int(np.isin(model_inputs["split"], ["train", "val"]).sum())
    data_mb = sum(rows * model_inputs[m][0].nbytes for m in spec["modalities"]) / MIB
    budget = auto_budget_mb(device) if budget_mb == "auto" else float(budget_mb)
    streamed = placement == "stream" or (placement == "auto" and data_mb > budget)
    return Placement(streamed, data_mb, budget, loader_workers(workers) if streamed else 0)


@dataclass(frozen=True)
class EpochPlan:
    """One epoch's batches: which samples in which order, and what modality dropout hides.

    `order` holds split positions batch after batch (this rank's share of each under
    torchrun), `keep` per modality whether each of those samples keeps it, `bounds` each
    batch's slice of both and `sizes` each global batch's size, by which its loss counts.
    """

    order: Tensor
    keep: dict[str, Tensor]
    bounds: list[tuple[int, int]]
    sizes: list[int]


def plan_epoch(count: int, batch_size: int, modalities: list[str], dropout: float,
               generator: torch.Generator, cluster: Cluster) -> EpochPlan:
    """A fresh random order, then per batch a dropout draw for each modality.

    Each present modality of each sample is hidden with probability `dropout`, as if it
    were missing: training on such gaps makes every encoder useful on its own, so a sample
    whose other modalities are corrupted or missing is still classified well. Every rank
    draws the whole plan and keeps its shard, so the shards of a batch are disjoint.
    """
    orders, keeps, bounds, sizes = [], {m: [] for m in modalities}, [], []
    for index in torch.randperm(count, generator=generator).split(batch_size):
        kept = {m: torch.rand(len(index), generator=generator) >= dropout if dropout > 0
                else torch.ones(len(index), dtype=torch.bool) for m in modalities}
        if cluster.distributed and len(index) < cluster.world_size:
            continue  # too few samples to give every rank one
        sizes.append(len(index))
        if cluster.distributed:
            mine = shard(torch.arange(len(index)), cluster)
            index, kept = index[mine], {m: k[mine] for m, k in kept.items()}
        start = bounds[-1][1] if bounds else 0
        bounds.append((start, start + len(index)))
        orders.append(index)
        for m in modalities:
            keeps[m].append(kept[m])
    return EpochPlan(torch.cat(orders) if orders else torch.zeros(0, dtype=torch.long),
                     {m: torch.cat(k) if k else torch.zeros(0, dtype=torch.bool)
                      for m, k in keeps.items()}, bounds, sizes)


def sequential_plan(count: int, size: int, modalities: list[str]) -> EpochPlan:
    """Every sample in order, `size` at a time, nothing hidden: what predictions read."""
    bounds = [(start, min(start + size, count)) for start in range(0, count, size)]
    return EpochPlan(torch.arange(count), {m: torch.ones(count, dtype=torch.bool)
                                           for m in modalities},
                     bounds, [stop - start for start, stop in bounds])


class StoredRows(torch.utils.data.Dataset):
    """A split's values per modality, read by rows from their files (or arrays) on demand.

    Each process that reads (a DataLoader worker) opens the files for itself; sent to a
    worker, a mapped array travels as its file and place, never as its contents.
    """

    def __init__(self, arrays: dict[str, np.ndarray], rows: np.ndarray) -> None:
        self.arrays, self.rows = arrays, rows
        self._handles: dict[str, BinaryIO] = {}
        self._pid: int | None = None

    def __len__(self) -> int:
        return len(self.rows)

    def __getitems__(self, positions: list[int]) -> dict[str, Tensor]:
        if self._pid != os.getpid():
            self._handles = {m: open(a.filename, "rb")  # noqa: SIM115
                             for m, a in self.arrays.items() if is_mapped(a)}
            self._pid = os.getpid()
        rows = self.rows[np.asarray(positions, dtype=np.int64)]
        return {m: torch.from_numpy(read_rows(a, rows, self._handles.get(m)))
                for m, a in self.arrays.items()}

    def values(self, modality: str) -> Tensor:
        """Every row of one modality, read here."""
        return torch.from_numpy(read_rows(self.arrays[modality], self.rows))

    def __getstate__(self) -> dict:
        places = {m: (a.filename, a.offset, a.dtype.str, a.shape) for m, a in
                  self.arrays.items() if is_mapped(a)}
        return {"rows": self.rows, "places": places,
                "arrays": {m: a for m, a in self.arrays.items() if m not in places}}

    def __setstate__(self, state: dict) -> None:
        mapped = {m: np.memmap(path, dtype=np.dtype(dtype), mode="r", offset=offset,
                               shape=shape) for m, (path, offset, dtype, shape)
                  in state["places"].items()}
        self.__init__(state["arrays"] | mapped, state["rows"])


def _as_read(values: dict[str, Tensor]) -> dict[str, Tensor]:
    """The DataLoader's collation: `StoredRows` already reads a whole batch at once."""
    return values


class PlannedBatches(torch.utils.data.Sampler):
    """The batches of whichever plan is set: a DataLoader's workers outlive one epoch."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


class SplitData:
    """One split as training reads it: presence and labels on the device, values on the
    device too or streamed from disk, a batch at a time."""

    def __init__(self, model_inputs: ModelInputs, split: str, spec: dict,
                 device: torch.device, placement: Placement) -> None:
        self.device, self.modalities = device, list(spec["modalities"])
        stored = StoredSplit(model_inputs, split, spec)
        self.stored = StoredRows(stored.arrays, stored.rows)
        self.inputs: dict[str, Tensor] | None = None
        self.loader: DataLoader | None = None
        if placement.streamed:
            self.present = {m: p.to(device) for m, p in stored.present.items()}
            self.labels = stored.labels.to(device)
            self.sampler = PlannedBatches()
            self.loader = DataLoader(
                self.stored, batch_sampler=self.sampler, collate_fn=_as_read,
                num_workers=placement.workers, persistent_workers=placement.workers > 0,
                pin_memory=device.type == "cuda", generator=torch.Generator())
        else:
            batch = batch_for_split(model_inputs, split, spec).to(device)
            self.inputs, self.present, self.labels = batch.inputs, batch.present, batch.labels

    def __len__(self) -> int:
        return len(self.labels)

    def values(self, modality: str) -> Tensor:
        """Every sample's values of one modality, on the CPU: what standardisation fits."""
        if self.inputs is not None:
            return self.inputs[modality].cpu()
        return self.stored.values(modality)

    def batches(self, plan: EpochPlan) -> Iterator[Batch]:
        """The plan's batches on the device, with what modality dropout hides hidden."""
        order = to_device(plan.order, self.device)
        keep = {m: to_device(k, self.device) for m, k in plan.keep.items()}
        streamed = self._streamed(plan) if self.loader is not None else None
        for start, stop in plan.bounds:
            index = order[start:stop]
            inputs = next(streamed) if streamed is not None else {
                m: x[index] for m, x in self.inputs.items()}
            yield Batch(inputs, {m: p[index] & keep[m][start:stop]
                                 for m, p in self.present.items()}, self.labels[index])

    def parts(self, size: int) -> Iterator[Batch]:
        """Every sample in order, `size` at a time, as predictions read them."""
        return self.batches(sequential_plan(len(self), size, self.modalities))

    def _streamed(self, plan: EpochPlan) -> Iterator[dict[str, Tensor]]:
        """The plan's batches of values, read by the loader's workers, on the device."""
        self.sampler.batches = [plan.order[start:stop].tolist() for start, stop in plan.bounds]
        for values in self.loader:
            yield {m: x.to(self.device, non_blocking=True) for m, x in values.items()}
