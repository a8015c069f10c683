"""Fit a classifier: AdamW, a learning-rate schedule, early stopping on validation macro-F1,
bf16 on CUDA, and a checkpoint every epoch from which an interrupted run resumes exactly."""

from __future__ import annotations

import copy
import logging
import math
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import torch
from sklearn.metrics import f1_score
from torch import Tensor
from torch.nn import functional
from torch.nn.parallel import DistributedDataParallel

from multimodal_fusion.core.config import typed_settings
from multimodal_fusion.core.device import autocast, select_device, uses_bf16
from multimodal_fusion.core.progress import progress
from multimodal_fusion.models.classifier import MultimodalClassifier
from multimodal_fusion.models.inputs import Batch, ModelInputs
from multimodal_fusion.models.predict import Samples, predict_proba
from multimodal_fusion.training.augmentation import augment_batch, augmentation
from multimodal_fusion.training.checkpoint import CheckpointStore, run_key
from multimodal_fusion.training.data import SplitData, choose_placement, plan_epoch
from multimodal_fusion.training.distributed import Cluster, current_cluster, from_main, join

if TYPE_CHECKING:
    from torchvision.transforms import v2

    from multimodal_fusion.training.auto import Trainer
    from multimodal_fusion.training.strategies import Strategy

logger = logging.getLogger(__name__)
SCHEDULES = ("cosine", "one_cycle", "constant")
# The batch size `learning_rate` is given for, and what `batch_size: auto` is on the CPU.
REFERENCE_BATCH = 64
# `batch_size: auto` on CUDA: this batch, or smaller so that an epoch takes MIN_STEPS steps.
CUDA_BATCH = 512
MIN_STEPS = 8
# Told (epoch, best validation macro-F1 so far) after every epoch; a hyperparameter search
# watches its trials' curves through it and stops a bad one by raising `TrainingStopped`.
EpochObserver = Callable[[int, float], None]
EPOCH_OBSERVER: ContextVar[EpochObserver | None] = ContextVar("epoch_observer", default=None)


class TrainingStopped(Exception):
    """Raised by an epoch observer to end a training early; its checkpoint is removed, since
    no run will resume it."""


@contextmanager
def observing_epochs(observer: EpochObserver) -> Iterator[None]:
    """Trainings started inside tell `observer` how each epoch went."""
    token = EPOCH_OBSERVER.set(observer)
    try:
        yield
    finally:
        EPOCH_OBSERVER.reset(token)


@dataclass(frozen=True)
class FitSettings:
    """How to train; each field is documented in conf/base/parameters_training.yml."""

    max_epochs: int
    batch_size: int | str
    learning_rate: float
    weight_decay: float
    schedule: str
    max_grad_norm: float
    class_weights: str
    patience: int
    modality_dropout: float
    unimodal_loss_weight: float
    device: str
    mixed_precision: str
    data_placement: str
    memory_budget_mb: float | str
    loader_workers: int | str
    compile: bool
    checkpoint_dir: str | None


@dataclass(frozen=True)
class TrainingGroups:
    """The groups of the training parameters, so a misspelt group is named too."""

    model: dict
    fit: dict
    auto: dict | None
    linear: dict
    search: dict
    ensemble: dict | None


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) from the project's one seed."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def class_weights(labels: Tensor, num_classes: int, mode: str) -> Tensor | None:
    """`balanced`: weights inversely proportional to class frequency; `none`: no weights."""
    if mode == "none":
        return None
    if mode != "balanced":
        raise ValueError(f"class_weights must be none or balanced, not {mode!r}")
    counts = torch.bincount(labels, minlength=num_classes).float()
    weights = len(labels) / (num_classes * counts.clamp_min(1))
    return torch.where(counts > 0, weights, torch.zeros_like(weights))


def parameter_groups(model: torch.nn.Module, learning_rate: float) -> list[dict]:
    """The optimiser's groups: every parameter at the learning rate, but those a module
    names as slow (pretrained weights being fine-tuned) at its `learning_rate_scale`."""
    slow = [(module.slow_parameters(), module.learning_rate_scale)
            for module in model.modules() if hasattr(module, "slow_parameters")]
    slow_ids = {id(p) for parameters, _ in slow for p in parameters}
    rest = [p for p in model.parameters() if id(p) not in slow_ids]
    return [{"params": rest, "lr": learning_rate}] + [
        {"params": parameters, "lr": learning_rate * scale} for parameters, scale in slow]


def make_schedule(optimiser: torch.optim.Optimizer, settings: FitSettings,
                  steps_per_epoch: int) -> torch.optim.lr_scheduler.LRScheduler | None:
    """Cosine decay stepped per epoch, one-cycle stepped per batch, or a constant rate."""
    if settings.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=settings.max_epochs)
    if settings.schedule == "one_cycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimiser, max_lr=[group["lr"] for group in optimiser.param_groups],
            total_steps=settings.max_epochs * steps_per_epoch,
        )
    if settings.schedule == "constant":
        return None
    raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, not {settings.schedule!r}")


def training_loss(model: torch.nn.Module, batch: Batch, unimodal_weight: float,
                  weights: Tensor | None = None) -> Tensor:
    """Cross-entropy of the fused logits, plus that of each modality's own head where present."""
    fused, unimodal = model(batch.inputs, batch.present, with_unimodal=True)
    loss = functional.cross_entropy(fused.float(), batch.labels, weight=weights)
    if unimodal_weight > 0:
        for modality, logits in unimodal.items():
            loss = loss + unimodal_weight * masked_cross_entropy(
                logits, batch.labels, batch.present[modality], weights)
    return loss


def masked_cross_entropy(logits: Tensor, labels: Tensor, mask: Tensor,
                         weights: Tensor | None) -> Tensor:
    """The mean cross-entropy of the samples `mask` selects, class-weighted as
    `cross_entropy` weighs them; zero when it selects none.

    The mask weighs the samples instead of selecting them, so no step asks the device how
    many there are: on a GPU that question waits for all the work queued before it.
    """
    mask = mask.float()
    losses = functional.cross_entropy(logits.float(), labels, weight=weights, reduction="none")
    counts = mask if weights is None else weights[labels] * mask
    return (losses * mask).sum() / counts.sum().clamp_min(1e-12)


def macro_f1(model: MultimodalClassifier, samples: Samples, labels: Tensor,
             bf16: bool = False) -> float:
    """Macro-F1 of the model's predictions for these samples."""
    predicted = predict_proba(model, samples, bf16=bf16).argmax(axis=1)
    return float(f1_score(labels.cpu().numpy(), predicted, average="macro", zero_division=0))


def resolved_fit(settings: FitSettings, device: torch.device, train_count: int) -> FitSettings:
    """The settings with `batch_size: auto` decided for this device and data.

    On the CPU (and MPS) auto is the batch the learning rate is given for, so nothing
    changes there. On CUDA a larger batch keeps the GPU busy, as long as an epoch still
    takes `MIN_STEPS` steps; the learning rate then grows with the square root of the
    batch, as AdamW's noise scale asks.
    """
    if settings.batch_size != "auto":
        if not isinstance(settings.batch_size, int) or settings.batch_size < 1:
            raise ValueError(f"training.fit.batch_size {settings.batch_size!r}: give a whole "
                             "number of at least 1 or auto")
        return settings
    batch = REFERENCE_BATCH
    if device.type == "cuda":
        batch = max(REFERENCE_BATCH, min(CUDA_BATCH, 2 ** int(math.log2(
            max(train_count // MIN_STEPS, 1)))))
    rate = settings.learning_rate * math.sqrt(batch / REFERENCE_BATCH)
    return replace(settings, batch_size=batch, learning_rate=rate)


@dataclass
class Progress:
    """What early stopping and the report carry from one epoch to the next."""

    best_f1: float = -1.0
    best_state: dict | None = None
    stale: int = 0
    history: list[dict] = field(default_factory=list)


@dataclass
class TrainingRun:
    """The moving parts of one run: where it trains, what it updates, what draws its luck."""

    model: MultimodalClassifier
    settings: FitSettings
    cluster: Cluster
    device: torch.device
    bf16: bool
    network: torch.nn.Module
    optimiser: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler | None
    shuffler: torch.Generator
    weights: Tensor | None
    augmenters: dict[str, v2.Compose]

    @classmethod
    def start(cls, model: MultimodalClassifier, train: SplitData, settings: FitSettings,
              seed: int, cluster: Cluster) -> TrainingRun:
        """Place the model, wrap it for torchrun and torch.compile if asked, build optimiser
        and schedule."""
        device = train.device
        bf16 = uses_bf16(device, settings.mixed_precision)
        model.fit_standardisation(train.values, train.present)
        model.to(device)
        network = model
        if cluster.distributed:
            # Every parameter takes part in every step, but for the per-modality heads when
            # their loss is off: only then must DistributedDataParallel look for unused ones.
            network = DistributedDataParallel(
                model, device_ids=[device.index] if device.type == "cuda" else None,
                find_unused_parameters=settings.unimodal_loss_weight == 0,
            )
        if settings.compile:
            network = torch.compile(network)
        optimiser = torch.optim.AdamW(parameter_groups(model, settings.learning_rate),
                                      lr=settings.learning_rate,
                                      weight_decay=settings.weight_decay)
        schedule = make_schedule(optimiser, settings, math.ceil(len(train) / settings.batch_size))
        weights = class_weights(train.labels, len(model.spec["classes"]), settings.class_weights)
        augmenters = {m: augmentation(spec["augment"], spec["input_shape"][-1])
                      for m, spec in model.spec["modalities"].items() if "augment" in spec}
        return cls(model, settings, cluster, device, bf16, network, optimiser, schedule,
                   torch.Generator().manual_seed(seed), weights,
                   {m: a for m, a in augmenters.items() if a is not None})

    def train_epoch(self, train: SplitData, epoch: int) -> float:
        """One pass over the training set in a fresh random order; the mean loss.

        The loss is summed on the device, in float64 as a Python float would be, and read
        once at the end: reading it every step would make the host wait for the device.
        """
        settings = self.settings
        self.model.train()
        plan = plan_epoch(len(train), settings.batch_size, list(train.present),
                          settings.modality_dropout, self.shuffler, self.cluster)
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        with progress(f"epoch {epoch}/{settings.max_epochs}", len(plan.bounds)) as advance:
            for part, size in zip(train.batches(plan), plan.sizes, strict=True):
                for modality, transform in self.augmenters.items():
                    part.inputs[modality] = augment_batch(part.inputs[modality], transform)
                self.optimiser.zero_grad(set_to_none=True)
                with autocast(self.device, self.bf16):
                    loss = training_loss(self.network, part, settings.unimodal_loss_weight,
                                         self.weights)
                loss.backward()
                if settings.max_grad_norm > 0:
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(),
                                                   settings.max_grad_norm)
                self.optimiser.step()
                if settings.schedule == "one_cycle":
                    self.schedule.step()
                total += loss.detach().double() * size
                advance(1)
        if settings.schedule == "cosine":
            self.schedule.step()
        return total.item() / len(train)

    def validate(self, val: SplitData) -> float:
        """Validation macro-F1, rank 0's on every rank so that all stop together."""
        return from_main(macro_f1(self.model, val, val.labels, self.bf16), self.cluster,
                         self.device)

    def snapshot(self, progress: Progress) -> dict:
        """Everything the next epoch depends on, as tensors and plain values."""
        return {
            "model": self.model.state_dict(),
            "optimiser": self.optimiser.state_dict(),
            "schedule": self.schedule.state_dict() if self.schedule else {},
            "shuffler": self.shuffler.get_state(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "progress": asdict(progress),
        }

    def restore(self, saved: dict) -> Progress:
        """Put every piece of a `snapshot` back in place; the progress it recorded."""
        self.model.load_state_dict(saved["model"])
        self.optimiser.load_state_dict(saved["optimiser"])
        if self.schedule:
            self.schedule.load_state_dict(saved["schedule"])
        self.shuffler.set_state(saved["shuffler"])
        torch.set_rng_state(saved["torch_rng"])
        if saved["cuda_rng"]:
            torch.cuda.set_rng_state_all(saved["cuda_rng"])
        return Progress(**saved["progress"])


def fit_classifier(model: MultimodalClassifier, train: SplitData, val: SplitData,
                   settings: FitSettings, seed: int, cluster: Cluster,
                   checkpoints: CheckpointStore | None = None) -> list[dict]:
    """Train until validation macro-F1 stops improving; the model keeps its best weights.

    With `checkpoints`, every epoch ends with a checkpoint and a run that finds one resumes
    from it. An epoch observer (`observing_epochs`) hears of every epoch and may stop the
    training. Under torchrun each rank trains on its shard of every batch with gradients
    averaged by DistributedDataParallel; rank 0 alone writes checkpoints. Returns one record
    per epoch (loss, validation macro-F1, seconds).
    """
    run = TrainingRun.start(model, train, settings, seed, cluster)
    saved = checkpoints.load() if checkpoints else None
    progress = run.restore(saved) if saved else Progress()
    if saved:
        logger.info("Resuming from the checkpoint of epoch %d in %s",
                    len(progress.history), checkpoints.folder)
    writes_checkpoints = checkpoints is not None and run.cluster.is_main
    observe = EPOCH_OBSERVER.get()
    for epoch in range(len(progress.history) + 1, settings.max_epochs + 1):
        started = time.perf_counter()
        loss = run.train_epoch(train, epoch)
        val_f1 = run.validate(val)
        progress.history.append({"epoch": epoch, "train_loss": loss, "val_macro_f1": val_f1,
                                 "seconds": time.perf_counter() - started})
        logger.info("epoch %d/%d  loss %.4f  val macro-F1 %.4f",
                    epoch, settings.max_epochs, loss, val_f1)
        if val_f1 > progress.best_f1:
            progress.best_f1, progress.stale = val_f1, 0
            progress.best_state = copy.deepcopy(model.state_dict())
        else:
            progress.stale += 1
        if writes_checkpoints:
            checkpoints.save(run.snapshot(progress))
        if observe is not None:
            try:
                observe(epoch, progress.best_f1)
            except TrainingStopped:
                if writes_checkpoints:
                    checkpoints.clear()
                raise
        if progress.stale >= settings.patience:
            logger.info("Stopping early: no gain for %d epochs", settings.patience)
            break
    model.load_state_dict(progress.best_state)
    if writes_checkpoints:
        checkpoints.clear()
    return progress.history


def fit_network(strategy: Strategy, model_inputs: ModelInputs, settings: dict, seed: int,
                train: Trainer) -> tuple[MultimodalClassifier, list[dict]]:
    """Build the network `strategy` describes for these inputs and fit it.

    An encoder whose spec names a weights file starts from it (only here, never when a trained
    model is rebuilt). The model comes back on the CPU, ready to save, its spec recording
    how it was trained (`trained_with`: device, batch size, learning rate, where the data
    was, how many processes). A network trains no other strategy, so `train` goes unused
    here.
    """
    chosen = typed_settings(FitSettings, settings["fit"], "training.fit")
    model = strategy.model(strategy.spec(model_inputs, settings["model"]))
    for modality, spec in model.spec["modalities"].items():
        if spec.get("weights"):
            model.encoders[modality].load_backbone(spec["weights"])
    cluster = current_cluster()
    device = join(cluster, select_device(chosen.device))
    fit = resolved_fit(chosen, device, int((model_inputs["split"] == "train").sum()))
    placement = choose_placement(model_inputs, model.spec, fit.data_placement,
                                 fit.memory_budget_mb, fit.loader_workers, device)
    train_split, val = (SplitData(model_inputs, split, model.spec, device, placement)
                        for split in ("train", "val"))
    logger.info("Training on %s%s%s: %d train samples, batch size %d, learning rate %.4g; %s",
                device, " with bf16 autocast" if uses_bf16(device, fit.mixed_precision) else "",
                f", rank {cluster.rank} of {cluster.world_size}" if cluster.distributed else "",
                len(train_split), fit.batch_size, fit.learning_rate, placement.describe(device))
    checkpoints = None
    if fit.checkpoint_dir:
        key = run_key(model.spec, {**settings, "fit": asdict(fit)}, seed, model_inputs)
        checkpoints = CheckpointStore(fit.checkpoint_dir, key)
    history = fit_classifier(model, train_split, val, fit, seed, cluster, checkpoints)
    model.spec["trained_with"] = {
        "device": str(device), "batch_size": fit.batch_size, "learning_rate": fit.learning_rate,
        "batch_size_setting": chosen.batch_size,
        "streamed": placement.streamed, "data": placement.describe(device),
        "compiled": fit.compile, "processes": cluster.world_size}
    return model.cpu(), history
