import pandas as pd
import pytest

from multimodal_fusion.contract.manifest import ManifestError, assign_splits, read_manifest
from multimodal_fusion.modalities import manifest_columns


def write_manifest(folder, rows: list[dict], name: str = "manifest.csv"):
    path = folder / name
    frame = pd.DataFrame(rows)
    if name.endswith(".csv"):
        frame.to_csv(path, index=False)
    elif name.endswith(".tsv"):
        frame.to_csv(path, index=False, sep="\t")
    elif name.endswith(".jsonl"):
        frame.to_json(path, orient="records", lines=True)
    elif name.endswith(".xlsx"):
        frame.to_excel(path, index=False)
    else:
        frame.to_parquet(path)
    return path


@pytest.mark.parametrize("name", ["manifest.csv", "manifest.tsv", "manifest.parquet",
                                  "manifest.jsonl", "manifest.xlsx"])
def test_labels_and_ids_stay_text_and_empty_cells_mean_missing(tmp_path, name):
    path = write_manifest(tmp_path, [
        {"sample_id": "001", "label": "007", "text": "NA, in a sentence", "audio": "",
         "cue": "2.5"},
        {"sample_id": "002", "label": "1", "text": "", "audio": None, "cue": None},
    ], name)
    manifest = read_manifest(path, "utf-8", manifest_columns())
    assert manifest["sample_id"].tolist() == ["001", "002"]
    assert manifest["label"].tolist() == ["007", "1"]
    assert manifest["text"].tolist() == ["NA, in a sentence", ""]
    assert manifest["audio"].tolist() == ["", ""]
    assert manifest["cue"].tolist()[0] == "2.5" and pd.isna(manifest["cue"].tolist()[1])
    assert manifest.index.tolist() == [1, 2]


def test_a_manifest_of_another_format_is_refused_naming_those_read(tmp_path):
    (tmp_path / "manifest.xls").write_bytes(b"old excel")
    with pytest.raises(ManifestError, match=r"must be a \.csv, \.tsv, .*\.jsonl, \.xlsx file"):
        read_manifest(tmp_path / "manifest.xls", "utf-8", manifest_columns())
    (tmp_path / "manifest.jsonl").write_text('{"sample_id": "a", "label": "x"}\nnot json\n')
    with pytest.raises(ManifestError, match="as a JSON Lines table: .*one JSON object"):
        read_manifest(tmp_path / "manifest.jsonl", "utf-8", manifest_columns())


def test_a_cell_in_another_encoding_costs_that_cell_not_the_run(tmp_path):
    path = tmp_path / "manifest.csv"
    path.write_bytes("sample_id,label,text\na,x,caf\xe9\nb,y,ok\n".encode("latin-1"))
    manifest = read_manifest(path, "utf-8", manifest_columns())
    assert manifest["text"].tolist() == ["caf\ufffd", "ok"]
    assert manifest.attrs["undecodable"] == {
        "text": {1: "byte e9 at position 3 is not valid utf-8 text"}}
    again = read_manifest(path, "latin-1", manifest_columns())
    assert again["text"].tolist() == ["caf\xe9", "ok"]


def test_a_utf8_byte_order_mark_is_not_part_of_the_first_column_name(tmp_path):
    path = tmp_path / "manifest.csv"
    path.write_text("sample_id,label,text\na,x,\xfcber\n", encoding="utf-8-sig")
    manifest = read_manifest(path, "utf-8", manifest_columns())
    assert manifest.columns.tolist() == ["sample_id", "label", "text"]
    assert manifest.at[1, "text"] == "\xfcber"


@pytest.mark.parametrize("content, fragment", [
    (b"", "is empty: a manifest needs a header row"),
    (b"sample_id,label,text\n", "has a header but no rows"),
    (b"sample_id,label\na,x\nb,y,z\n", "Expected 2 fields in line 3, saw 3.*quoted"),
])
def test_an_empty_or_malformed_manifest_gives_one_clear_message(tmp_path, content, fragment):
    path = tmp_path / "manifest.csv"
    path.write_bytes(content)
    with pytest.raises(ManifestError, match=fragment):
        read_manifest(path, "utf-8", manifest_columns())


def test_split_is_stratified_reproducible_and_sized_by_parameters():
    manifest = pd.DataFrame({"sample_id": [str(i) for i in range(200)],
                             "label": ["a", "b", "c", "d"] * 50})
    first = assign_splits(manifest, test_size=0.2, val_size=0.1, seed=3)
    again = assign_splits(manifest, test_size=0.2, val_size=0.1, seed=3)
    assert first["split"].tolist() == again["split"].tolist()
    assert first["split"].value_counts().to_dict() == {"train": 140, "test": 40, "val": 20}
    per_class = first[first["split"] == "test"]["label"].value_counts()
    assert per_class.to_dict() == {"a": 10, "b": 10, "c": 10, "d": 10}


def test_a_complete_split_column_is_kept():
    manifest = pd.DataFrame({"sample_id": ["1", "2", "3"], "label": ["a", "a", "b"],
                             "split": ["test", "train", "val"]})
    assert assign_splits(manifest, 0.2, 0.1, seed=0)["split"].tolist() == ["test", "train", "val"]


def test_a_split_too_small_to_hold_every_class_is_drawn_unstratified(caplog):
    manifest = pd.DataFrame({"sample_id": [str(i) for i in range(30)],
                             "label": [str(i % 10) for i in range(30)]})
    split = assign_splits(manifest, test_size=0.2, val_size=0.1, seed=0)
    assert split["split"].value_counts().to_dict() == {"train": 21, "test": 6, "val": 3}
    assert "Splitting without stratification" in caplog.text
