import json

import numpy as np
import pandas as pd
import pytest

from multimodal_fusion.modalities.tabular import fit_statistics, select_columns, tabular_vectors

COLUMNS = {"numeric": ["price"], "categorical": ["region"]}
FEATURES = {"max_levels": 2, "min_count": 1}


def manifest(price: list[str], region: list[str], split: list[str] | None = None) -> pd.DataFrame:
    frame = pd.DataFrame({"sample_id": [f"s{i}" for i in range(len(price))], "label": "x",
                          "split": split or ["train"] * len(price), "price": price,
                          "region": region, "note": "kept out"})
    frame.index = pd.RangeIndex(1, len(frame) + 1)
    frame.attrs["source"] = "/data/manifest.csv"
    return frame


def vectors(frame: pd.DataFrame, columns: dict = COLUMNS, features: dict = FEATURES) -> dict:
    selected = select_columns(frame, columns)
    state = fit_statistics(selected, features, columns)
    json.dumps(state)  # kept as JSON beside the model
    return tabular_vectors(selected, state)


def test_numbers_are_imputed_standardised_and_flagged_and_categories_one_hot():
    frame = manifest(["1", "3", "", "5"], ["north", "south", "north", ""])
    table = vectors(frame)
    values = table["values"]
    # price (standardised), price missing, then north, south, other
    assert values.shape == (4, 5)
    np.testing.assert_allclose(values[:, 0], [-1.2247449, 0.0, 0.0, 1.2247449], atol=1e-6)
    assert values[:, 1].tolist() == [0, 0, 1, 0]
    assert values[:, 2:].tolist() == [[1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 0]]
    assert table["present"].all()
    assert str(table["encoder"]) == "mlp"


def test_statistics_come_from_the_training_split_only():
    frame = manifest(["1", "3", "1000", "9"], ["a", "a", "zzz", "b"],
                     split=["train", "train", "test", "val"])
    selected = select_columns(frame, COLUMNS)
    state = fit_statistics(selected, FEATURES, COLUMNS)
    assert state["numeric"]["price"] == {"median": 2.0, "mean": 2.0, "std": 1.0}
    assert state["categorical"]["region"] == ["a"]
    values = tabular_vectors(selected, state)["values"]
    assert values[2, 0] == pytest.approx(998.0)
    assert values[2, 2:].tolist() == [0, 1]  # a level unseen in training shares "other"


def test_rare_levels_beyond_the_limit_share_the_other_slot():
    frame = manifest(["1"] * 6, ["a", "a", "a", "b", "b", "c"])
    state = fit_statistics(select_columns(frame, COLUMNS), {"max_levels": 2, "min_count": 2},
                           COLUMNS)
    assert state["categorical"]["region"] == ["a", "b"]


def test_a_sample_with_every_named_column_empty_lacks_the_modality():
    table = vectors(manifest(["1", "", "2"], ["a", "", ""]))
    assert table["present"].tolist() == [True, False, True]
    assert not table["values"][1].any()


def test_no_named_column_or_no_value_in_training_makes_the_modality_absent():
    frame = manifest(["1", "2"], ["a", "b"])
    assert not vectors(frame, {"numeric": [], "categorical": []})["present"].any()
    empty_in_training = manifest(["", "2"], ["", "b"], split=["train", "test"])
    table = vectors(empty_in_training)
    assert not table["present"].any() and table["values"].shape == (2, 0)


def test_a_cell_that_is_not_a_number_names_its_row_and_the_fix():
    with pytest.raises(ValueError, match=r"manifest.csv row 2 \(sample_id 's1'\): tabular column "
                                         r"price holds 'cheap', not a number; fix it"):
        select_columns(manifest(["1", "cheap"], ["a", "b"]), COLUMNS)


@pytest.mark.parametrize("columns, fragment", [
    ({"numeric": ["prize"], "categorical": []},
     "names prize, but /data/manifest.csv has no such column"),
    ({"numeric": ["price"], "categorical": ["price"]}, "names price twice"),
    ({"numeric": [], "categorical": ["label"]}, "names label as a feature"),
    ({"numeric": ["price"]}, "tabular.preprocessing: missing key 'categorical'"),
    ({"numeric": ["price"], "categoric": ["region"]}, "unknown key 'categoric'"),
])
def test_badly_named_columns_are_refused_clearly(columns, fragment):
    with pytest.raises(ValueError, match=fragment):
        select_columns(manifest(["1"], ["a"]), columns)


def test_numbers_from_a_parquet_manifest_need_no_parsing():
    frame = manifest(["1", "2"], ["a", "b"]).assign(price=[1.5, np.nan])
    selected = select_columns(frame, COLUMNS)
    assert selected["price"].tolist()[0] == 1.5 and np.isnan(selected["price"].tolist()[1])
