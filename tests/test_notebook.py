"""notebooks/latest_run.ipynb runs top to bottom on a trained project, through the catalog."""

from __future__ import annotations

import shutil

import pytest

from helpers import REPO, make_project, run_small, write_samples

nbformat = pytest.importorskip("nbformat", reason="the dev extra is not installed")
nbclient = pytest.importorskip("nbclient", reason="the dev extra is not installed")


def test_the_notebook_shows_metrics_contributions_robustness_and_the_leaderboard(tmp_path):
    (tmp_path / "samples").mkdir()
    write_samples(tmp_path / "samples").to_csv(tmp_path / "samples" / "m.csv", index=False)
    project = make_project(tmp_path / "project")
    manifest = str(tmp_path / "samples" / "m.csv")
    run_small(project, "train", manifest=manifest)
    run_small(project, "compare", manifest=manifest, compare={"strategies": ["late", "concat"]})
    (project / "notebooks").mkdir()
    shutil.copy(REPO / "notebooks" / "latest_run.ipynb", project / "notebooks")
    notebook = nbformat.read(project / "notebooks" / "latest_run.ipynb", as_version=4)
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3", resources={
        "metadata": {"path": str(project / "notebooks")}}).execute()
    shown = "\n".join(output.get("data", {}).get("text/plain", "") + output.get("text", "")
                      for cell in notebook.cells if cell.cell_type == "code"
                      for output in cell.outputs)
    assert "accuracy" in shown and "shapley" in shown and "drop_when_hidden" in shown
    assert "noise level" in shown and "late" in shown and "linear_early" in shown
    plotly = "application/vnd.plotly.v1+json"
    plots = [output for cell in notebook.cells if cell.cell_type == "code"
             for output in cell.outputs if plotly in output.get("data", {})]
    assert len(plots) == 2
