"""What produced a model: code, parameters, data, libraries, device, seed, time. No Kedro.

A record is kept beside every model (same version) and printed in every report, so a
result can be traced, and reproduced, months later. Its data fingerprint covers the split
manifest (ids, labels, splits, every cell) and the bytes of every file it names: change
one pixel of one image and the fingerprint changes, which is how `evaluate` knows that
the data under a stored model is no longer the data it was trained and tested on.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

import pandas as pd
import torch

from multimodal_fusion.core.device import select_device
from multimodal_fusion.core.digests import file_digests
from multimodal_fusion.modalities import registered
from multimodal_fusion.runs.versions import version_time

LIBRARIES = ("multimodal-fusion", "torch", "numpy", "pandas", "scikit-learn", "kedro",
             "librosa", "pillow", "transformers")


def git_commit(folder: Path) -> str | None:
    """The commit checked out in the git repository holding `folder`, read from `.git`
    (no git program needed); None outside a repository."""
    for candidate in (folder, *folder.parents):
        git = candidate / ".git"
        if git.is_file():  # a worktree or submodule: "gitdir: <path>"
            git = (candidate / git.read_text().split(":", 1)[1].strip()).resolve()
        if not git.is_dir():
            continue
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head
        ref = head.removeprefix("ref: ")
        common = Path((git / "commondir").read_text().strip()) if (
            git / "commondir").is_file() else Path(".")
        for root in (git, (git / common).resolve()):
            if (root / ref).is_file():
                return (root / ref).read_text().strip()
            packed = root / "packed-refs"
            if packed.is_file():
                for line in packed.read_text().splitlines():
                    if line.endswith(f" {ref}"):
                        return line.split()[0]
        return None
    return None


def parameters_hash(parameters: dict) -> str:
    """A digest of every parameter, in a canonical JSON form."""
    canonical = json.dumps(parameters, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def data_fingerprint(manifest: pd.DataFrame, cache: str | Path | None) -> str:
    """A digest of the manifest's rows, in order: every cell, except that a file's bytes
    stand for its path (so moving the data elsewhere keeps the fingerprint). The files'
    digests are remembered in the feature `cache` folder."""
    files = [m.column for m in registered() if m.holds_files and m.column in manifest.columns]
    paths = sorted({cell for column in files for cell in manifest[column] if cell})
    contents = dict(zip(paths, file_digests(paths, cache, "run record: the inputs' fingerprint"),
                        strict=True))
    digest = hashlib.sha256()
    for row in manifest.sort_index(axis=1).to_dict(orient="records"):
        cells = {c: contents[v].hex() if c in files and v else str(v) for c, v in row.items()}
        digest.update(json.dumps(cells, sort_keys=True).encode())
    return digest.hexdigest()


def changed_files(manifest: pd.DataFrame, run_id: str, limit: int = 5) -> list[str]:
    """Files the manifest names that are gone or were modified after the run `run_id`
    (a Kedro version, the run's start in UTC): where to look when a fingerprint differs."""
    started = version_time(run_id)
    files = [m.column for m in registered() if m.holds_files and m.column in manifest.columns]
    paths = [Path(cell) for column in files for cell in manifest[column] if cell]
    return [str(p) for p in paths if not p.is_file() or p.stat().st_mtime > started][:limit]


def installed_versions(names: Iterable[str]) -> dict[str, str]:
    """The installed version of each of `names` that is installed; the rest are left out."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def library_versions() -> dict[str, str]:
    return {"python": platform.python_version(), **installed_versions(LIBRARIES)}


def run_record(run: dict, parameters: dict, manifest: pd.DataFrame, seed: int) -> dict:
    """The record of this run; `run` is what the session knows: its id (the version of
    everything it saves), project folder and start time."""
    device = select_device(parameters["training"]["fit"]["device"])
    return {
        "run_id": run["run_id"],
        "git_commit": git_commit(Path(run["project_path"])),
        "parameters_hash": parameters_hash(parameters),
        "parameters": parameters,
        "data_fingerprint": data_fingerprint(manifest, parameters["extraction"]["cache"]),
        "n_samples": len(manifest),
        "libraries": library_versions(),
        "device": str(device) + (f" ({torch.cuda.get_device_name(device)})"
                                 if device.type == "cuda" else ""),
        "platform": platform.platform(),
        "seed": seed,
        "wall_seconds": round(time.time() - run["started"], 1),
    }
