"""Texts: cleaning, and every extractor fitted on the training texts only."""

import json

import numpy as np
import pytest

from helpers import manifest_of, typed
from multimodal_fusion.modalities.text import (
    TextPreprocessing,
    TextSettings,
    clean_texts,
    fit_text_features,
    text_features,
)


def features(**changes) -> TextSettings:
    """The project's text feature settings, these changed."""
    return typed(TextSettings, "text.features", **changes)


def cleaning(**changes) -> TextPreprocessing:
    """The project's text cleaning settings, these changed."""
    return typed(TextPreprocessing, "text.preprocessing", **changes)

def test_tfidf_vocabulary_comes_from_training_texts_only():
    settings = features(extractor="tfidf", analyzers=["char"], min_df=1, ngram_min=3,
                            ngram_max=3)
    state = fit_text_features(["seven", "sieben"], settings)
    fitted = state["tfidf"]["char"]
    assert "sev" in fitted["vocabulary"]
    assert "eig" not in fitted["vocabulary"]
    table = text_features(manifest_of("text", ["Seven!", "", "eight"]), state)
    assert table["values"].shape == (3, len(fitted["idf"]))
    assert table["present"].tolist() == [True, False, True]
    assert np.isfinite(table["values"]).all()
    assert table["values"][0].any()
    assert not table["values"][1].any()


def test_text_is_unicode_normalised_and_case_folded_when_cleaned():
    assert clean_texts(["NÚMERO", "nu\u0301mero", " Straße  zwei "], cleaning()) == [
        "número", "número", "strasse zwei"]


def test_stop_words_and_word_ngrams_reach_tfidf():
    texts = clean_texts(["the digit is seven", "the digit is two"],
                        cleaning(stop_words="english"))
    state = fit_text_features(texts, features(extractor="tfidf", analyzers=["char", "word"],
                                                   min_df=1))
    assert "the" not in state["tfidf"]["word"]["vocabulary"]
    assert "digit seven" in state["tfidf"]["word"]["vocabulary"]
    table = text_features(manifest_of("text", ["digit seven", ""]), state)
    width = sum(len(fitted["idf"]) for fitted in state["tfidf"].values())
    assert table["values"].shape == (2, width)
    assert table["values"][0].any() and not table["values"][1].any()


def test_own_stop_words_are_normalised_like_the_text():
    own = cleaning(stop_words=["The", "IS"])
    assert clean_texts(["The digit, is SEVEN.", ""], own) == ["digit seven", ""]


def test_a_misspelt_text_setting_lists_the_choices():
    with pytest.raises(ValueError, match="unknown text extractor 'bert'.*tfidf, tokens, word2vec"):
        fit_text_features(["a"], features(extractor="bert"))
    with pytest.raises(ValueError, match="analyzers \\['chars'\\].*char, word"):
        fit_text_features(["a"], features(analyzers=["chars"]))
    with pytest.raises(ValueError, match="stop_words 'german'"):
        clean_texts(["a"], cleaning(stop_words="german"))


def test_word2vec_averages_vectors_learnt_from_training_texts_and_repeats_under_a_seed():
    texts = ["the digit seven", "the number seven", "the digit two", "the number two"] * 5
    settings = features(extractor="word2vec", min_df=1, vector_size=8, epochs=5)
    state = fit_text_features(texts, settings, seed=3)
    assert set(state["word_vectors"]) == {"the", "digit", "number", "seven", "two"}
    manifest = manifest_of("text", ["seven digit", "", "unknown words only"])
    table = text_features(manifest, state)
    assert table["values"].shape == (3, 8) and str(table["encoder"]) == "mlp"
    expected = np.mean([state["word_vectors"]["seven"], state["word_vectors"]["digit"]], axis=0)
    np.testing.assert_allclose(table["values"][0], expected, atol=1e-6)
    assert table["present"].tolist() == [True, False, True]
    assert not table["values"][1].any() and not table["values"][2].any()
    assert fit_text_features(texts, settings, seed=3) == state
    assert fit_text_features(texts, settings, seed=4) != state


def test_minilm_gives_frozen_deterministic_sentence_vectors_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    state = fit_text_features(["unused"], features(extractor="minilm"))
    manifest = manifest_of("text", ["the digit seven", "", "the number seven", "a red car"])
    table = text_features(manifest, state)
    values = table["values"]
    assert values.shape == (4, 384) and np.isfinite(values).all()
    np.testing.assert_allclose(np.linalg.norm(values[[0, 2, 3]], axis=1), 1.0, atol=1e-5)
    assert not values[1].any()
    assert values[0] @ values[2] > values[0] @ values[3]
    np.testing.assert_array_equal(text_features(manifest, state)["values"], values)


def test_tokens_are_word_ids_from_the_training_vocabulary():
    state = fit_text_features(["the digit is seven", "the digit is two"],
                              features(extractor="tokens", min_df=1, max_tokens=5))
    table = text_features(manifest_of("text", ["the digit is nine", "", "seven " * 9]), state)
    assert table["values"].dtype == np.int64 and table["values"].shape == (3, 5)
    vocabulary = state["vocabulary"]
    assert table["values"][0].tolist() == [vocabulary["the"], vocabulary["digit"],
                                           vocabulary["is"], 1, 0]
    assert table["values"][1].tolist() == [0] * 5
    assert table["values"][2].tolist() == [vocabulary["seven"]] * 5
    assert str(table["encoder"]) == "embedding_bag"
    assert json.loads(str(table["encoder_options"])) == {"vocab_size": len(vocabulary) + 2}


def test_joined_text_extractors_give_their_vectors_side_by_side():
    texts = ["the digit is seven", "the digit is two", "a frog"]
    settings = features(extractor="tfidf+minilm", analyzers=["char"], min_df=1)
    state = fit_text_features(texts, settings)
    table = text_features(manifest_of("text", ["a frog", ""]), state)
    tfidf_alone = fit_text_features(texts, features(extractor="tfidf", analyzers=["char"],
                                                        min_df=1))
    width = table["values"].shape[1] - 384
    np.testing.assert_allclose(
        table["values"][0, :width],
        text_features(manifest_of("text", ["a frog"]), tfidf_alone)["values"][0])
    assert np.linalg.norm(table["values"][0, width:]) == pytest.approx(1.0, rel=1e-4)
    assert table["present"].tolist() == [True, False] and not table["values"][1].any()
    with pytest.raises(ValueError, match="join vector extractors with"):
        fit_text_features(texts, features(extractor="tokens+minilm"))
