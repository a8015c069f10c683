"""Settings have one source of truth: the dataclasses' defaults are conf/base's values."""

from dataclasses import asdict, dataclass

import pytest

from helpers import project_parameters as parameters
from multimodal_fusion.contract.quarantine import PreparationSettings
from multimodal_fusion.core.config import SettingsError, typed_settings
from multimodal_fusion.demo.generator import DemoSettings
from multimodal_fusion.evaluation.robustness import EvaluationSettings
from multimodal_fusion.modalities.audio import AudioFeatures, AudioPreprocessing
from multimodal_fusion.modalities.image import Augmentation, ImageFeatures, ImagePreprocessing
from multimodal_fusion.modalities.tabular import TabularColumns, TabularFeatures
from multimodal_fusion.modalities.text import TextPreprocessing, TextSettings
from multimodal_fusion.models.inputs import ModelSettings
from multimodal_fusion.training.auto import AutoSettings
from multimodal_fusion.training.engine import FitSettings
from multimodal_fusion.training.strategies import STRATEGIES


@dataclass(frozen=True)
class Example:
    size: int = 3
    name: str = "a"


def test_typed_settings_name_the_group_the_unknown_key_and_the_allowed_ones():
    assert typed_settings(Example, {"size": 5}, "group") == Example(size=5)
    assert typed_settings(Example, None, "group") == Example()
    with pytest.raises(SettingsError, match=r"^group: unknown key 'sise'; the keys it takes "
                                            r"are size, name$"):
        typed_settings(Example, {"sise": 5}, "group")
    with pytest.raises(SettingsError, match="the keys it takes are name$"):
        typed_settings(Example, {"size": 5}, "group", size=4)


def normalised(values: dict) -> dict:
    """Lists and tuples compare alike: YAML has only lists."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


@pytest.mark.parametrize("settings, group", [
    (FitSettings, ("training", "fit")),
    (AutoSettings, ("training", "auto")),
    (DemoSettings, ("demo_data",)),
    (ImagePreprocessing, ("image", "preprocessing")),
    (TextPreprocessing, ("text", "preprocessing")),
    (TextSettings, ("text", "features")),
    (AudioPreprocessing, ("audio", "preprocessing")),
    (TabularColumns, ("tabular", "preprocessing")),
    (TabularFeatures, ("tabular", "features")),
    (PreparationSettings, ("data_preparation",)),
    (EvaluationSettings, ("evaluation",)),
], ids=lambda value: getattr(value, "__name__", None))
def test_defaults_equal_the_conf_with_the_default_preset(settings, group):
    values = parameters()
    for key in group:
        values = values[key]
    defaults = normalised(asdict(settings()))
    if settings is DemoSettings:
        defaults.pop("seed")
    assert normalised(values) == defaults


def test_image_and_audio_feature_defaults_equal_the_conf():
    features = parameters()
    image = ImageFeatures()
    assert {k: features["image"]["features"][k] for k in ("encoder", "weights", "cnn_size")} == {
        "encoder": image.encoder, "weights": image.weights, "cnn_size": image.cnn_size}
    assert features["image"]["features"]["augment"] == asdict(Augmentation())
    audio = asdict(AudioFeatures())
    audio.pop("sample_rate")  # the clip store's, not a parameter
    assert features["audio"]["features"] == audio


def test_model_and_fusion_option_defaults_equal_the_conf():
    model = parameters()["training"]["model"]
    for strategy, options in model.pop("fusion_options").items():
        assert options == asdict(STRATEGIES[strategy].fusion.Settings()), strategy
    defaults = normalised(asdict(ModelSettings()))
    defaults.pop("fusion_options")
    assert normalised(model) == defaults


def test_a_preset_sets_its_bundle_and_an_unknown_one_is_named():
    fast, best = parameters("fast"), parameters("best")
    assert fast["image"]["features"]["encoder"] == "small_cnn"
    assert fast["image"]["preprocessing"]["size"] == 32
    assert best["training"]["model"]["fusion"] == "auto"
    assert parameters()["preset"] == "default"
    with pytest.raises(Exception, match="preset 'fsat' is not one of fast, default, best"):
        parameters("fsat")
