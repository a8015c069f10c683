"""A request to a served model, turned into a manifest that the inference steps can read.

One row per sample: `sample_id` (optional), text inline, images and audio as base64 bytes,
tabular columns by name; an empty or absent field is a missing modality. The bytes are
written into a folder private to the request and the manifest names those files, so a
request can never make the server read a file of its own: a file field that looks like a
path is refused, whatever it names. No Kedro, no MLflow.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from multimodal_fusion.contract.manifest import text_cells
from multimodal_fusion.contract.quarantine import ColumnRule
from multimodal_fusion.core.config import typed_settings

# What a path or URL looks like, and base64 never does: a scheme, a home, a drive letter,
# a dot segment, or a file name's extension.
PATH_LIKE = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*://|file:|~|[a-zA-Z]:[\\/]|\.{1,2}[\\/])"
                       r"|[\\/]\.{1,2}([\\/]|$)|\.[a-zA-Z0-9]{2,5}$")
# Each file's first bytes name its format, for the file the decoders are given.
SIGNATURES = ((b"\x89PNG", ".png"), (b"\xff\xd8\xff", ".jpg"), (b"GIF8", ".gif"),
              (b"BM", ".bmp"), (b"II*\x00", ".tif"), (b"MM\x00*", ".tif"), (b"fLaC", ".flac"),
              (b"OggS", ".ogg"), (b"ID3", ".mp3"), (b"\xff\xfb", ".mp3"), (b"\xff\xf3", ".mp3"),
              (b"\xff\xf1", ".aac"), (b"\xff\xf9", ".aac"))
RIFF_KINDS = {b"WAVE": ".wav", b"WEBP": ".webp"}
# ISO base media files (HEIC, AVIF, M4A) name their format by the brand after `ftyp`.
FTYP_BRANDS = {b"heic": ".heic", b"heix": ".heic", b"hevc": ".heic", b"heim": ".heic",
               b"heis": ".heic", b"mif1": ".heic", b"msf1": ".heic", b"avif": ".avif",
               b"avis": ".avif", b"M4A ": ".m4a"}
# The formats a file field of each modality may carry, by the extension its bytes name.
FORMATS = {"image": (".png", ".jpg", ".gif", ".bmp", ".tif", ".webp", ".heic", ".avif"),
           "audio": (".wav", ".flac", ".ogg", ".mp3", ".m4a", ".aac")}


class RequestError(ValueError):
    """A request the model cannot answer; the message names the field and the fix."""


@dataclass(frozen=True)
class ServingSettings:
    """What one request may ask of the server; see parameters_serving.yml."""

    max_samples: int
    max_image_pixels: int
    max_audio_seconds: float
    registered_model: str | None

    def __post_init__(self) -> None:
        if self.max_samples < 1:
            raise ValueError("serving.max_samples must be 1 or more")


def serving_settings(values: dict) -> ServingSettings:
    """The `serving` parameters, checked."""
    return typed_settings(ServingSettings, values, "serving")


def request_manifest(request: pd.DataFrame, rules: list[ColumnRule], folder: Path,
                     settings: ServingSettings) -> pd.DataFrame:
    """The request as a manifest (every cell a string, empty meaning missing), its files
    written under `folder`; a RequestError for what no sample of it could be answered with."""
    if request.empty:
        raise RequestError("the request has no rows: send one row per sample, e.g. "
                           '{"dataframe_records": [{"text": "..."}]}')
    if len(request) > settings.max_samples:
        raise RequestError(f"the request has {len(request)} rows; send at most "
                           f"{settings.max_samples} a request (serving.max_samples)")
    known = {"sample_id", *(rule.column for rule in rules)}
    unknown = [str(c) for c in request.columns if c not in known]
    if unknown:
        raise RequestError(f"unknown field {', '.join(map(repr, unknown))}: this model reads "
                           f"{', '.join(sorted(known))}; remove the field or rename it")
    manifest = pd.DataFrame({c: text_cells(request[c]).tolist() for c in request.columns})
    if "sample_id" not in manifest.columns:
        manifest.insert(0, "sample_id", [str(i) for i in range(len(manifest))])
    fields = [c for c in manifest.columns if c != "sample_id"]
    for position, (sample, *cells) in enumerate(manifest[["sample_id", *fields]].itertuples(
            index=False)):
        if not any(cells):
            raise RequestError(f"row {position} (sample_id {sample!r}) has no modality: give "
                               f"it at least one of {', '.join(sorted(known - {'sample_id'}))}")
    folder.mkdir(parents=True, exist_ok=True)
    for rule in rules:
        if rule.check_file is not None and rule.column in manifest.columns:
            manifest[rule.column] = [
                write_bytes(cell, folder, f"{position}-{rule.column}", rule, position)
                for position, cell in enumerate(manifest[rule.column])]
    manifest.index = pd.RangeIndex(len(manifest), name="row")
    manifest.attrs["source"] = str(folder / "request.csv")
    manifest.attrs["undecodable"] = {}
    return manifest


def write_bytes(cell: str, folder: Path, stem: str, rule: ColumnRule, row: int) -> str:
    """The file that `cell`'s base64 bytes become (its name only); '' for an empty cell."""
    if not cell:
        return ""
    field = rule.column
    path_like = RequestError(f"row {row}, field {field!r} looks like a file path or URL: the "
                             "server never reads files; send the file's bytes, base64-encoded")
    if PATH_LIKE.search(cell):
        raise path_like
    try:
        data = base64.b64decode(cell, validate=True)
    except (binascii.Error, ValueError):
        if cell.startswith(("/", "\\")):  # base64 may start with '/', but then it decodes
            raise path_like from None
        raise RequestError(f"row {row}, field {field!r} is not valid base64: send the file's "
                           "bytes base64-encoded (standard alphabet, with padding), e.g. "
                           "`base64 -w0 file`") from None
    suffix, accepted = file_suffix(data), FORMATS.get(rule.modality, ())
    if accepted and suffix not in accepted:
        raise RequestError(f"row {row}, field {field!r} decodes to bytes of no format it takes "
                           f"({', '.join(s[1:].upper() for s in accepted)}): send the bytes "
                           "of such a file, base64-encoded")
    (folder / (stem + suffix)).write_bytes(data)
    return stem + suffix


def file_suffix(data: bytes) -> str:
    """The extension the bytes' format is known by, or '' for a format the decoders sniff."""
    if data[:4] == b"RIFF":
        return RIFF_KINDS.get(data[8:12], "")
    if data[4:8] == b"ftyp":
        return FTYP_BRANDS.get(data[8:12], "")
    return next((suffix for signature, suffix in SIGNATURES if data.startswith(signature)), "")
