"""Progress a person can follow on long steps: a bar in a terminal, a line now and then
elsewhere. No Kedro.

In a terminal, every step's bar is a task of one rich display on the console that the rich
log handler (Kedro's) writes to, so log lines print above the bars and nothing garbles;
steps that run at once (`ThreadRunner`) share the display. Each bar counts what is done,
of how many, and the time left, and goes when its step ends. When the log is not a
terminal (CI, a file), a step that runs longer than `EVERY_SECONDS` logs a short line that
often instead: how far it is and the time left. Under torchrun only rank 0 reports.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

logger = logging.getLogger(__name__)
EVERY_SECONDS = 30.0
Item = TypeVar("Item")
Advance = Callable[[int], None]


def terminal_console() -> Console | None:
    """The console a rich log handler writes to, when it is a terminal."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, RichHandler) and handler.console.is_terminal:
            return handler.console
    return None


class Display:
    """The one live display that every running step's bar is a task of."""

    lock = threading.Lock()
    live: Progress | None = None
    tasks = 0

    @classmethod
    @contextmanager
    def bar(cls, console: Console, description: str, total: int) -> Iterator[Advance]:
        with cls.lock:
            if cls.live is None:
                cls.live = Progress(
                    TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TaskProgressColumn(), TimeRemainingColumn(), console=console,
                    transient=True)
                cls.live.start()
            live = cls.live
            task = live.add_task(description, total=total)
            cls.tasks += 1
        try:
            yield lambda count=1: live.advance(task, count)
        finally:
            with cls.lock:
                live.remove_task(task)
                cls.tasks -= 1
                if not cls.tasks:
                    live.stop()
                    cls.live = None


class Lines:
    """A step's progress as a log line every `EVERY_SECONDS`, for a log that is no terminal."""

    def __init__(self, description: str, total: int) -> None:
        self.description, self.total, self.done = description, total, 0
        self.started = self.reported = time.monotonic()

    def advance(self, count: int = 1) -> None:
        self.done += count
        now = time.monotonic()
        if now - self.reported < EVERY_SECONDS or not 0 < self.done < self.total:
            return
        self.reported = now
        left = (now - self.started) / self.done * (self.total - self.done)
        logger.info("%s: %s of %s done, about %s left", self.description, f"{self.done:,}",
                    f"{self.total:,}", duration(left))


def duration(seconds: float) -> str:
    """'45 s', '3 min 20 s' or '1 h 05 min': the time left, as a person reads it."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


@contextmanager
def progress(description: str, total: int) -> Iterator[Advance]:
    """A step of `total` units: call what it gives with the units done since (1 by default)."""
    if os.environ.get("RANK", "0") != "0" or total <= 0:
        yield lambda count=1: None
        return
    console = terminal_console()
    if console is None:
        yield Lines(description, total).advance
        return
    with Display.bar(console, description, total) as advance:
        yield advance


def track(items: Iterable[Item], description: str, total: int | None = None) -> Iterator[Item]:
    """Each of `items` (a sized collection, or any iterable with its `total`), its progress
    shown as `progress` shows it."""
    with progress(description, len(items) if total is None else total) as advance:
        for item in items:
            yield item
            advance(1)
