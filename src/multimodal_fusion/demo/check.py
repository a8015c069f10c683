"""Whether a built demo is whole; light enough to run before every run. No Kedro."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def incomplete_demo_files(manifest_path: Path) -> list[Path]:
    """What a demo build cut short leaves out: the manifest (written last) while other files
    are there, or files the manifest names that are absent or empty, or the metadata.

    Nothing at all is not incomplete but absent: an empty list, as for a whole demo.
    """
    folder = manifest_path.parent
    if not manifest_path.is_file():
        return [manifest_path] if folder.is_dir() and any(folder.iterdir()) else []
    manifest = pd.read_csv(manifest_path, dtype=str, keep_default_na=False)
    named = [folder / cell for column in ("image", "audio") if column in manifest.columns
             for cell in manifest[column] if cell]
    gaps = [path for path in named if not path.is_file() or path.stat().st_size == 0]
    return gaps + [folder / name for name in ("metadata.json",) if not (folder / name).is_file()]
