"""A manifest for a folder of files, so a folder runs as it is. No Kedro.

Layout: `<root>/<stem>.<ext>`, files that share a stem being one sample (`cat.png`,
`cat.wav`, `cat.txt`), or `<root>/<label>/<stem>.<ext>`, the subfolder naming the class.
A `.txt` file's contents are the sample's text. `--params=manifest=<folder>` reads the
folder this way; `python -m multimodal_fusion.contract.importer <folder>` writes it to
`<folder>/manifest.csv`, to look at or edit.
"""

from __future__ import annotations

import argparse
import logging
from collections import Counter, defaultdict
from pathlib import Path

import pandas as pd

from multimodal_fusion.contract.manifest import ManifestError, decode_cell

EXTENSIONS = {
    "image": (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".heic",
              ".heif", ".avif"),
    "audio": (".wav", ".flac", ".ogg", ".mp3", ".opus", ".m4a", ".aac"),
    "text": (".txt",),
}
# Every extension taken, as the messages about what a folder holds list them.
TAKEN = ", ".join(extension for group in EXTENSIONS.values() for extension in group)
# What `main` writes into the folder, which the folder's reader then passes over in silence.
WRITTEN_MANIFEST = "manifest.csv"
logger = logging.getLogger(__name__)


def modality_of(path: Path) -> str | None:
    """The modality a file's extension names, or None for any other file."""
    return next((m for m, extensions in EXTENSIONS.items()
                 if path.suffix.lower() in extensions), None)


def manifest_from_folder(root: str | Path, encoding: str) -> pd.DataFrame:
    """One row per sample: sample_id (the stem, or `<label>/<stem>`), label when the files
    sit in class subfolders, and image, text and audio cells; paths relative to `root`.

    A text file that is not valid in `encoding` is listed in `attrs["undecodable"]`, for
    validation to drop, as `read_manifest` does for a cell.
    """
    root = Path(root)
    samples: dict[tuple[str, str], dict[str, Path]] = defaultdict(dict)
    unread: Counter[str] = Counter()
    too_deep: list[Path] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root)
        kind = modality_of(path)
        if any(part.startswith(".") for part in relative.parts) or (
                relative.as_posix() == WRITTEN_MANIFEST):
            continue
        if kind is None:
            unread[path.suffix.lower() or "no extension"] += 1
            continue
        if len(relative.parts) > 2:
            too_deep.append(relative)
            continue
        label = relative.parts[0] if len(relative.parts) == 2 else ""
        files = samples[(label, path.stem)]
        if kind in files:
            logger.warning("%s and %s are both the %s of sample %r; using the first",
                           files[kind], relative, kind, path.stem)
            continue
        files[kind] = relative
    if not samples:
        raise ManifestError(f"{root} holds no image, audio or text files (extensions {TAKEN}), "
                            "neither directly nor in one level of class subfolders")
    warn_of_files_passed_over(root, unread, too_deep)
    rows, undecodable = [], {}
    for number, ((label, stem), files) in enumerate(sorted(samples.items()), start=1):
        text, reason = ("", None) if "text" not in files else decode_cell(
            (root / files["text"]).read_bytes().decode("latin-1"), encoding)
        if reason:
            undecodable[number] = f"in {files['text']}: {reason}"
        rows.append({"sample_id": f"{label}/{stem}" if label else stem, "label": label,
                     "image": files["image"].as_posix() if "image" in files else "",
                     "text": str(text).strip(),
                     "audio": files["audio"].as_posix() if "audio" in files else ""})
    manifest = pd.DataFrame(rows, index=pd.RangeIndex(1, len(rows) + 1, name="row"))
    if not manifest["label"].any():
        manifest = manifest.drop(columns="label")
    manifest.attrs["source"] = str(root / "manifest.csv")
    manifest.attrs["undecodable"] = {"text": undecodable} if undecodable else {}
    return manifest


def warn_of_files_passed_over(root: Path, unread: Counter[str], too_deep: list[Path]) -> None:
    """Say which files are not samples, so a folder of .mov clips or of photos one folder
    too deep does not vanish from the run unnoticed."""
    if unread:
        logger.warning("%s: %d file(s) of no format the folder reader takes were passed over "
                       "(%s); it takes %s. Convert them, or list them in a manifest.", root,
                       sum(unread.values()), ", ".join(f"{suffix}: {count}" for suffix, count
                                                      in unread.most_common()), TAKEN)
    if too_deep:
        logger.warning("%s: %d file(s) more than one subfolder deep were passed over (%s%s): "
                       "samples sit in the folder or in one level of class subfolders. Move "
                       "them up, or list them in a manifest.", root, len(too_deep),
                       ", ".join(p.as_posix() for p in too_deep[:3]),
                       ", ..." if len(too_deep) > 3 else "")


def main(argv: list[str] | None = None) -> None:
    """Write `<folder>/manifest.csv`, its paths relative to the folder."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--encoding", default="utf-8", help="the text files' encoding")
    arguments = parser.parse_args(argv)
    folder = arguments.folder
    manifest = manifest_from_folder(folder, arguments.encoding)
    manifest.to_csv(folder / "manifest.csv", index=False)
    print(f"{folder / 'manifest.csv'}: {len(manifest)} samples")


if __name__ == "__main__":
    main()
