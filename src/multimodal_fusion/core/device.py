"""Where training runs and in which precision."""

from __future__ import annotations

import contextlib

import torch


def select_device(preference: str) -> torch.device:
    """CUDA, then Apple's MPS, then the CPU, unless a device is named (cpu, cuda:1, mps)."""
    if preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(preference)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {preference!r} was asked for but CUDA is not available")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {preference!r} was asked for but MPS is not available")
    return device


def uses_bf16(device: torch.device, mixed_precision: str) -> bool:
    """bf16 autocast on a CUDA device that supports it when `auto`; `bf16` insists; `off`."""
    if mixed_precision not in ("auto", "bf16", "off"):
        raise ValueError(f"mixed_precision must be auto, bf16 or off, not {mixed_precision!r}")
    supported = device.type == "cuda" and torch.cuda.is_bf16_supported()
    if mixed_precision == "bf16" and not supported:
        raise ValueError(f"mixed_precision bf16 needs a CUDA device with bf16; this is {device}")
    return mixed_precision != "off" and supported


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast for the forward pass when enabled, else nothing."""
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


# Inputs per forward pass of a frozen pretrained encoder (EfficientNet-Lite0, MiniLM) on
# CUDA: large enough to keep a GPU busy, small enough for any GPU's memory at 224 px.
FROZEN_CUDA_BATCH = 512


def frozen_encoder_run() -> tuple[torch.device, bool, dict]:
    """Where a frozen encoder runs, whether under bf16 autocast (on CUDA that has it), and
    what of that its cached features' key must hold, so features computed in bf16 are never
    taken for those computed in float32 ({} on the CPU, as before)."""
    device = select_device("auto")
    bf16 = uses_bf16(device, "auto")
    return device, bf16, {"precision": "bf16"} if bf16 else {}


def frozen_batch(device: torch.device, batch_size: int) -> int:
    """A frozen encoder's batch: as given on the CPU, at least `FROZEN_CUDA_BATCH` on CUDA."""
    return max(batch_size, FROZEN_CUDA_BATCH) if device.type == "cuda" else batch_size
