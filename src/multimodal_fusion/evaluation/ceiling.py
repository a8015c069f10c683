"""The best accuracy reachable on data whose corruption is known, such as the demo's."""

from __future__ import annotations

import numpy as np

CLEAN = "clean"
CHANCE_GIVEN_NOTHING = 0.1


def accuracy_ceiling(states: dict[str, list[str]], chance: float = CHANCE_GIVEN_NOTHING) -> float:
    """Best reachable accuracy when a sample with any clean modality can be classified and one
    with none can only be guessed, right with probability `chance`.

    `states` holds, per modality, each sample's state (`clean`, or anything else).
    """
    uninformative = np.all([np.array(s) != CLEAN for s in states.values()], axis=0)
    if uninformative.size == 0:
        return float("nan")
    return float(1.0 - (1.0 - chance) * uninformative.mean())


def demo_ceiling(metadata: dict, sample_ids: list[str]) -> float | None:
    """The best accuracy reachable on these demo samples, or None if they are not the demo's.

    The demo's metadata records each sample's modality states; its ten classes make a guess
    right one time in ten.
    """
    states = metadata.get("states", {})
    if not sample_ids or any(s not in states for s in sample_ids):
        return None
    modalities = states[sample_ids[0]].keys()
    return accuracy_ceiling({m: [states[s][m] for s in sample_ids] for m in modalities})
