"""Shared test setup: one torch thread and no telemetry; shared helpers are in helpers.py."""

import os

import torch

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
torch.set_num_threads(1)
