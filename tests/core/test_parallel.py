"""Per-file work in order, with one BLAS thread however the steps overlap."""

import threading

import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from multimodal_fusion.core.parallel import map_in_order


def blas_threads(_item: object = None) -> set[int]:
    return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}


def test_a_step_finishing_first_leaves_an_overlapping_step_on_one_blas_thread():
    """Under ThreadRunner two steps' loops overlap; the second one's remaining files must
    still be computed as its first ones were, or they round differently (README, "Runners")."""
    with threadpool_limits(limits=2, user_api="blas"):
        assert blas_threads() == {2}
        first = map_in_order(blas_threads, [1, 2], 1, "first step")
        second = map_in_order(blas_threads, [1, 2, 3], 1, "second step")
        assert next(first) == (True, {1}) and next(second) == (True, {1})
        assert [result for _, result in first] == [{1}]
        assert [result for _, result in second] == [{1}, {1}]
        assert blas_threads() == {2}, "the last step out restores the user's threads"


def test_steps_overlapping_in_threads_keep_one_blas_thread_until_the_last_one_ends():
    """As under ThreadRunner: the step that started first ends first, while the other is
    still mid-loop; threadpoolctl hands OpenBLAS's control to one thread at a time."""
    users = blas_threads()
    if max(users) < 2:
        pytest.skip("BLAS runs on one thread here anyway")
    first = map_in_order(blas_threads, [1, 2], 1, "first step")
    next(first)
    second_started, first_ended, seen = threading.Event(), threading.Event(), []

    def second_item(item: str) -> set[int]:
        if item == "after":
            first_ended.wait(timeout=30)
        second_started.set()
        return blas_threads()

    second = threading.Thread(target=lambda: seen.extend(
        result for _, result in map_in_order(second_item, ["before", "after"], 1, "second")))
    second.start()
    second_started.wait(timeout=30)
    assert [result for _, result in first] == [{1}]
    first_ended.set()
    second.join(timeout=30)
    assert seen == [{1}, {1}]
    assert blas_threads() == users


def test_a_blas_limit_another_thread_holds_is_warned_of_not_ignored_silently(caplog):
    """threadpoolctl sets OpenBLAS from one thread at a time and ignores the others."""
    if max(blas_threads()) < 2:
        pytest.skip("BLAS runs on one thread here anyway")
    with caplog.at_level("WARNING", logger="multimodal_fusion.core.parallel"):
        assert [result for _, result in map_in_order(blas_threads, [1], 1, "alone")] == [{1}]
        assert not caplog.records, "nothing to warn of when the limit holds"
        holding, release = threading.Event(), threading.Event()

        def hold_openblas() -> None:
            with threadpool_limits(limits=2, user_api="blas"):
                holding.set()
                release.wait(timeout=30)

        holder = threading.Thread(target=hold_openblas)
        holder.start()
        holding.wait(timeout=30)
        try:
            list(map_in_order(blas_threads, [1], 1, "beside a holder"))
        finally:
            release.set()
            holder.join(timeout=30)
    assert "another thread holds OpenBLAS's thread control" in caplog.text
    assert "openblas" in caplog.text
