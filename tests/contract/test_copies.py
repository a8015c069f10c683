"""Copies of one sample: found by content, kept on one side of a drawn split, warned of."""

import shutil

import pandas as pd
from PIL import Image

from multimodal_fusion.contract.copies import first_copies, warn_of_copies
from multimodal_fusion.contract.manifest import assign_splits
from multimodal_fusion.contract.quarantine import ColumnRule

RULES = [ColumnRule("image", "image", check_file=lambda path, limits: None),
         ColumnRule("text", "text")]


def photos(folder, count: int) -> list[str]:
    """`count` different images, and the first saved again under another name."""
    paths = []
    for shade in range(count):
        Image.new("L", (4, 4), shade * 20).save(folder / f"{shade}.png")
        paths.append(str(folder / f"{shade}.png"))
    shutil.copy(paths[0], folder / "saved-twice.png")
    return [*paths, str(folder / "saved-twice.png")]


def manifest_of(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="row")
    return frame


def test_a_copy_is_the_same_cells_and_file_bytes_whatever_the_file_name(tmp_path):
    one, two, three, again = photos(tmp_path, 3)
    manifest = manifest_of([
        {"image": one, "text": "a cat"}, {"image": two, "text": "a cat"},
        {"image": again, "text": "a cat"}, {"image": one, "text": "a dog"},
        {"image": "", "text": "a cat"}, {"image": "", "text": "a cat"},
        {"image": three, "text": ""}])
    assert first_copies(manifest, RULES, tmp_path / "cache").tolist() == [1, 2, 1, 4, 5, 5, 7]


def test_copies_go_where_their_first_goes_and_a_split_without_copies_is_unchanged(tmp_path):
    labels = ["a", "b", "c", "d"] * 50
    manifest = manifest_of([{"sample_id": str(i), "label": label, "text": f"sample {i}"}
                            for i, label in enumerate(labels)])
    alone = first_copies(manifest, RULES, None)
    assert (assign_splits(manifest, 0.2, 0.1, 3, alone)["split"].tolist()
            == assign_splits(manifest, 0.2, 0.1, 3)["split"].tolist())
    manifest.loc[150:, "text"] = "one sentence pasted fifty times"
    split = assign_splits(manifest, 0.2, 0.1, 3, first_copies(manifest, RULES, None))
    assert split.loc[150:, "split"].nunique() == 1
    assert split.loc[:149, "split"].value_counts().to_dict().keys() == {"train", "val", "test"}


def test_copies_with_two_labels_or_in_two_given_splits_are_warned_of_with_rows(caplog):
    manifest = manifest_of([
        {"label": "cat", "split": "train", "text": "a photo"},
        {"label": "dog", "split": "train", "text": "a photo"},
        {"label": "cat", "split": "train", "text": "whiskers"},
        {"label": "cat", "split": "test", "text": "whiskers"},
        {"label": "cat", "split": "test", "text": "only once"}])
    warn_of_copies(manifest, first_copies(manifest, RULES, None))
    assert ("1 sample(s) held more than once carry different labels (rows 1 (cat, train), "
            "2 (dog, train))") in caplog.text
    assert ("1 sample(s) held more than once sit in more than one split (rows 3 (cat, "
            "train), 4 (cat, test))") in caplog.text
    assert "only once" not in caplog.text


def test_a_class_of_too_few_distinct_samples_is_split_by_rows_with_a_warning(caplog):
    manifest = manifest_of([{"sample_id": str(i), "label": label, "text": text}
                            for i, (label, text) in enumerate(
                                [("a", f"a{i}") for i in range(10)] + [("b", "same")] * 10)])
    split = assign_splits(manifest, 0.2, 0.2, 0, first_copies(manifest, RULES, None))
    assert set(split.loc[split["label"] == "b", "split"]) == {"train", "val", "test"}
    assert "class 'b' has 1 distinct sample(s), under the 3 a split needs" in caplog.text
