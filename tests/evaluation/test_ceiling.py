import pytest

from multimodal_fusion.evaluation.ceiling import CLEAN, accuracy_ceiling, demo_ceiling

CORRUPTED, MISSING = "corrupted", "missing"


def test_ceiling_is_one_minus_nine_tenths_of_the_hopeless_share():
    states = {"image": [CLEAN, CORRUPTED, CORRUPTED, MISSING],
              "text": [CORRUPTED, CORRUPTED, CLEAN, CORRUPTED],
              "audio": [CORRUPTED, CORRUPTED, CORRUPTED, MISSING]}
    assert accuracy_ceiling(states) == pytest.approx(1 - 0.9 * 2 / 4)
    assert accuracy_ceiling(states, chance=0.5) == pytest.approx(1 - 0.5 * 2 / 4)


def test_demo_ceiling_counts_every_recorded_modality_and_only_demo_samples():
    metadata = {"states": {"a": {"image": CLEAN, "tabular": CORRUPTED},
                           "b": {"image": CORRUPTED, "tabular": CLEAN},
                           "c": {"image": MISSING, "tabular": CORRUPTED}}}
    assert demo_ceiling(metadata, ["a", "b", "c"]) == pytest.approx(1 - 0.9 / 3)
    assert demo_ceiling(metadata, ["a", "z"]) is None
    assert demo_ceiling({}, ["a"]) is None
