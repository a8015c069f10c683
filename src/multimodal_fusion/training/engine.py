"""Fit a classifier with AdamW and early stopping on validation macro-F1, on the best device."""

from __future__ import annotations

import copy
import logging
import random
import time
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.metrics import f1_score
from torch import Tensor, nn
from torch.nn import functional

from multimodal_fusion.models.classifier import MultimodalClassifier
from multimodal_fusion.models.encoders import VectorMLP
from multimodal_fusion.training.inputs import Batch, ModelInputs, batch_for_split, model_spec

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FitSettings:
    """Optimiser, batch and stopping settings; `device` is auto, cpu, cuda or cuda:N."""

    max_epochs: int = 60
    batch_size: int = 64
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    patience: int = 8
    modality_dropout: float = 0.0
    unimodal_loss_weight: float = 0.0
    device: str = "auto"


def select_device(preference: str = "auto") -> torch.device:
    """CUDA when there is one and nothing else was asked for, else the CPU."""
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(preference)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {preference!r} was asked for but CUDA is not available")
    return device


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) from the project's one seed."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def fit_standardisation(model: MultimodalClassifier, train: Batch) -> None:
    """Give each standardising encoder the statistics of the training samples that have it."""
    for modality, encoder in model.encoders.items():
        if isinstance(encoder, VectorMLP) and model.spec["modalities"][modality]["standardise"]:
            encoder.set_standardisation(train.inputs[modality][train.present[modality]])


def drop_modalities(batch: Batch, probability: float, generator: torch.Generator) -> Batch:
    """Hide each present modality of each sample with `probability`, as if it were missing.

    Training on such gaps makes every encoder useful on its own, so that a sample whose other
    modalities are corrupted or missing is still classified well.
    """
    if probability <= 0:
        return batch
    present = {
        m: p & (torch.rand(p.shape, generator=generator) >= probability)
        for m, p in batch.present.items()
    }
    return Batch(batch.inputs, present, batch.labels)


def training_loss(model: MultimodalClassifier, batch: Batch, unimodal_weight: float) -> Tensor:
    """Cross-entropy of the fused logits, plus that of each modality's own head where present."""
    fused, unimodal = model.forward_with_unimodal(batch.inputs, batch.present)
    loss = functional.cross_entropy(fused, batch.labels)
    if unimodal_weight > 0:
        for modality, logits in unimodal.items():
            mask = batch.present[modality]
            if mask.any():
                loss = loss + unimodal_weight * functional.cross_entropy(
                    logits[mask], batch.labels[mask]
                )
    return loss


@torch.no_grad()
def predict_proba(model: nn.Module, batch: Batch, batch_size: int = 256,
                  device: torch.device | None = None) -> np.ndarray:
    """Class probabilities for every sample of `batch`, in order."""
    device = device or next(model.parameters()).device
    model.eval()
    chunks = []
    for start in range(0, len(batch), batch_size):
        part = batch.select(torch.arange(start, min(start + batch_size, len(batch)))).to(device)
        chunks.append(torch.softmax(model(part.inputs, part.present).float(), dim=1).cpu())
    return torch.cat(chunks).numpy()


def macro_f1(model: nn.Module, batch: Batch) -> float:
    """Macro-F1 of the model's predictions on a labelled batch."""
    predicted = predict_proba(model, batch).argmax(axis=1)
    return float(f1_score(batch.labels.numpy(), predicted, average="macro", zero_division=0))


def fit_classifier(model: MultimodalClassifier, train: Batch, val: Batch, settings: FitSettings,
                   seed: int) -> list[dict]:
    """Train until validation macro-F1 stops improving; the model keeps its best weights.

    Returns one record per epoch (loss, validation macro-F1, seconds) for the run's report.
    """
    device = select_device(settings.device)
    logger.info("Training on %s: %d train and %d validation samples",
                device, len(train), len(val))
    fit_standardisation(model, train)
    model.to(device)
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay
    )
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=settings.max_epochs)
    shuffler = torch.Generator().manual_seed(seed)
    best_f1, best_state, stale, history = -1.0, None, 0, []
    for epoch in range(1, settings.max_epochs + 1):
        started = time.perf_counter()
        model.train()
        total_loss = 0.0
        for index in torch.randperm(len(train), generator=shuffler).split(settings.batch_size):
            part = drop_modalities(
                train.select(index), settings.modality_dropout, shuffler
            ).to(device)
            optimiser.zero_grad(set_to_none=True)
            loss = training_loss(model, part, settings.unimodal_loss_weight)
            loss.backward()
            optimiser.step()
            total_loss += loss.item() * len(index)
        schedule.step()
        val_f1 = macro_f1(model, val)
        history.append({"epoch": epoch, "train_loss": total_loss / len(train),
                        "val_macro_f1": val_f1, "seconds": time.perf_counter() - started})
        logger.info("epoch %d/%d  loss %.4f  val macro-F1 %.4f",
                    epoch, settings.max_epochs, history[-1]["train_loss"], val_f1)
        if val_f1 > best_f1:
            best_f1, best_state, stale = val_f1, copy.deepcopy(model.state_dict()), 0
        else:
            stale += 1
            if stale >= settings.patience:
                logger.info("Stopping early: no gain for %d epochs", settings.patience)
                break
    model.load_state_dict(best_state)
    return history


def train_on_inputs(model_inputs: ModelInputs, settings: dict,
                    seed: int) -> tuple[MultimodalClassifier, list[dict]]:
    """Build the classifier that `settings["model"]` describes for these inputs and fit it.

    Seeding comes first, so the initial weights, modality dropout and shuffling all follow
    from the one seed. The model comes back on the CPU, ready to be saved.
    """
    seed_everything(seed)
    model = MultimodalClassifier(model_spec(model_inputs, settings["model"]))
    history = fit_classifier(
        model,
        batch_for_split(model_inputs, "train", model.spec),
        batch_for_split(model_inputs, "val", model.spec),
        FitSettings(**settings["fit"]),
        seed,
    )
    return model.cpu(), history
