"""The run record traces a model to its code, parameters and data."""

from __future__ import annotations

import subprocess
import time

import pandas as pd

from helpers import write_tone
from multimodal_fusion.runs.record import data_fingerprint, git_commit, parameters_hash, run_record

PARAMETERS = {"seed": 1, "training": {"fit": {"device": "cpu"}}, "extraction": {"cache": None}}


def test_the_data_fingerprint_follows_file_bytes_and_cells_not_where_files_live(tmp_path):
    clip = write_tone(tmp_path / "a.wav")
    manifest = pd.DataFrame({"sample_id": ["a", "b"], "label": ["x", "y"],
                             "audio": [clip, ""], "text": ["one", "two"]})
    original = data_fingerprint(manifest, None)
    moved = tmp_path / "elsewhere.wav"
    moved.write_bytes((tmp_path / "a.wav").read_bytes())
    assert data_fingerprint(manifest.assign(audio=[str(moved), ""]), None) == original
    assert data_fingerprint(manifest.assign(text=["one", "2"]), None) != original
    write_tone(tmp_path / "a.wav", frequency=500)
    assert data_fingerprint(manifest, None) != original


def test_the_commit_is_read_from_the_repository(tmp_path):
    assert git_commit(tmp_path) is None
    run = {"cwd": tmp_path, "check": True, "capture_output": True}
    subprocess.run(["git", "init", "-q"], **run)
    (tmp_path / "f").write_text("x")
    subprocess.run(["git", "add", "f"], **run)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "m"],
                   **run)
    head = subprocess.run(["git", "rev-parse", "HEAD"], text=True, **run).stdout.strip()
    (tmp_path / "sub").mkdir()
    assert git_commit(tmp_path / "sub") == head
    subprocess.run(["git", "pack-refs", "--all"], **run)
    assert git_commit(tmp_path) == head


def test_a_record_holds_what_reproduction_needs(tmp_path):
    manifest = pd.DataFrame({"sample_id": ["a"], "label": ["x"], "text": ["t"]})
    record = run_record({"run_id": "2026-11-29T00.00.00.000Z", "project_path": str(tmp_path),
                         "started": time.time() - 2}, PARAMETERS, manifest, 1)
    assert record["parameters_hash"] == parameters_hash(dict(reversed(PARAMETERS.items())))
    assert record["parameters"] == PARAMETERS
    assert record["seed"] == 1 and record["device"] == "cpu" and record["wall_seconds"] >= 2
    assert {"python", "torch", "numpy", "kedro"} <= set(record["libraries"])
