"""Build the embedded demo: digit images, spoken digit names and sentences, each corruptible.

Every modality of every sample is corrupted independently with probability `corruption_p`,
so no single modality suffices and fusion has real work to do. The corruption mask is known,
so the best reachable accuracy (the ceiling) is known too and is recorded in the metadata.
Each sample draws from its own seeded generator, so the output does not depend on the order
in which samples are produced.

With `tabular`, each sample also gets a fourth modality, two manifest columns: `cue`, the
digit plus a little noise (a number), and `cue_band`, low, mid or high (a category, empty
one time in five). Corrupted, both are random; missing, both are empty. It is off by
default, so the demo keeps its three modalities and its ceiling.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from num2words import num2words
from PIL import Image
from sklearn.datasets import load_digits

from multimodal_fusion.core.progress import track
from multimodal_fusion.demo.speech import SAMPLE_RATE, EspeakSynthesizer
from multimodal_fusion.evaluation.ceiling import CLEAN, accuracy_ceiling

MODALITIES = ("image", "text", "audio")
CORRUPTED, MISSING = "corrupted", "missing"
CUE_NOISE = 0.2
BANDS = {"low": range(0, 4), "mid": range(4, 7), "high": range(7, 10)}
BAND_EMPTY_P = 0.2

SENTENCES = {
    "en": ["the digit is {word}", "I wrote {word} on the card", "this one shows {word}"],
    "fr": ["le chiffre est {word}", "j'ai écrit {word} sur la carte", "on voit {word} ici"],
    "de": ["die Ziffer ist {word}", "ich schrieb {word} auf die Karte", "hier steht {word}"],
    "es": ["el dígito es {word}", "escribí {word} en la tarjeta", "aquí se ve {word}"],
    "it": ["la cifra è {word}", "ho scritto {word} sul foglio", "qui si vede {word}"],
    "pt": ["o dígito é {word}", "escrevi {word} no cartão", "aqui vemos {word}"],
    "nl": ["het cijfer is {word}", "ik schreef {word} op de kaart", "hier staat {word}"],
}
# Breathy voices (en+f2, f3, f5) mix in noise that differs from run to run; they are left out
# so that one seed always gives byte-identical audio.
VOICES = (
    "en+m1", "en+m2", "en+m3", "en+m4", "en+m5", "en+m6", "en+m7", "en+m8", "en+f1", "en+f4",
    "en+Alex", "en+Andy", "en+Annie", "en+Mike", "en+david", "en+john", "en+klatt",
    "en+klatt2", "en+linda", "en+max",
)
TYPO_RATE = 0.04


@dataclass(frozen=True)
class DemoSettings:
    """What shapes the demo; `seed` is the project's one seed."""

    n_samples: int
    corruption_p: float
    missing_p: float
    image_size: int
    tabular: bool
    seed: int


@dataclass
class DemoDataset:
    """The demo's manifest and metadata, with files produced lazily, one sample at a time.

    `images` and `audio` map a partition name (the file stem) to a callable that renders
    that one file, so a large demo never sits in memory whole.
    """

    manifest: pd.DataFrame
    metadata: dict
    images: dict[str, Callable[[], Image.Image]]
    audio: dict[str, Callable[[], tuple[np.ndarray, int]]]


def draw_modality_states(n_samples: int, corruption_p: float, missing_p: float,
                         rng: np.random.Generator,
                         modalities: tuple[str, ...] = MODALITIES) -> dict[str, list[str]]:
    """Per modality, each sample is missing, corrupted or clean, independently."""
    if not 0.0 <= corruption_p <= 1.0 or not 0.0 <= missing_p <= 1.0:
        raise ValueError("corruption_p and missing_p must lie in [0, 1]")
    states = {}
    for modality in modalities:
        draw = rng.random(n_samples)
        states[modality] = np.where(
            draw < missing_p, MISSING, np.where(draw < missing_p + corruption_p, CORRUPTED, CLEAN)
        ).tolist()
    return states


def add_typos(text: str, rng: np.random.Generator, rate: float = TYPO_RATE) -> str:
    """Drop, double or swap letters now and then, as hurried typing does."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        kind = rng.integers(3) if char.isalpha() and rng.random() < rate else None
        if kind == 0:
            i += 1
        elif kind == 1:
            out += [char, char]
            i += 1
        elif kind == 2 and i + 1 < len(text):
            out += [text[i + 1], char]
            i += 2
        else:
            out.append(char)
            i += 1
    return "".join(out)


def make_sentence(digit: int, corrupted: bool, rng: np.random.Generator) -> tuple[str, str]:
    """A sentence naming `digit` in a random language; corrupted sentences lose the word."""
    language = sorted(SENTENCES)[rng.integers(len(SENTENCES))]
    templates = SENTENCES[language]
    template = templates[rng.integers(len(templates))]
    word = "" if corrupted else num2words(digit, lang=language)
    sentence = " ".join(template.format(word=word).split())
    return add_typos(sentence, rng), language


def render_image(pixels: np.ndarray, size: int, corrupted: bool,
                 rng: np.random.Generator) -> Image.Image:
    """Upscale an 8x8 digit to `size` pixels; a corrupted image is noise or blocky rubble."""
    if corrupted:
        if rng.random() < 0.5:
            noise = rng.integers(0, 256, (size, size), dtype=np.uint8)
            return Image.fromarray(noise, mode="L")
        blocks = rng.integers(0, 256, (4, 4), dtype=np.uint8)
        return Image.fromarray(blocks, mode="L").resize((size, size), Image.Resampling.NEAREST)
    grey = (pixels.reshape(8, 8) * (255.0 / 16.0)).astype(np.uint8)
    image = Image.fromarray(grey, mode="L").resize((size, size), Image.Resampling.BICUBIC)
    dy, dx = rng.integers(0, 5, 2)
    shifted = np.pad(np.asarray(image), 2)[dy:dy + size, dx:dx + size]
    speckle = rng.normal(0.0, 8.0, shifted.shape)
    return Image.fromarray(np.clip(shifted + speckle, 0, 255).astype(np.uint8), mode="L")


def tabular_cells(digit: int, state: str, rng: np.random.Generator) -> dict[str, str]:
    """The `cue` and `cue_band` cells: the digit, noisy but readable when clean; random
    when corrupted; empty when missing."""
    if state == MISSING:
        return {"cue": "", "cue_band": ""}
    value = digit + rng.normal(0.0, CUE_NOISE) if state == CLEAN else rng.uniform(-1.0, 10.0)
    band = next(name for name, digits in BANDS.items() if digit in digits)
    if state == CORRUPTED:
        band = sorted(BANDS)[rng.integers(len(BANDS))]
    return {"cue": f"{value:.2f}", "cue_band": "" if rng.random() < BAND_EMPTY_P else band}


def speak_digit(synth: EspeakSynthesizer, digit: int, corrupted: bool,
                rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """The digit's English name in a varied voice, padded with silence, over background noise.

    A corrupted clip is drowned: the noise sits 25 dB above the speech. Returns the samples
    and their rate, the pair an audio file is saved from.
    """
    voice = VOICES[rng.integers(len(VOICES))]
    rate, pitch = int(rng.integers(120, 221)), int(rng.integers(25, 76))
    speech = synth.speak(num2words(digit, lang="en"), voice, rate, pitch)
    lead, tail = (rng.uniform(0.05, 0.35, 2) * SAMPLE_RATE).astype(int)
    clip = np.concatenate([np.zeros(lead), speech, np.zeros(tail)])
    clip *= rng.uniform(0.3, 0.9) / max(np.abs(clip).max(), 1e-6)
    snr_db = -25.0 if corrupted else rng.uniform(10.0, 30.0)
    speech_power = np.mean(clip**2)
    noise = rng.normal(0.0, np.sqrt(speech_power / 10 ** (snr_db / 10)), clip.shape)
    mixed = clip + noise
    return (mixed / max(1.0, np.abs(mixed).max())).astype(np.float32), SAMPLE_RATE


def build_demo(settings: DemoSettings) -> DemoDataset:
    """Plan every sample (labels, corruption, text) now; render images and audio on demand."""
    digits = load_digits()
    rng = np.random.default_rng(settings.seed)
    order = rng.permutation(len(digits.target))
    source = order[np.arange(settings.n_samples) % len(order)]
    modalities = (*MODALITIES, "tabular") if settings.tabular else MODALITIES
    states = draw_modality_states(
        settings.n_samples, settings.corruption_p, settings.missing_p, rng, modalities
    )
    synth = EspeakSynthesizer()
    rows, images, audio = [], {}, {}
    for i, image_index in enumerate(source):
        sample_rng = np.random.default_rng([settings.seed, i])
        text_rng, image_rng, audio_rng, tabular_rng = sample_rng.spawn(4)
        digit = int(digits.target[image_index])
        stem = f"{i:05d}"
        text_state, image_state, audio_state = (states[m][i] for m in ("text", "image", "audio"))
        text, language = make_sentence(digit, text_state == CORRUPTED, text_rng)
        rows.append({
            "sample_id": f"digit-{stem}",
            "label": str(digit),
            "image": "" if image_state == MISSING else f"images/{stem}.png",
            "text": "" if text_state == MISSING else text,
            "audio": "" if audio_state == MISSING else f"audio/{stem}.wav",
            "language": language,
            **(tabular_cells(digit, states["tabular"][i], tabular_rng) if settings.tabular
               else {}),
        })
        if image_state != MISSING:
            images[stem] = partial(render_image, digits.data[image_index], settings.image_size,
                                     image_state == CORRUPTED, image_rng)
        if audio_state != MISSING:
            audio[stem] = partial(speak_digit, synth, digit, audio_state == CORRUPTED, audio_rng)
    manifest = pd.DataFrame(rows)
    metadata = {
        "settings": asdict(settings),
        "sample_rate": SAMPLE_RATE,
        "ceiling": accuracy_ceiling(states),
        "states": {
            sample_id: {m: states[m][i] for m in modalities}
            for i, sample_id in enumerate(manifest["sample_id"])
        },
    }
    return DemoDataset(manifest=manifest, metadata=metadata, images=images, audio=audio)


def write_demo(demo: DemoDataset, folder: Path) -> None:
    """The demo's files in `folder`: images, audio and metadata first, rendered one at a time,
    then the manifest, so that a build cut short leaves no manifest to trust."""
    (folder / "manifest.csv").unlink(missing_ok=True)
    for kind in ("images", "audio"):
        shutil.rmtree(folder / kind, ignore_errors=True)
        (folder / kind).mkdir(parents=True)
    for stem, render in track(demo.images.items(), "demo images"):
        render().save(folder / "images" / f"{stem}.png")
    for stem, speak in track(demo.audio.items(), "demo audio"):
        samples, rate = speak()
        sf.write(folder / "audio" / f"{stem}.wav", samples, rate, subtype="PCM_16")
    (folder / "metadata.json").write_text(json.dumps(demo.metadata), encoding="utf-8")
    demo.manifest.to_csv(folder / "manifest.csv", index=False)
