"""The run lock: one run at a time in a data folder, and who holds it."""

from multimodal_fusion.runs.lock import ProjectLock


def test_the_lock_is_free_again_once_released_and_says_who_holds_it(tmp_path):
    first = ProjectLock(tmp_path)
    first.acquire("kedro run --pipelines=train")
    assert "kedro run --pipelines=train" in first.holder()
    first.release()
    again = ProjectLock(tmp_path)
    again.acquire("kedro run --pipelines=compare")
    assert "compare" in again.holder()
    again.release()
    assert again.holder() == "which run is not recorded"
