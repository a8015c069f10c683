"""The served model under load: latency, throughput and a bounded load test against a real
`mlflow models serve` on localhost.

Run from the project's root, with the `mlflow` extra, after `kedro run --pipelines=train`:

    python benchmarks/serving_load.py [--requests 1000] [--concurrency 8]

It logs the newest `fusion_model` version as `train` does with an mlflow.yml (into a
scratch SQLite store), serves it, and measures on the demo's test samples:
- latency of one one-sample request, p50 and p95, over 200 requests in a row;
- throughput with requests of 64 samples (samples a second);
- a load test: `--requests` requests, `--concurrency` at a time, one in ten bad (each kind
  of bad request in turn). Every good answer must equal the in-process service's for that
  sample sent alone (label, and probabilities within 1e-6), every bad one must get a 400,
  and the server's resident memory may grow less than 10% from the 100th request to the
  last.
It prints one JSON object and exits 1 if any check fails.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import yaml

from multimodal_fusion.models.storage import load_model
from multimodal_fusion.serving.mlflow_model import log_serving_model
from multimodal_fusion.serving.service import FusionService, service_settings
from multimodal_fusion.training.strategies import build_model

DEMO = Path("data/01_raw/demo")
MODELS = Path("data/06_models/fusion_model.safetensors")
SPLITS = Path("data/03_primary/split_manifest.parquet")
SERVING = Path("conf/base/parameters_serving.yml")
PREPARATION = Path("conf/base/parameters_data_preparation.yml")
SEED = 42


def encoded(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def test_samples(version: str) -> pd.DataFrame:
    """The demo's test samples of the run `version` as requests carry them: text inline,
    files as base64."""
    manifest = pd.read_csv(DEMO / "manifest.csv", dtype=str, keep_default_na=False)
    split = pd.read_parquet(SPLITS / version / SPLITS.name)
    rows = manifest[manifest["sample_id"].isin(split.loc[split["split"] == "test", "sample_id"])]
    return pd.DataFrame({
        "sample_id": rows["sample_id"], "text": rows["text"],
        "image": [encoded(DEMO / p) if p else None for p in rows["image"]],
        "audio": [encoded(DEMO / p) if p else None for p in rows["audio"]],
    }).reset_index(drop=True)


def bad_rows() -> list[dict]:
    """One row of each kind of bad request."""
    return [{"text": "drei", "colour": "red"}, {"image": "not base64!"},
            {"image": base64.b64encode(b"hello").decode()}, {"audio": "/etc/hostname"},
            {"sample_id": "empty", "text": ""}]


def records(rows: pd.DataFrame) -> bytes:
    return json.dumps({"dataframe_records": rows.to_dict(orient="records")}).encode()


def post(url: str, body: bytes) -> tuple[int, dict]:
    ask = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(ask, timeout=120) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def resident_mb(root: int) -> float:
    """Resident memory of a process and its children, from /proc."""
    total, pending = 0, [root]
    while pending:
        pid = pending.pop()
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        total += next(int(line.split()[1]) for line in status.splitlines()
                      if line.startswith("VmRSS:"))
        pending += [int(child) for child in children]
    return total / 1024


def start_server(uri: str, store: str) -> tuple[subprocess.Popen, str, float]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "models", "serve", "-m", uri, "--env-manager",
         "local", "-h", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=os.environ | {"MLFLOW_TRACKING_URI": store,
                          "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"})
    while process.poll() is None:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2)
            return process, f"http://127.0.0.1:{port}/invocations", time.perf_counter() - started
        except OSError:
            time.sleep(0.25)
    raise SystemExit("mlflow models serve stopped before it answered")


def matches(answer: dict, expected: dict) -> bool:
    return answer["predicted"] == expected["predicted"] and all(
        abs(answer["probabilities"][c] - p) <= 1e-6 for c, p in expected["probabilities"].items())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    version = sorted(MODELS.iterdir())[-1]
    settings = service_settings(yaml.safe_load(PREPARATION.read_text())["data_preparation"],
                                yaml.safe_load(SERVING.read_text())["serving"], SEED)
    samples = test_samples(version.name)
    service = FusionService(load_model(version / MODELS.name, build_model), settings)
    # each sample alone, as the load test sends it: a frozen CNN's sums run in another
    # order in a batch of another size, which moves a probability by up to about 1e-5
    expected = {row["sample_id"]: row for i in range(len(samples))
                for row in service.predict(samples[i:i + 1]).to_dict(orient="records")}
    with tempfile.TemporaryDirectory() as scratch:
        store = f"sqlite:///{scratch}/mlflow.db"
        mlflow.set_tracking_uri(store)
        with mlflow.start_run():
            uri = log_serving_model(version / MODELS.name, settings)
        process, url, start_seconds = start_server(uri, store)
        try:
            result = {"model_version": version.name, "server_start_s": round(start_seconds, 1)}
            result |= measure(url, samples, expected, process.pid, args)
        finally:
            process.terminate()
            process.wait(timeout=60)
    print(json.dumps(result, indent=2))
    return 0 if result["checks_passed"] else 1


def measure(url: str, samples: pd.DataFrame, expected: dict, server: int,
            args: argparse.Namespace) -> dict:
    """Latency, throughput and the load test's figures and checks."""
    singles = [records(samples.iloc[[i % len(samples)]]) for i in range(200)]
    post(url, singles[0])  # the first request loads the frozen encoders
    latencies = []
    for body in singles:
        began = time.perf_counter()
        post(url, body)
        latencies.append(time.perf_counter() - began)
    batches = [records(samples.iloc[i:i + 64]) for i in range(0, 640, 64)
               if i + 64 <= len(samples)]
    began = time.perf_counter()
    for body in batches:
        post(url, body)
    throughput = 64 * len(batches) / (time.perf_counter() - began)

    bad = bad_rows()
    plan = [(records(pd.DataFrame([bad[(i // 10) % len(bad)]])), None) if i % 10 == 9 else
            (records(samples.iloc[[i % len(samples)]]), samples["sample_id"][i % len(samples)])
            for i in range(args.requests)]
    memory, answered = {}, []

    def send(index: int) -> tuple[int, int, dict, str | None]:
        body, sample = plan[index]
        status, answer = post(url, body)
        if index + 1 in (100, args.requests):
            memory[index + 1] = resident_mb(server)
        return index, status, answer, sample

    began = time.perf_counter()
    with ThreadPoolExecutor(args.concurrency) as pool:
        answered = list(pool.map(send, range(args.requests)))
    load_seconds = time.perf_counter() - began
    good = [(status, answer, sample) for _, status, answer, sample in answered if sample]
    wrong = [(sample, status, answer) for status, answer, sample in good
             if status != 200 or not matches(answer["predictions"][0], expected[sample])]
    refused = [status for _, status, _, sample in answered if sample is None]
    growth = memory[args.requests] / memory[100] - 1
    return {
        "latency_ms_p50": round(1000 * float(np.percentile(latencies, 50)), 1),
        "latency_ms_p95": round(1000 * float(np.percentile(latencies, 95)), 1),
        "throughput_samples_per_s_batches_of_64": round(throughput, 1),
        "load_requests": args.requests, "load_concurrency": args.concurrency,
        "load_seconds": round(load_seconds, 1),
        "load_requests_per_s": round(args.requests / load_seconds, 1),
        "good_answered_correctly": f"{len(good) - len(wrong)} of {len(good)}",
        "wrong_answers": [str(w)[:600] for w in wrong[:3]],
        "bad_refused_with_400": f"{refused.count(400)} of {len(refused)}",
        "server_rss_mb_at_100": round(memory[100], 1),
        f"server_rss_mb_at_{args.requests}": round(memory[args.requests], 1),
        "rss_growth": round(growth, 4),
        "checks_passed": not wrong and refused.count(400) == len(refused) and growth < 0.10,
    }


if __name__ == "__main__":
    sys.exit(main())
