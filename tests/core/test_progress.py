"""Progress on long steps: bars on the log's terminal, short lines in a log that is not one."""

from __future__ import annotations

import io
import logging
import threading

import pytest
from rich.console import Console
from rich.logging import RichHandler

from multimodal_fusion.core import progress
from multimodal_fusion.core.progress import Display, duration, track


@pytest.fixture
def terminal() -> io.StringIO:
    """A rich log handler on a terminal, as `kedro run` gives one in a shell."""
    screen = io.StringIO()
    handler = RichHandler(console=Console(file=screen, force_terminal=True, width=120))
    root = logging.getLogger()
    root.addHandler(handler)
    yield screen
    root.removeHandler(handler)


def test_a_terminal_shows_bars_with_counts_beside_whole_log_lines(terminal):
    seen = []

    def step(name: str) -> None:
        for item in track(range(40), name):
            seen.append(item)
            if item == 20:
                logging.getLogger("multimodal_fusion.test").warning("halfway through %s", name)

    threads = [threading.Thread(target=step, args=(f"step {i}",)) for i in range(2)]
    for thread in threads:  # two steps at once share one display, as under ThreadRunner
        thread.start()
    for thread in threads:
        thread.join()
    shown = terminal.getvalue()
    assert len(seen) == 80 and Display.live is None
    assert "step 0" in shown and "/40" in shown
    assert shown.count("halfway through step") == 2  # its number in the highlighter's colour


def test_elsewhere_a_long_step_logs_how_far_it_is_and_the_time_left(caplog, monkeypatch):
    monkeypatch.setattr(progress, "EVERY_SECONDS", 0.0)
    caplog.set_level(logging.INFO, logger="multimodal_fusion")
    assert list(track(["a", "b", "c", "d"], "checking image files")) == ["a", "b", "c", "d"]
    lines = [r.getMessage() for r in caplog.records if r.name == progress.__name__]
    assert [line.split(", about")[0] for line in lines] == [
        "checking image files: 1 of 4 done", "checking image files: 2 of 4 done",
        "checking image files: 3 of 4 done"]
    assert all(line.endswith(" s left") for line in lines)


def test_a_short_step_logs_nothing_and_other_ranks_stay_quiet(caplog, monkeypatch):
    caplog.set_level(logging.INFO)
    assert sum(track(range(1000), "quick")) == sum(range(1000))
    monkeypatch.setattr(progress, "EVERY_SECONDS", 0.0)
    monkeypatch.setenv("RANK", "1")
    list(track(range(5), "rank one"))
    assert not [r for r in caplog.records if r.name == progress.__name__]


def test_the_time_left_reads_as_a_person_would_say_it():
    assert [duration(s) for s in (4.4, 200, 3900)] == ["4 s", "3 min 20 s", "1 h 05 min"]
