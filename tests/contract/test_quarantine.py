"""A messy manifest trains on what is usable; every fault is set aside with its reason and fix."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from PIL import Image

from helpers import make_project, merged, project_parameters, write_tone
from multimodal_fusion.contract.manifest import ManifestError, read_manifest
from multimodal_fusion.contract.quarantine import SAMPLE_SET_ASIDE, screen_manifest
from multimodal_fusion.modalities import column_rules, manifest_columns, modality_names

CLASSES = ("apple", "banana", "007")
PER_CLASS = 15

PARAMETERS = project_parameters()


def png_header_only(path: Path, width: int, height: int) -> None:
    """A few hundred bytes of PNG that claim width x height pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def clean_row(folder: Path, i: int, label_index: int) -> dict:
    """A sample whose image, text and audio each tell its class."""
    rng = np.random.default_rng(i)
    pixels = rng.integers(0, 60, (8, 8)).astype(np.uint8)
    pixels[[slice(0, 3), slice(3, 6), slice(5, 8)][label_index]] = 250
    Image.fromarray(pixels, mode="L").save(folder / f"{i}.png")
    write_tone(folder / f"{i}.wav", sample_rate=8000, seconds=0.3,
               frequency=300.0 * (label_index + 1) + rng.uniform(-20, 20))
    label = CLASSES[label_index]
    return {"sample_id": f"s{i}", "label": label, "image": f"{i}.png",
            "text": f"this one is an {label}", "audio": f"{i}.wav"}


# What each planted fault must become: (sample id, column, action, a piece of the reason).
EXPECTED = [
    ("missing-file", "image", "image dropped", "the file does not exist"),
    ("corrupt-image", "image", "image dropped", "cannot identify image file"),
    ("truncated-image", "image", "image dropped", "truncated"),
    ("zero-byte-audio", "audio", "audio dropped", "the file is empty (0 bytes)"),
    ("s0", "sample_id", SAMPLE_SET_ASIDE, "sample_id 's0' is also row 1's"),
    ("empty-label", "label", SAMPLE_SET_ASIDE, "empty label"),
    ("unknown-split", "split", SAMPLE_SET_ASIDE, "split 'training' is not one of"),
    ("pillow-bomb", "image", "image dropped", "DecompressionBombError"),
    ("pixel-budget", "image", "image dropped", "13000 x 13000 pixels, over the budget"),
    ("dot-dot", "image", "image dropped", "the path leads outside the manifest's folder"),
    ("absolute", "audio", "audio dropped", "the path leads outside the manifest's folder"),
    ("symlink-out", "image", "image dropped", "the path leads outside the manifest's folder"),
    ("latin-1-text", "text", "text dropped", "byte e9 at position 3 is not valid utf-8"),
    ("truncated-wav", "audio", "audio dropped", "truncated: its header announces"),
    ("silent", "audio", "audio dropped", "silent: its loudest sample is at -inf dBFS"),
    ("nothing", "image,text,audio", SAMPLE_SET_ASIDE, "no modality left: every cell empty"),
    ("all-bad", "image", "image dropped", "the file does not exist"),
    ("all-bad", "audio", "audio dropped", "the file is empty"),
    ("all-bad", "image,text,audio", SAMPLE_SET_ASIDE,
     "no modality left after dropping image, audio"),
    ("lonely", "label", SAMPLE_SET_ASIDE, "class 'durian' has 1 usable sample(s)"),
]
USED_AS_IS = ("empty-text", "stereo-8k", "long-text")


@pytest.fixture(scope="module")
def messy(tmp_path_factory) -> Path:
    """Clean rows of three classes, then one row per fault and per case that must pass."""
    root = tmp_path_factory.mktemp("messy")
    folder = root / "data"
    folder.mkdir()
    rows = [clean_row(folder, i, i % len(CLASSES)) for i in range(len(CLASSES) * PER_CLASS)]
    good = {"label": "apple", "image": "0.png", "text": "an apple", "audio": "0.wav"}
    (folder / "corrupt.png").write_bytes(b"this is not a png")
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
                    ).save(folder / "whole.png")
    (folder / "truncated.png").write_bytes((folder / "whole.png").read_bytes()[:400])
    (folder / "empty.wav").write_bytes(b"")
    png_header_only(folder / "bomb.png", 20000, 10000)
    png_header_only(folder / "huge.png", 13000, 13000)
    (root / "outside.txt").write_text("not an image")
    write_tone(root / "outside.wav")
    (folder / "link.png").symlink_to(root / "outside.txt")
    (folder / "truncated.wav").write_bytes((folder / "0.wav").read_bytes()[:60])
    sf.write(folder / "silent.wav", np.zeros(8000), 8000)
    write_tone(folder / "stereo.wav", sample_rate=8000, channels=2)
    faults = [
        {"sample_id": "missing-file", "image": "gone.png"},
        {"sample_id": "corrupt-image", "image": "corrupt.png"},
        {"sample_id": "truncated-image", "image": "truncated.png"},
        {"sample_id": "zero-byte-audio", "audio": "empty.wav"},
        {"sample_id": "s0"},
        {"sample_id": "empty-label", "label": ""},
        {"sample_id": "unknown-split", "split": "training"},
        {"sample_id": "pillow-bomb", "image": "bomb.png"},
        {"sample_id": "pixel-budget", "image": "huge.png"},
        {"sample_id": "dot-dot", "image": "../outside.txt"},
        {"sample_id": "absolute", "audio": str(root / "outside.wav")},
        {"sample_id": "symlink-out", "image": "link.png"},
        {"sample_id": "latin-1-text", "text": "LATIN1"},
        {"sample_id": "truncated-wav", "audio": "truncated.wav"},
        {"sample_id": "silent", "audio": "silent.wav"},
        {"sample_id": "nothing", "image": "", "text": "", "audio": ""},
        {"sample_id": "all-bad", "image": "gone.png", "text": "", "audio": "empty.wav"},
        {"sample_id": "lonely", "label": "durian"},
        {"sample_id": "empty-text", "text": ""},
        {"sample_id": "stereo-8k", "audio": "stereo.wav"},
        {"sample_id": "long-text", "text": "apple " * 180_000},
    ]
    rows += [good | fault for fault in faults]
    frame = pd.DataFrame(rows).fillna("")
    frame["split"] = frame.get("split", "").fillna("")
    text = frame.to_csv(index=False).encode("utf-8")
    (folder / "manifest.csv").write_bytes(text.replace(b"LATIN1", "caf\xe9".encode("latin-1")))
    return folder / "manifest.csv"


def screen(manifest: Path, settings: dict, tabular: dict | None = None,
           labelled: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validation as the data_preparation pipeline runs it, naming these tabular columns."""
    preprocessing = {name: PARAMETERS[name]["preprocessing"] for name in modality_names()}
    preprocessing["tabular"] = {"numeric": [], "categorical": [], **(tabular or {})}
    return screen_manifest(read_manifest(manifest, "utf-8", manifest_columns()), settings,
                           column_rules(preprocessing), labelled=labelled)


def screened(manifest: Path, **changes) -> tuple[pd.DataFrame, pd.DataFrame]:
    return screen(manifest, merged(PARAMETERS["data_preparation"], changes))


def test_each_fault_is_set_aside_with_its_reason_and_the_rest_is_kept(messy):
    kept, report = screened(messy)
    assert len(report) == len(EXPECTED)
    for sample_id, column, action, reason in EXPECTED:
        found = report[(report["sample_id"] == sample_id) & (report["action"] == action)
                       & (report["column"] == column)]
        assert len(found) == 1, (sample_id, column, action)
        assert reason in found["reason"].iloc[0], (sample_id, found["reason"].iloc[0])
        assert found["fix"].iloc[0], sample_id
    set_aside = {s for s, _, action, _ in EXPECTED if action == SAMPLE_SET_ASIDE}
    clean = [f"s{i}" for i in range(len(CLASSES) * PER_CLASS)]
    assert set(kept["sample_id"]) == {*clean, *USED_AS_IS,
                                      *(s for s, *_ in EXPECTED if s not in set_aside)}
    assert kept.loc[kept["sample_id"] == "stereo-8k", "audio"].iloc[0].endswith("stereo.wav")
    assert kept.loc[kept["sample_id"] == "missing-file", "image"].iloc[0] == ""
    assert sorted(kept["label"].unique()) == sorted(CLASSES)


def test_stop_lists_every_fault_in_one_message(messy):
    with pytest.raises(ManifestError) as error:
        screened(messy, on_bad_input="stop")
    message = str(error.value)
    assert f"{len(EXPECTED)} inputs cannot be used (data_preparation.on_bad_input: stop)" in \
        message
    for sample_id, _, _, reason in EXPECTED:
        assert f"(sample_id {sample_id!r})" in message and reason in message, sample_id


def test_more_set_aside_than_the_cap_stops_with_the_summary(messy):
    with pytest.raises(ManifestError, match=r"6 of 66 samples \(9%\) cannot be used, more "
                                            r"than data_preparation.max_rejected_share \(5%\)"):
        screened(messy, max_rejected_share=0.05)


def test_paths_outside_the_folder_are_read_only_when_allowed(messy):
    _, report = screened(messy, allow_paths_outside=True)
    outside = report[report["sample_id"].isin(["dot-dot", "absolute", "symlink-out"])]
    assert outside["sample_id"].tolist() == ["dot-dot", "symlink-out"]  # text, not an image
    assert outside["reason"].str.contains("cannot identify image file").all()


def test_a_manifest_without_labels_or_modalities_is_refused_whole(tmp_path):
    path = tmp_path / "manifest.csv"
    pd.DataFrame({"sample_id": ["a"], "text": ["t"]}).to_csv(path, index=False)
    with pytest.raises(ManifestError, match="no 'label' column; add one"):
        screen(path, PARAMETERS["data_preparation"])
    assert len(screen(path, PARAMETERS["data_preparation"], labelled=False)[0]) == 1
    pd.DataFrame({"sample_id": ["a"], "label": ["x"], "notes": ["t"]}).to_csv(path, index=False)
    with pytest.raises(ManifestError, match=r"has none of the columns the modalities read "
                                            r"\(image, text, audio\)"):
        screen(path, PARAMETERS["data_preparation"])


def test_a_tabular_cell_that_is_not_a_number_becomes_a_missing_value(tmp_path):
    path = tmp_path / "manifest.csv"
    pd.DataFrame({"sample_id": ["a", "b", "c"], "label": ["x", "x", "x"], "split": ["train"] * 3,
                  "text": ["t", "u", "v"], "cue": ["1.5", "lots", ""]}).to_csv(path, index=False)
    kept, report = screen(path, PARAMETERS["data_preparation"], {"numeric": ["cue"]})
    assert kept["cue"].fillna("").tolist() == ["1.5", "", ""]
    assert report[["sample_id", "action", "reason"]].values.tolist() == [
        ["b", "value emptied", "'lots' is not a number"]]
    assert "c" in kept["sample_id"].tolist()  # an empty value is missing, not a fault


def latest(project: Path, relative: str) -> Path:
    return sorted((project / relative).iterdir())[-1] / Path(relative).name


def run_train(project: Path, manifest: Path, **data_preparation) -> None:
    params = {"preset": "fast", "image": {"preprocessing": {"size": 8}},
              "extraction": {"cache": None},
              "manifest": str(manifest), "data_preparation": data_preparation,
              "training": {"fit": {"max_epochs": 2, "patience": 2, "batch_size": 16,
                                   "checkpoint_dir": str(project / "checkpoints")}}}
    bootstrap_project(project)
    with KedroSession.create(project_path=project, runtime_params=params) as session:
        session.run(pipeline_names=["train"])


def test_train_on_the_messy_manifest_uses_every_usable_input_and_reports_the_rest(
        messy, tmp_path):
    project = make_project(tmp_path)
    run_train(project, messy)
    report = pd.read_csv(latest(project, "data/08_reporting/quarantine.csv"), dtype=str,
                         keep_default_na=False)
    assert sorted(zip(report["sample_id"], report["action"], strict=True)) == sorted(
        (s, a) for s, _, a, _ in EXPECTED)
    used = pd.read_parquet(latest(project, "data/03_primary/split_manifest.parquet"))["sample_id"]
    set_aside = {s for s, _, action, _ in EXPECTED if action == SAMPLE_SET_ASIDE} - {"s0"}
    clean = {f"s{i}" for i in range(len(CLASSES) * PER_CLASS)}  # s0 once: its twin goes
    assert clean | set(USED_AS_IS) <= set(used) and not set(used) & set_aside
    assert used.is_unique
    audio = np.load(project / "data/04_feature/audio_features.npz")
    present = dict(zip(audio["sample_id"], audio["present"], strict=True))
    assert present["stereo-8k"] and not present["silent"]
    metrics = json.loads(latest(project, "data/08_reporting/metrics.json").read_text())
    assert metrics["n_samples"] > 0 and 0 <= metrics["accuracy"] <= 1


def test_train_with_stop_ends_at_validation_with_every_fault_in_one_message(messy, tmp_path):
    project = make_project(tmp_path)
    with pytest.raises(Exception) as error:
        run_train(project, messy, on_bad_input="stop")
    message = str(error.value)
    assert f"{len(EXPECTED)} inputs cannot be used" in message
    assert all(f"(sample_id {sample_id!r})" in message for sample_id, *_ in EXPECTED)
    assert not (project / "data/08_reporting/metrics.json").exists()


def test_labels_that_differ_only_in_case_or_spacing_are_warned_of_with_their_rows(tmp_path,
                                                                                  caplog):
    path = tmp_path / "manifest.csv"
    labels = ["cat", "dog", "Cat", "cat", "Golden  retriever", "golden retriever", "dog"]
    pd.DataFrame({"sample_id": [f"s{i}" for i in range(len(labels))], "label": labels,
                  "split": ["train"] * len(labels), "text": ["t"] * len(labels)}).to_csv(
        path, index=False)
    screen(path, PARAMETERS["data_preparation"])
    warnings = [r.getMessage() for r in caplog.records if "differ only in case" in r.getMessage()]
    assert len(warnings) == 2
    assert "'cat': 2 sample(s), first at row 1; 'Cat': 1 sample(s), first at row 3" in warnings[0]
    assert "'Golden  retriever': 1 sample(s), first at row 5" in warnings[1]
    assert "dog" not in " ".join(warnings)
