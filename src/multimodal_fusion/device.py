"""Where training runs and in which precision."""

from __future__ import annotations

import contextlib

import torch


def select_device(preference: str = "auto") -> torch.device:
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
