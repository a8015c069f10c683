"""Settings have one source: conf/base gives every value, the typed settings none, and the two
name the same keys; a misspelt or a missing key is named."""

import ast
from dataclasses import MISSING, dataclass, fields
from pathlib import Path

import pytest

from helpers import project_parameters as parameters
from multimodal_fusion.contract.quarantine import InputLimits, PreparationSettings
from multimodal_fusion.core.config import SettingsError, typed_settings
from multimodal_fusion.demo.generator import DemoSettings
from multimodal_fusion.evaluation.comparison import CompareSettings
from multimodal_fusion.evaluation.robustness import EvaluationSettings
from multimodal_fusion.modalities.audio import AudioFeatures, AudioPreprocessing
from multimodal_fusion.modalities.common import ExtractionSettings
from multimodal_fusion.modalities.image import Augmentation, ImageFeatures, ImagePreprocessing
from multimodal_fusion.modalities.tabular import TabularColumns, TabularFeatures
from multimodal_fusion.modalities.text import TextPreprocessing, TextSettings
from multimodal_fusion.models.inputs import ModelSettings
from multimodal_fusion.orchestration import OrchestrationSettings
from multimodal_fusion.serving.requests import ServingSettings
from multimodal_fusion.training.auto import AutoSettings
from multimodal_fusion.training.engine import FitSettings, TrainingGroups
from multimodal_fusion.training.ensemble import EnsembleSettings
from multimodal_fusion.training.linear import LinearSettings
from multimodal_fusion.training.search import SearchSettings
from multimodal_fusion.training.strategies import FUSION, STRATEGIES, of_kind

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "multimodal_fusion"
# Each settings class and the parameter group it reads; fixed keys the caller supplies.
GROUPS = [
    (TrainingGroups, "training", {}),
    (FitSettings, "training.fit", {}),
    (AutoSettings, "training.auto", {}),
    (LinearSettings, "training.linear", {}),
    (SearchSettings, "training.search", {}),
    (EnsembleSettings, "training.ensemble", {}),
    (ModelSettings, "training.model", {}),
    (DemoSettings, "demo_data", {"seed": 0}),
    (ExtractionSettings, "extraction", {}),
    (ImagePreprocessing, "image.preprocessing", {}),
    (ImageFeatures, "image.features", {}),
    (Augmentation, "image.features.augment", {}),
    (TextPreprocessing, "text.preprocessing", {}),
    (TextSettings, "text.features", {}),
    (AudioPreprocessing, "audio.preprocessing", {}),
    (AudioFeatures, "audio.features", {"sample_rate": 16_000}),
    (TabularColumns, "tabular.preprocessing", {}),
    (TabularFeatures, "tabular.features", {}),
    (PreparationSettings, "data_preparation", {}),
    (InputLimits, "data_preparation.limits", {}),
    (EvaluationSettings, "evaluation", {}),
    (CompareSettings, "compare", {}),
    (ServingSettings, "serving", {}),
    (OrchestrationSettings, "orchestration", {}),
    *((STRATEGIES[name].fusion.Settings, f"training.model.fusion_options.{name}", {})
      for name in of_kind(FUSION) if STRATEGIES[name].fusion.Settings.__dataclass_fields__),
]


@dataclass(frozen=True)
class Example:
    size: int
    name: str


def test_typed_settings_name_the_group_and_the_key_that_is_unknown_or_missing():
    assert typed_settings(Example, {"size": 5, "name": "a"}, "group") == Example(5, "a")
    with pytest.raises(SettingsError, match=r"^group: unknown key 'sise'; the keys it takes "
                                            r"are size, name$"):
        typed_settings(Example, {"sise": 5, "name": "a"}, "group")
    with pytest.raises(SettingsError, match=r"^group: missing key 'name'; conf/base.*name only "
                                            r"the keys you change$"):
        typed_settings(Example, {"size": 5}, "group")
    assert typed_settings(Example, {"size": 5}, "group", name="b") == Example(5, "b")


def group_of(path: str, preset: str | None = None) -> dict:
    values = parameters(preset)
    for key in path.split("."):
        values = values[key]
    return values


@pytest.mark.parametrize("preset", [None, "fast", "bagged", "best"])
@pytest.mark.parametrize("settings, group, fixed", GROUPS,
                         ids=lambda value: getattr(value, "__name__", None))
def test_conf_base_gives_every_key_of_each_settings_class_and_no_other(settings, group, fixed,
                                                                        preset):
    typed_settings(settings, group_of(group, preset), group, **fixed)


@pytest.mark.parametrize("settings", sorted({cls for cls, _, _ in GROUPS}, key=str),
                         ids=lambda cls: cls.__name__)
def test_no_settings_class_holds_a_default_value(settings):
    defaulted = [f.name for f in fields(settings)
                 if f.default is not MISSING or f.default_factory is not MISSING]
    assert not defaulted, f"{settings.__name__}: {defaulted} take their value from conf/base"


def settings_classes() -> set[str]:
    """Every frozen dataclass in the package that a `typed_settings` call builds."""
    built = set()
    for path in PACKAGE.rglob("*.py"):
        for call in (n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Call)):
            if getattr(call.func, "id", "") == "typed_settings" and call.args:
                first = call.args[0]
                built.add(getattr(first, "id", None) or getattr(first, "attr", ""))
    return built - {"cls"}


def test_every_settings_class_the_code_builds_is_held_to_conf_base():
    checked = {cls.__name__ for cls, _, _ in GROUPS} | {"Settings"}
    assert settings_classes() <= checked


def test_a_preset_sets_its_bundle_and_an_unknown_one_is_named():
    fast, best = parameters("fast"), parameters("best")
    assert fast["image"]["features"]["encoder"] == "small_cnn"
    assert fast["image"]["preprocessing"]["size"] == 32
    assert best["training"]["model"]["fusion"] == "late"
    assert best["training"]["search"]["n_trials"] == 20
    assert best["training"]["search"]["keep"] == "ensemble"
    assert parameters()["training"]["search"]["n_trials"] == 0
    bagged = parameters("bagged")["training"]["search"]
    assert (bagged["n_trials"], bagged["folds"]) == (0, 5)
    assert parameters()["preset"] == "default"
    with pytest.raises(Exception,
                       match="preset 'fsat' is not one of fast, default, bagged, best"):
        parameters("fsat")
