"""Does a run's HTML report open in a browser with every plot drawn? Headless Chromium says.

Run from the project's root after `kedro run --pipelines=train` (Debian: `apt install
chromium`):

    python benchmarks/report_check.py [report.html] [--screenshot docs/report.png]

It opens the report (the latest run's by default) in headless Chromium with JavaScript
on and no network, lets Plotly draw, then reads the page back: every plot's <div> must
hold a drawn SVG with data in it. With --screenshot it also saves what the browser shows.
Exit 0 when every plot is drawn, 1 otherwise.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPORTS = Path("data/08_reporting/report.html")
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--virtual-time-budget=10000", "--proxy-server=127.0.0.1:9"]


def browser() -> str:
    found = next((shutil.which(name) for name in BROWSERS if shutil.which(name)), None)
    if found is None:
        raise SystemExit("no Chromium found; on Debian: apt install chromium")
    return found


def rendered_plots(report: Path) -> tuple[int, int]:
    """(plots in the page, plots the browser drew) once its scripts have run."""
    with tempfile.TemporaryDirectory() as profile:
        dom = subprocess.run([browser(), *FLAGS, f"--user-data-dir={profile}", "--dump-dom",
                              report.resolve().as_uri()],
                             capture_output=True, text=True, timeout=120, check=True).stdout
    plots = re.findall(r'<div id="[0-9a-f-]{36}" class="plotly-graph-div', dom)
    drawn = re.findall(r'class="plotly-graph-div js-plotly-plot".*?<svg class="main-svg"', dom,
                       flags=re.S)
    return len(plots), len(drawn)


def screenshot(report: Path, target: Path, width: int = 1280, height: int = 2400) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([browser(), *FLAGS, f"--user-data-dir={profile}",
                        f"--window-size={width},{height}", f"--screenshot={target.resolve()}",
                        report.resolve().as_uri()], capture_output=True, timeout=120, check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", nargs="?", type=Path)
    parser.add_argument("--screenshot", type=Path)
    args = parser.parse_args()
    report = args.report or sorted(REPORTS.iterdir())[-1] / REPORTS.name
    plots, drawn = rendered_plots(report)
    print(f"{report}: {drawn} of {plots} plots drawn")
    if args.screenshot:
        screenshot(report, args.screenshot)
        print(f"screenshot: {args.screenshot}")
    return 0 if plots and drawn == plots else 1


if __name__ == "__main__":
    sys.exit(main())
