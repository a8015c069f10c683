"""Nodes of the `demo_data` pipeline."""

from __future__ import annotations

from multimodal_fusion.demo.generator import DemoDataset, DemoSettings, build_demo


def build_demo_dataset(settings: dict, seed: int) -> DemoDataset:
    """Plan the demo; its files render one by one as its folder is written (see
    `datasets.DemoFolderDataset`), the manifest last, so a build cut short leaves no
    manifest, and the next run builds the demo again instead of trusting half of it."""
    return build_demo(DemoSettings(**settings, seed=seed))
