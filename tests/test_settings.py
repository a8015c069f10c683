"""The project's settings: conf/local changes the keys it names and keeps the rest of each
group, as the README's tabular example does."""

from kedro.config import OmegaConfigLoader

from helpers import make_project
from multimodal_fusion.settings import CONFIG_LOADER_ARGS


def test_a_conf_local_file_changes_only_the_keys_it_names(tmp_path):
    project = make_project(tmp_path)
    (project / "conf" / "local" / "parameters.yml").write_text(
        "tabular:\n  preprocessing:\n    numeric: [price, age]\n")
    parameters = OmegaConfigLoader(str(project / "conf"), **CONFIG_LOADER_ARGS)["parameters"]
    assert parameters["tabular"]["preprocessing"] == {"numeric": ["price", "age"],
                                                      "categorical": []}
    assert parameters["tabular"]["features"] == {"max_levels": 20, "min_count": 2}
    assert parameters["training"]["fit"]["max_epochs"] == 40
