"""Nodes of the `demo_data` pipeline."""

from __future__ import annotations

import pandas as pd

from multimodal_fusion.demo.generator import DemoSettings, build_demo


def build_demo_dataset(settings: dict, seed: int) -> tuple[dict, dict, dict, pd.DataFrame]:
    """Plan the demo; its image and audio files render one by one as they are saved.

    The manifest comes last, so a build cut short leaves no manifest, and the next run
    builds the demo again instead of trusting half of it.
    """
    demo = build_demo(DemoSettings(**settings, seed=seed))
    return demo.images, demo.audio, demo.metadata, demo.manifest
