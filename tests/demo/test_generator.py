import numpy as np
import pytest

from helpers import typed
from multimodal_fusion.demo.generator import (
    CORRUPTED,
    MISSING,
    DemoSettings,
    build_demo,
    draw_modality_states,
    make_sentence,
)
from multimodal_fusion.evaluation.ceiling import CLEAN, accuracy_ceiling

SENTENCE_WORDS = ("sieben", "seven", "sept", "siete", "sette", "sete", "zeven")


def demo_settings(**changes) -> DemoSettings:
    """The project's demo settings, these changed."""
    return typed(DemoSettings, "demo_data", **changes)

@pytest.fixture(scope="module")
def demo():
    """A plan of 3,000 samples: manifest and metadata only, no file is rendered."""
    return build_demo(demo_settings(n_samples=3000, corruption_p=0.4, missing_p=0.05, seed=1))


def test_manifest_follows_the_data_contract(demo):
    manifest = demo.manifest
    assert list(manifest.columns[:5]) == ["sample_id", "label", "image", "text", "audio"]
    assert manifest["sample_id"].is_unique
    assert set(manifest["label"]) == {str(d) for d in range(10)}
    images = manifest["image"][manifest["image"] != ""]
    assert images.str.fullmatch(r"images/\d{5}\.png").all()
    assert set(images.str[7:12]) == set(demo.images)
    assert set(demo.audio) == set(manifest["audio"][manifest["audio"] != ""].str[6:11])


def test_each_modality_is_corrupted_at_close_to_p_independently(demo):
    states = demo.metadata["states"]
    for modality in ("image", "text", "audio"):
        corrupted = np.mean([s[modality] == CORRUPTED for s in states.values()])
        missing = np.mean([s[modality] == MISSING for s in states.values()])
        assert corrupted == pytest.approx(0.4, abs=0.03)
        assert missing == pytest.approx(0.05, abs=0.015)
    all_bad = np.mean([all(v != CLEAN for v in s.values()) for s in states.values()])
    assert all_bad == pytest.approx(0.45**3, abs=0.02)


def test_missing_modalities_are_empty_cells(demo):
    states = demo.metadata["states"]
    for row in demo.manifest.head(300).itertuples():
        for modality in ("image", "text", "audio"):
            assert (getattr(row, modality) == "") == (states[row.sample_id][modality] == MISSING)


def test_ceiling_at_the_default_p_is_about_094():
    rng = np.random.default_rng(0)
    assert accuracy_ceiling(draw_modality_states(20_000, 0.4, 0.0, rng)) == pytest.approx(
        1 - 0.9 * 0.4**3, abs=0.01)


def test_corrupted_text_loses_the_number_word():
    rng = np.random.default_rng(3)
    for _ in range(50):
        text, _ = make_sentence(7, corrupted=True, rng=rng)
        assert not any(word in text.lower() for word in SENTENCE_WORDS)


def test_rendered_files_differ_between_clean_and_corrupted(tmp_path):
    demo = build_demo(demo_settings(n_samples=40, corruption_p=0.5, seed=2))
    states = demo.metadata["states"]
    stems = {s: f"{i:05d}" for i, s in enumerate(demo.manifest["sample_id"])}
    clean = [stems[s] for s, st in states.items() if st["image"] == CLEAN]
    broken = [stems[s] for s, st in states.items() if st["image"] == CORRUPTED]
    clean_image = np.asarray(demo.images[clean[0]]())
    assert clean_image.shape == (32, 32)
    # a clean digit is mostly dark background; noise and rubble are not
    assert np.mean(clean_image < 40) > 0.4
    assert np.mean(np.asarray(demo.images[broken[0]]()) < 40) < 0.4
    samples, rate = demo.audio[clean[0]]()
    assert rate == 22_050 and samples.dtype == np.float32
    assert 0.3 < len(samples) / rate < 3.0 and np.abs(samples).max() <= 1.0


def test_a_larger_count_reuses_images_with_new_text(demo):
    assert len(demo.manifest) == 3000
    assert demo.manifest["text"].nunique() > 1000


def test_the_tabular_option_adds_a_cue_that_carries_the_digit_and_keeps_the_rest():
    plain = build_demo(demo_settings(n_samples=400, missing_p=0.1, seed=4))
    demo = build_demo(demo_settings(n_samples=400, missing_p=0.1, tabular=True, seed=4))
    assert "cue" not in plain.manifest.columns
    shared = list(plain.manifest.columns)
    assert demo.manifest[shared].equals(plain.manifest)
    states = demo.metadata["states"]
    tabular = np.array([states[s]["tabular"] for s in demo.manifest["sample_id"]])
    read = demo.manifest["cue"].replace("", "nan").astype(float).round()
    right = read == demo.manifest["label"].astype(float)
    assert right[tabular == CLEAN].mean() > 0.97 and right[tabular == CORRUPTED].mean() < 0.3
    assert set(demo.manifest["cue_band"][tabular == CLEAN]) == {"low", "mid", "high", ""}
    missing = demo.manifest[tabular == MISSING]
    assert len(missing) > 10 and (missing["cue"] == "").all() and (missing["cue_band"] == "").all()
    uninformative = np.mean([all(v != CLEAN for v in s.values()) for s in states.values()])
    assert demo.metadata["ceiling"] == pytest.approx(1 - 0.9 * uninformative)
