"""The GPU benchmark stays runnable: its engine, tight-loop and scale parts on the CPU."""

import json
import os
import subprocess
import sys

from helpers import REPO, toy_inputs
from multimodal_fusion.core.npz import write_npz


def test_gpu_compare_measures_the_engine_against_the_tight_loop_on_the_cpu(tmp_path):
    write_npz(tmp_path / "model_inputs.npz", toy_inputs(96))
    output = tmp_path / "result.json"
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "gpu_compare.py"), "--device", "cpu",
         "--inputs", str(tmp_path / "model_inputs.npz"), "--parts", "strategies", "scale",
         "waits", "--strategies", "concat", "late", "--epochs", "1", "--batch-sizes", "16",
         "--output", str(output)],
        cwd=REPO, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(output.read_text())
    assert [row["strategy"] for row in result["strategies"]] == ["concat", "late"]
    for row in result["strategies"] + result["scale"]:
        assert row["samples_per_second"] > 0 and row["tight_samples_per_second"] > 0
    assert [row["placement"] for row in result["scale"]] == ["device", "stream"]
    assert result["scale"][0]["train_samples"] == 16 * int(
        (toy_inputs(96)["split"] == "train").sum())
    assert result["waits"] is None, "host waits are counted on CUDA only"
