"""A trained model behind HTTP: the served model predicts as `inference` does, refuses a
bad request with the field and the fix, never reads a file of the server's, and `train`
with the mlflow extra logs it as an MLflow model that `mlflow models serve` serves."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from PIL import Image

from helpers import TABULAR, run_small, sample_project, write_aac, write_tone
from multimodal_fusion.serving.requests import RequestError, file_suffix, request_manifest
from multimodal_fusion.serving.service import FusionService, service_settings

SERVING = {"max_samples": 8, "max_image_pixels": 10_000, "max_audio_seconds": 2.0,
           "registered_model": "fusion-test"}


def load(project: Path, name: str):
    bootstrap_project(project)
    with KedroSession.create(project_path=project) as session:
        return session.load_context().catalog.load(name)


def encoded(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def request_of(rows: pd.DataFrame, samples: Path) -> pd.DataFrame:
    """The rows as a client sends them: files as base64 bytes, the rest inline."""
    return pd.DataFrame({
        "sample_id": rows["sample_id"], "text": rows["text"],
        "image": [encoded(samples / name) for name in rows["image"]],
        "audio": [encoded(samples / name) for name in rows["audio"]],
        "cue": rows["cue"].astype(float), "band": rows["band"]}).reset_index(drop=True)


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> dict:
    """A model trained on the small samples (tracked by MLflow where the extra is there),
    and `inference`'s predictions for its test rows."""
    root = tmp_path_factory.mktemp("serving")
    project, samples, manifest = sample_project(root)
    store = f"sqlite:///{root / 'mlflow.db'}"
    tracked = all(_importable(name) for name in ("mlflow", "kedro_mlflow"))
    if tracked:
        (project / "conf" / "local" / "mlflow.yml").write_text(
            f"server:\n  mlflow_tracking_uri: {store}\n"
            "tracking:\n  experiment:\n    name: serving-test\n")
    params = {"tabular": {"preprocessing": TABULAR}, "serving": SERVING}
    run_small(project, "train", manifest=str(samples / "manifest.csv"), **params)
    split = load(project, "split_manifest")
    test_rows = manifest[manifest["sample_id"].isin(
        split.loc[split["split"] == "test", "sample_id"])].reset_index(drop=True)
    test_rows.drop(columns=["label"]).to_csv(samples / "new.csv", index=False)
    run_small(project, "inference", manifest=str(samples / "new.csv"), **params)
    parameters = {name: load(project, f"params:{name}") for name in ("data_preparation",
                                                                     "seed")}
    return {"project": project, "samples": samples, "store": store, "rows": test_rows,
            "predictions": load(project, "predictions").set_index("sample_id"),
            "service": FusionService(load(project, "fusion_model"), service_settings(
                parameters["data_preparation"], SERVING, parameters["seed"]))}


def _importable(name: str) -> bool:
    try:
        __import__(name)
    except ImportError:
        return False
    return True


def assert_matches_inference(answer: pd.DataFrame, predictions: pd.DataFrame) -> None:
    """The served answer holds inference's label, probabilities and modalities per sample."""
    expected = predictions.loc[answer["sample_id"]]
    classes = list(answer["probabilities"].iloc[0])
    np.testing.assert_allclose(
        [[row[c] for c in classes] for row in answer["probabilities"]],
        expected[[f"probability_{c}" for c in classes]].to_numpy(), atol=1e-6)
    assert answer["predicted"].tolist() == expected["predicted"].tolist()
    assert ["+".join(used) for used in answer["modalities"]] == expected["modalities"].tolist()


def test_the_service_predicts_what_inference_predicts_for_the_same_samples(served):
    request = request_of(served["rows"], served["samples"])
    answer = served["service"].predict(request)
    assert_matches_inference(answer, served["predictions"])
    assert set(answer["modalities"].map(tuple)) == {("audio", "image", "tabular", "text")}


def test_a_modality_left_out_of_a_request_is_predicted_without(served):
    request = request_of(served["rows"].head(3), served["samples"])
    request = request[["sample_id", "text"]].assign(image=[None, request["image"][1], ""])
    answer = served["service"].predict(request)
    assert answer["modalities"].tolist() == [["text"], ["image", "text"], ["text"]]
    for probabilities in answer["probabilities"]:
        assert abs(sum(probabilities.values()) - 1) < 1e-5


def bad_requests(samples: Path) -> dict[str, tuple[dict, str | None, str]]:
    """Per kind of bad request: one row, the field its refusal names (None: the row), and a
    word it says about the fault."""
    write_tone(samples / "long.wav", sample_rate=8000, seconds=3.0)
    Image.new("RGB", (200, 100)).save(samples / "large.png")
    return {
        "unknown column": ({"text": "an apple", "colour": "red"}, "colour", "unknown"),
        "undecodable base64": ({"image": "not base64!"}, "image", "base64"),
        "bytes of no image format": ({"image": base64.b64encode(b"hello").decode()}, "image",
                                     "PNG"),
        "image over the pixel budget": ({"image": encoded(samples / "large.png")}, "image",
                                        "pixels"),
        "clip over the duration limit": ({"audio": encoded(samples / "long.wav")}, "audio",
                                         "seconds"),
        "no modality": ({"sample_id": "empty", "text": "", "image": None}, None, "modality"),
        "a path": ({"audio": "/etc/hostname"}, "audio", "path"),
    }


@pytest.mark.parametrize("kind", ["unknown column", "undecodable base64",
                                  "bytes of no image format", "image over the pixel budget",
                                  "clip over the duration limit", "no modality", "a path"])
def test_a_bad_request_is_refused_naming_the_field_and_the_fix(served, kind):
    row, field, word = bad_requests(served["samples"])[kind]
    with pytest.raises(RequestError) as refused:
        served["service"].predict(pd.DataFrame([row]))
    message = str(refused.value)
    assert word in message and ("send" in message or "give" in message or "remove" in message)
    assert f"field {field!r}" in message if field else "row 0" in message
    assert str(served["samples"]) not in message and "/tmp/" not in message


@pytest.mark.parametrize("suffix", ["heic", "avif", "m4a"])
def test_a_phones_photo_or_voice_memo_is_known_by_its_bytes(tmp_path, suffix):
    path = tmp_path / f"file.{suffix}"
    if suffix == "m4a":
        write_aac(path, np.sin(np.arange(4000) / 5), 16_000)
    else:
        Image.new("RGB", (8, 8), (200, 30, 30)).save(path)
    assert file_suffix(path.read_bytes()) == f".{suffix}"


def test_too_many_rows_are_refused(served):
    request = pd.DataFrame({"text": ["an apple"] * (SERVING["max_samples"] + 1)})
    with pytest.raises(RequestError, match="serving.max_samples"):
        served["service"].predict(request)


@pytest.mark.parametrize("value", ["secret.png", "../samples/0.png", "/etc/hostname",
                                   "file:///etc/hostname", "~/0.png", "C:\\data\\0.png",
                                   "https://example.com/0.png", "./0.png", "samples/0.png"])
def test_a_file_field_that_looks_like_a_path_is_refused_and_nothing_is_read(served, tmp_path,
                                                                            value):
    rules = served["service"].rules
    with pytest.raises(RequestError, match="looks like a file path"):
        request_manifest(pd.DataFrame({"image": [value]}), rules, tmp_path / "request",
                         served["service"].limits)
    assert not any((tmp_path / "request").glob("*"))


def test_a_request_becomes_files_only_inside_its_own_folder(served, tmp_path):
    request = request_of(served["rows"].head(2), served["samples"])
    manifest = request_manifest(request, served["service"].rules, tmp_path / "request",
                                served["service"].limits)
    for column, suffix in (("image", ".png"), ("audio", ".wav")):
        for name in manifest[column]:
            assert Path(name).name == name and name.endswith(suffix)
            assert (tmp_path / "request" / name).is_file()
    assert manifest["cue"].tolist() == [str(v) for v in request["cue"]]


@pytest.fixture(scope="module")
def logged(served):
    """The MLflow model the `train` run logged, and its registered version."""
    mlflow = pytest.importorskip("mlflow", reason="the mlflow extra is not installed")
    pytest.importorskip("kedro_mlflow", reason="the mlflow extra is not installed")
    client = mlflow.MlflowClient(tracking_uri=served["store"])
    experiment = client.get_experiment_by_name("serving-test").experiment_id
    (model,) = client.search_logged_models([experiment])
    (version,) = client.search_model_versions("name='fusion-test'")
    return {"uri": f"models:/{model.model_id}",
            "registered": f"models:/fusion-test/{version.version}"}


def test_train_logs_a_model_that_a_fresh_process_loads_and_predicts_as_inference(served, logged,
                                                                               tmp_path):
    request = request_of(served["rows"], served["samples"])
    request.to_json(tmp_path / "request.json", orient="records")
    script = (
        "import json, sys, mlflow, pandas as pd\n"
        "request = pd.read_json(sys.argv[1], orient='records', dtype=False)\n"
        "answers = [mlflow.pyfunc.load_model(uri).predict(request).to_dict(orient='records')\n"
        "           for uri in sys.argv[2:]]\n"
        "print(json.dumps(answers))\n")
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "request.json"), logged["uri"],
         logged["registered"]], capture_output=True, text=True, timeout=300,
        env=os.environ | {"MLFLOW_TRACKING_URI": served["store"]})
    assert done.returncode == 0, done.stderr[-3000:]
    for answer in json.loads(done.stdout.splitlines()[-1]):
        assert_matches_inference(pd.DataFrame(answer), served["predictions"])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def post(url: str, body: bytes) -> tuple[int, dict]:
    ask = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(ask, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture(scope="module")
def server(served, logged):
    """`mlflow models serve` on a free localhost port, with the model `train` logged."""
    port = free_port()
    binaries = str(Path(sys.executable).parent)  # mlflow starts uvicorn from the PATH
    process = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "models", "serve", "-m", logged["registered"],
         "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=os.environ | {"MLFLOW_TRACKING_URI": served["store"],
                          "PATH": f"{binaries}{os.pathsep}{os.environ['PATH']}"})
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and process.poll() is None:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2)
            break
        except OSError:
            time.sleep(0.5)
    else:
        process.kill()
        pytest.fail(f"mlflow models serve did not start:\n{process.stdout.read()[-3000:]}")
    yield f"http://127.0.0.1:{port}/invocations"
    process.terminate()
    process.wait(timeout=30)


def records(request: pd.DataFrame) -> bytes:
    return json.dumps({"dataframe_records": request.to_dict(orient="records")}).encode()


def test_the_served_model_answers_good_requests_and_refuses_bad_ones_with_400(served, server):
    request = request_of(served["rows"], served["samples"])
    status, answer = post(server, records(request))
    assert status == 200
    assert_matches_inference(pd.DataFrame(answer["predictions"]), served["predictions"])
    refusals = {kind: post(server, records(pd.DataFrame([row])))
                for kind, (row, _, _) in bad_requests(served["samples"]).items()}
    refusals["malformed JSON"] = post(server, b'{"dataframe_records": [{"text": "an')
    for kind, (status, body) in refusals.items():
        assert status == 400, (kind, body)
        assert "message" in body, kind
    assert "field 'colour'" in refusals["unknown column"][1]["message"]
    assert "field 'audio' looks like a file path" in refusals["a path"][1]["message"]
    status, answer = post(server, records(request.head(1)))
    assert status == 200 and len(answer["predictions"]) == 1
