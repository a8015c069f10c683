import pandas as pd
import pytest

from multimodal_fusion.manifest import (
    ManifestError,
    assign_splits,
    read_manifest,
    resolve_file_paths,
    validate_manifest,
)


def write_manifest(folder, rows: list[dict], name: str = "manifest.csv"):
    path = folder / name
    frame = pd.DataFrame(rows)
    if name.endswith(".csv"):
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path)
    return path


def load(path):
    return resolve_file_paths(read_manifest(path), path.parent)


def test_labels_and_ids_stay_text_and_empty_cells_mean_missing(tmp_path):
    path = write_manifest(tmp_path, [
        {"sample_id": "001", "label": "007", "text": "NA", "audio": ""},
        {"sample_id": "002", "label": "1", "text": "", "audio": ""},
    ])
    manifest = read_manifest(path)
    assert manifest["sample_id"].tolist() == ["001", "002"]
    assert manifest["label"].tolist() == ["007", "1"]
    assert manifest["text"].tolist() == ["NA", ""]
    assert manifest.index.tolist() == [1, 2]


def test_relative_paths_count_from_the_manifest_folder(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.png").write_bytes(b"x")
    path = write_manifest(tmp_path, [{"sample_id": "a", "label": "x", "image": "images/a.png"}],
                          name="manifest.parquet")
    manifest = load(path)
    assert manifest.at[1, "image"] == (tmp_path / "images" / "a.png").as_posix()
    validate_manifest(manifest)


def test_missing_file_names_row_file_and_fix(tmp_path):
    (tmp_path / "ok.wav").write_bytes(b"x")
    path = write_manifest(tmp_path, [
        {"sample_id": "a", "label": "x", "audio": "ok.wav"},
        {"sample_id": "b", "label": "y", "audio": "gone.wav"},
    ])
    with pytest.raises(ManifestError) as error:
        validate_manifest(load(path))
    message = str(error.value)
    assert "manifest.csv row 2" in message
    assert "'b'" in message
    assert str(tmp_path / "gone.wav") in message
    assert "empty the cell" in message


def test_an_empty_file_cell_is_missing_not_an_error(tmp_path):
    path = write_manifest(tmp_path, [{"sample_id": "a", "label": "x", "audio": "", "text": "t"}])
    assert len(validate_manifest(load(path))) == 1


@pytest.mark.parametrize("rows, fragment", [
    ([{"sample_id": "a", "text": "t"}], "no 'label' column"),
    ([{"sample_id": "a", "label": "x", "text": "t"},
      {"sample_id": "a", "label": "y", "text": "u"}], "row 2"),
    ([{"sample_id": "a", "label": "", "text": "t"}], "empty label"),
    ([{"sample_id": "a", "label": "x", "text": "t", "split": "training"}], "not one of"),
])
def test_unusable_manifests_are_refused_clearly(tmp_path, rows, fragment):
    with pytest.raises(ManifestError, match=fragment):
        validate_manifest(load(write_manifest(tmp_path, rows)))


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
