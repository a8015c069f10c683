"""Per-file work spread over worker processes, in order, with a progress bar. No Kedro.

Decoding images and audio, checking files and extracting features are the same shape of
work: one function per file, thousands of files. `map_in_order` runs it here or in worker
processes, whichever is faster, and gives every result (or the error's message) in order.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from joblib import Parallel, delayed
from threadpoolctl import OpenBLASController, threadpool_info, threadpool_limits

from multimodal_fusion.core.progress import progress

logger = logging.getLogger(__name__)
# Files per task sent to a worker process: large enough that start-up and transfer are small
# beside the work, small enough that the progress bar moves and memory stays bounded.
CHUNK_FILES = 64
# Work left (estimated from the first chunk) worth starting worker processes for: each
# imports the extraction libraries, a few seconds.
PARALLEL_WORTH_SECONDS = 10.0


def resolve_workers(workers: int | str | None) -> int:
    """`auto` (or null) is every core this process may use; otherwise the number given."""
    if workers in (None, "auto"):
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
            os.cpu_count() or 1)
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"extraction.workers {workers!r}: give a whole number of at least 1 "
                         "or auto")
    return workers


class OneBlasThread:
    """BLAS on one thread while any caller in this process is inside, as in a worker process.

    A BLAS thread count is the whole process's, and a matrix product can round differently
    with another one (the demo's MFCCs by up to 8e-6). Under Kedro's ThreadRunner two
    steps' loops overlap: with a limit each, the first to finish would restore the other's
    BLAS threads mid-loop, and that step's remaining files would come out different in the
    last bits. So the limit is shared and counted: set by the first caller in, restored by
    the last one out, whichever threads they are (threadpoolctl lets only the thread that
    holds OpenBLAS's control set it, so each hands the control back at once). A per-thread
    limit beside it (`threadpool_limits`) covers OpenMP, whose thread counts are each
    thread's own. Where another thread holds OpenBLAS's control already (code of the
    user's own inside a `threadpool_limits` block beside the run), the limit cannot be set,
    and a warning says so.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inside = 0
        self._limiter: threadpool_limits | None = None

    def __enter__(self) -> None:
        with self._lock:
            if not self._inside:
                self._limiter = threadpool_limits(limits=1, user_api="blas")
                OpenBLASController.clear_controlling_thread()
                warn_of_blas_not_limited()
            self._inside += 1

    def __exit__(self, *exception: object) -> None:
        with self._lock:
            self._inside -= 1
            if not self._inside:
                self._limiter.restore_original_limits()
                OpenBLASController.clear_controlling_thread()
                self._limiter = None


ONE_BLAS_THREAD = OneBlasThread()


def warn_of_blas_not_limited() -> None:
    """threadpoolctl ignores a limit set from a thread without OpenBLAS's control, silently;
    the per-file results then depend on what else runs, which a user should hear of."""
    unlimited = [library["filepath"] for library in threadpool_info()
                 if library["user_api"] == "blas" and library["num_threads"] != 1]
    if unlimited:
        logger.warning(
            "BLAS could not be limited to one thread for per-file work (%s): another "
            "thread holds OpenBLAS's thread control, so features may differ in their last "
            "bits from a run without it. End that thread's threadpool_limits block before "
            "the run starts.",
            ", ".join(unlimited))


def _apply_each(function: Callable[[Any], Any], items: Sequence[Any]) -> list[tuple[bool, Any]]:
    """(True, result) or (False, the error's message) per item: one bad file must not hide
    which one it was, and an error message always crosses a process boundary."""
    results = []
    for item in items:
        try:
            results.append((True, function(item)))
        except Exception as error:
            results.append((False, f"{type(error).__name__}: {error}"))
    return results


def map_in_order(function: Callable[[Any], Any], items: Sequence[Any], workers: int,
                 description: str) -> Iterator[tuple[bool, Any]]:
    """`_apply_each`'s pairs for every item, in order, with a progress bar.

    The first chunk runs here and is timed. When more than one worker is allowed and the
    rest would take longer than `PARALLEL_WORTH_SECONDS` here, the rest goes to worker
    processes in chunks (joblib's loky, which suits every platform); otherwise starting them
    would cost more than it saves. Only a few chunks are in flight at once, so memory holds
    a few chunks' results, not the dataset's. Every item is computed with one BLAS and one
    OpenMP thread, here as in a worker, so the results do not depend on which path ran or
    on what other steps run beside it.
    """
    with (progress(description, len(items)) as advance, ONE_BLAS_THREAD,
          threadpool_limits(limits=1)):
        started = None
        for item in items[:CHUNK_FILES]:
            yield from _apply_each(function, [item])
            advance(1)
            started = started or time.perf_counter()  # the first item pays one-off set-up
        rest = items[CHUNK_FILES:]
        timed_items = min(len(items), CHUNK_FILES) - 1
        per_item = (time.perf_counter() - started) / timed_items if timed_items > 0 else 0.0
        if workers <= 1 or per_item * len(rest) < PARALLEL_WORTH_SECONDS:
            for item in rest:
                yield from _apply_each(function, [item])
                advance(1)
            return
        logger.info("%s: about %.0f s of work left, sharing it among %d worker processes",
                    description, per_item * len(rest), workers)
        chunks = [rest[i:i + CHUNK_FILES] for i in range(0, len(rest), CHUNK_FILES)]
        parallel = Parallel(n_jobs=workers, return_as="generator", pre_dispatch="2*n_jobs")
        for results in parallel(delayed(_apply_each)(function, chunk) for chunk in chunks):
            yield from results
            advance(len(results))
