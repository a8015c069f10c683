"""Nodes of the `demo_data` pipeline."""

from __future__ import annotations

import pandas as pd

from multimodal_fusion.demo.generator import DemoSettings, build_demo


def build_demo_dataset(settings: dict, seed: int) -> tuple[pd.DataFrame, dict, dict, dict]:
    """Plan the demo; its image and audio files render one by one as they are saved."""
    demo = build_demo(DemoSettings(**settings, seed=seed))
    return demo.manifest, demo.metadata, demo.images, demo.audio
