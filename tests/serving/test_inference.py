"""`inference` applies a stored model to new samples exactly as evaluation applied it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from PIL import Image

from helpers import TABULAR, sample_project, write_tone
from multimodal_fusion.contract import quarantine
from multimodal_fusion.contract.importer import main, manifest_from_folder, modality_of
from multimodal_fusion.models.inputs import batch_for_split
from multimodal_fusion.models.predict import predict_proba


def run(project: Path, pipeline: str, **params) -> None:
    bootstrap_project(project)
    params = {"preset": "fast", "image": {"preprocessing": {"size": 8}},
              "tabular": {"preprocessing": TABULAR}, "extraction": {"cache": None},
              "training": {"fit": {"max_epochs": 3, "patience": 3, "batch_size": 16,
                                   "checkpoint_dir": str(project / "checkpoints")}}, **params}
    with KedroSession.create(project_path=project, runtime_params=params) as session:
        session.run(pipeline_names=[pipeline])


def load(project: Path, name: str):
    bootstrap_project(project)
    with KedroSession.create(project_path=project) as session:
        return session.load_context().catalog.load(name)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path, pd.DataFrame]:
    root = tmp_path_factory.mktemp("inference")
    project, samples, manifest = sample_project(root)
    run(project, "train", manifest=str(samples / "manifest.csv"))
    return project, samples, manifest


def test_inference_on_the_test_rows_without_labels_matches_evaluation(trained):
    project, samples, manifest = trained
    split = load(project, "split_manifest")
    test_ids = split.loc[split["split"] == "test", "sample_id"].tolist()
    new = manifest[manifest["sample_id"].isin(test_ids)].drop(columns=["label"])
    new.to_csv(samples / "new.csv", index=False)
    run(project, "inference", manifest=str(samples / "new.csv"),
        # today's parameters differ; the model's recipe decides how features are made
        image={"preprocessing": {"size": 16}}, text={"features": {"analyzers": ["word"]}})

    predictions = load(project, "predictions").set_index("sample_id")
    model, inputs = load(project, "fusion_model"), load(project, "model_inputs")
    expected = predict_proba(model, batch_for_split(inputs, "test", model.spec))
    order = inputs["sample_id"][inputs["split"] == "test"]
    probabilities = predictions.loc[order, [f"probability_{c}" for c in model.spec["classes"]]]
    np.testing.assert_allclose(probabilities.to_numpy(), expected, atol=1e-6)
    evaluated = load(project, "test_predictions").set_index("sample_id")
    assert (predictions.loc[order, "predicted"] == evaluated.loc[order, "predicted"]).all()
    assert set(predictions["modalities"]) == {"audio+image+tabular+text"}
    assert predictions.loc[order, "source"].tolist() == manifest.set_index("sample_id").loc[
        order, "source"].tolist()
    assert {"image", "text", "audio", "cue", "band"}.isdisjoint(predictions.columns)


def test_labelled_new_samples_are_scored_as_train_scored_its_test_split(trained, caplog):
    """New labelled data (a holdout, or the same task months later) scored by a stored
    model, as Ludwig's `evaluate --dataset` and AutoGluon's `evaluate` do."""
    project, samples, manifest = trained
    split = load(project, "split_manifest")
    test = manifest[manifest["sample_id"].isin(split.loc[split["split"] == "test", "sample_id"])]
    unknown = test.iloc[:1].assign(sample_id="new-class", label="zebra")
    unlabelled = test.iloc[:1].assign(sample_id="no-label", label="")
    pd.concat([test, unknown, unlabelled]).to_csv(samples / "labelled.csv", index=False)
    run(project, "inference", manifest=str(samples / "labelled.csv"))

    scored, stored = load(project, "inference_metrics"), load(project, "metrics")
    assert scored["scored"] == len(test) == stored["n_samples"]
    assert scored["left_out"] == {"unlabelled": 1, "unknown_classes": {"zebra": 1}}
    for figure in ("accuracy", "balanced_accuracy", "per_class", "confusion_normalised"):
        assert scored[figure] == stored[figure], figure
    assert scored["macro"]["f1"] == pytest.approx(stored["macro"]["f1"], abs=1e-12)
    assert "'zebra' (1, first sample 'new-class')" in caplog.text

    test.drop(columns=["label"]).to_csv(samples / "unlabelled.csv", index=False)
    run(project, "inference", manifest=str(samples / "unlabelled.csv"))
    assert load(project, "inference_metrics") == {
        "scored": 0, "left_out": {"unlabelled": len(test), "unknown_classes": {}}}


def test_missing_modalities_and_bad_files_are_masked_and_reported(trained):
    project, samples, manifest = trained
    (samples / "broken.wav").write_bytes(b"RIFF")
    new = manifest.head(3).drop(columns=["label", "cue", "band"]).assign(
        sample_id=["n0", "n1", "n2"], image=["0.png", "", "1.png"],
        audio=["0.wav", "2.wav", "broken.wav"], text=["", "an apple", ""])
    new.to_csv(samples / "partial.csv", index=False)
    run(project, "inference", manifest=str(samples / "partial.csv"))
    predictions = load(project, "predictions").set_index("sample_id")
    assert predictions["modalities"].to_dict() == {
        "n0": "audio+image", "n1": "audio+text", "n2": "image"}
    probabilities = predictions.filter(like="probability_")
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    report = load(project, "inference_quarantine_report")
    assert report[["sample_id", "action"]].values.tolist() == [["n2", "audio dropped"]]


def test_a_file_failing_in_extraction_is_predicted_without_it_and_reported(trained,
                                                                            monkeypatch):
    project, samples, manifest = trained
    (samples / "replaced.wav").write_bytes(b"RIFF")
    # validation decodes nothing, as if the file had been replaced after it was checked
    monkeypatch.setattr(quarantine, "map_in_order",
                        lambda function, items, workers, description: [(True, None)] * len(items))
    new = manifest.head(2).drop(columns=["label", "cue", "band"]).assign(
        sample_id=["n0", "n1"], audio=["0.wav", "replaced.wav"])
    new.to_csv(samples / "replaced.csv", index=False)
    run(project, "inference", manifest=str(samples / "replaced.csv"))
    predictions = load(project, "predictions").set_index("sample_id")
    assert predictions["modalities"].to_dict() == {"n0": "audio+image+text",
                                                   "n1": "image+text"}
    report = load(project, "inference_quarantine_report")
    assert report[["sample_id", "action"]].values.tolist() == [["n1", "audio dropped"]]
    assert report["reason"][0].startswith("failed in extraction: ")


def test_a_folder_of_files_is_a_manifest_samples_sharing_a_stem(tmp_path, caplog):
    for label in ("apple", "banana"):
        (tmp_path / label).mkdir()
        write_tone(tmp_path / label / "one.wav", sample_rate=8000, seconds=0.3)
        (tmp_path / label / "one.txt").write_text(f"  a {label}\n")
    Image.new("RGB", (4, 4)).save(tmp_path / "apple" / "one.png")
    (tmp_path / "banana" / "two.txt").write_bytes("caf\xe9".encode("latin-1"))
    (tmp_path / "banana" / "notes.md").write_text("not a sample")
    (tmp_path / "banana" / "2024").mkdir()
    Image.new("RGB", (4, 4)).save(tmp_path / "banana" / "2024" / "deep.png")
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "x.bin").write_bytes(b"hidden")
    manifest = manifest_from_folder(tmp_path, "utf-8")
    assert "1 file(s) of no format the folder reader takes were passed over (.md: 1)" in (
        caplog.text)
    assert "1 file(s) more than one subfolder deep were passed over (banana/2024/deep.png)" in (
        caplog.text)
    assert ".bin" not in caplog.text, "hidden files are not the user's samples"
    assert manifest.to_dict("records") == [
        {"sample_id": "apple/one", "label": "apple", "image": "apple/one.png",
         "text": "a apple", "audio": "apple/one.wav"},
        {"sample_id": "banana/one", "label": "banana", "image": "", "text": "a banana",
         "audio": "banana/one.wav"},
        {"sample_id": "banana/two", "label": "banana", "image": "", "text": "caf\ufffd",
         "audio": ""}]
    assert manifest.attrs["undecodable"] == {
        "text": {3: "in banana/two.txt: byte e9 at position 3 is not valid utf-8 text"}}
    assert [modality_of(Path(f"IMG_0001.{suffix}")) for suffix in ("HEIC", "heif", "avif")] == [
        "image"] * 3
    assert [modality_of(Path(f"memo.{suffix}")) for suffix in ("m4a", "aac", "opus")] == [
        "audio"] * 3
    main([str(tmp_path)])
    written = pd.read_csv(tmp_path / "manifest.csv", dtype=str, keep_default_na=False)
    assert written["sample_id"].tolist() == ["apple/one", "banana/one", "banana/two"]


def test_inference_runs_from_a_folder_of_unlabelled_files(trained, tmp_path):
    project, samples, _ = trained
    for i in (0, 1, 2):
        (tmp_path / f"new{i}.png").write_bytes((samples / f"{i}.png").read_bytes())
    (tmp_path / "new0.wav").write_bytes((samples / "0.wav").read_bytes())
    (tmp_path / "new1.txt").write_text("this one is an banana")
    run(project, "inference", manifest=str(tmp_path))
    predictions = load(project, "predictions").set_index("sample_id")
    assert predictions["modalities"].to_dict() == {
        "new0": "audio+image", "new1": "image+text", "new2": "image"}


def test_the_exported_model_gives_the_stored_models_probabilities(trained):
    onnxruntime = pytest.importorskip("onnxruntime", reason="the export extra is not installed")
    project, _, _ = trained
    run(project, "export")
    session = onnxruntime.InferenceSession(load(project, "onnx_model"))
    model, inputs = load(project, "fusion_model"), load(project, "model_inputs")
    batch = batch_for_split(inputs, "test", model.spec)
    feeds = {**{m: t.numpy() for m, t in batch.inputs.items()},
             **{f"{m}_present": p.numpy() for m, p in batch.present.items()}}
    np.testing.assert_allclose(session.run(["probabilities"], feeds)[0],
                               predict_proba(model, batch), atol=1e-5)


def test_an_ensemble_predicts_through_inference_as_evaluation_scored_it(trained):
    project, samples, manifest = trained
    run(project, "train", manifest=str(samples / "manifest.csv"),
        training={"model": {"fusion": "ensemble"},
                  "ensemble": {"members": ["concat", "late", "linear_late"], "rounds": 5},
                  "fit": {"max_epochs": 3, "patience": 3, "batch_size": 16,
                          "checkpoint_dir": None}})
    model, inputs = load(project, "fusion_model"), load(project, "model_inputs")
    assert model.spec["fusion"] == "ensemble" and model.spec["ensemble"]["members"]
    split = load(project, "split_manifest")
    test_ids = split.loc[split["split"] == "test", "sample_id"].tolist()
    manifest[manifest["sample_id"].isin(test_ids)].drop(columns=["label"]).to_csv(
        samples / "new.csv", index=False)
    run(project, "inference", manifest=str(samples / "new.csv"))
    predictions = load(project, "predictions").set_index("sample_id")
    order = inputs["sample_id"][inputs["split"] == "test"]
    np.testing.assert_allclose(
        predictions.loc[order, [f"probability_{c}" for c in model.spec["classes"]]].to_numpy(),
        predict_proba(model, batch_for_split(inputs, "test", model.spec)), atol=1e-6)
