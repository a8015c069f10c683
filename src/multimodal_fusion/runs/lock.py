"""One run at a time in a project folder, so two runs never read each other's files. No Kedro.

A run's split, feature tables, model inputs and the model version it evaluates are files
under `data/`, read back by later steps of the same run; a second run writing them in
between would hand the first its own data. The first run holds an operating-system lock
on the folder; a second one started meanwhile says whose run it waits for, waits, then
runs on its own files. The lock dies with its process, so a killed run never leaves a
stale lock behind.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

from filelock import FileLock, Timeout

logger = logging.getLogger(__name__)
LOCK_FILE = ".run.lock"
HOLDER_FILE = ".run.holder.json"


class ProjectLock:
    """The lock of the data folder `folder`, with a note of which run holds it."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.lock = FileLock(self.folder / LOCK_FILE)

    def acquire(self, description: str) -> None:
        """Take the lock, first saying which run holds it if another does."""
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            self.lock.acquire(timeout=0)
        except Timeout:
            logger.warning(
                "Another run is using %s (%s). Waiting for it to finish, so that neither run "
                "reads the other's files; to run both at once, run the second in a copy of "
                "the project folder", self.folder, self.holder())
            self.lock.acquire()
        (self.folder / HOLDER_FILE).write_text(json.dumps(
            {"pid": os.getpid(), "run": description,
             "since": time.strftime("%Y-%m-%d %H:%M:%S")}))

    def release(self) -> None:
        if self.lock.is_locked:
            (self.folder / HOLDER_FILE).unlink(missing_ok=True)
            self.lock.release()

    def holder(self) -> str:
        """'pid 123, train, since 2026-11-29 10:00:00', or why it is not known."""
        try:
            note = json.loads((self.folder / HOLDER_FILE).read_text())
        except (OSError, ValueError):
            return "which run is not recorded"
        return f"pid {note['pid']}, {note['run']}, since {note['since']}"
