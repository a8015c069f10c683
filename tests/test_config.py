"""Settings have one source of truth: the dataclasses' defaults are conf/base's values."""

from dataclasses import asdict, dataclass
from pathlib import Path

import pytest
import yaml

from multimodal_fusion.config import SettingsError, typed_settings
from multimodal_fusion.demo.generator import DemoSettings
from multimodal_fusion.fusion import FUSION_STRATEGIES
from multimodal_fusion.modalities.audio import AudioFeatures, AudioPreprocessing
from multimodal_fusion.modalities.image import Augmentation, ImageFeatures, ImagePreprocessing
from multimodal_fusion.modalities.tabular import TabularColumns, TabularFeatures
from multimodal_fusion.modalities.text import TextPreprocessing, TextSettings
from multimodal_fusion.models.inputs import ModelSettings
from multimodal_fusion.training.engine import FitSettings

CONF = Path(__file__).resolve().parents[1] / "conf" / "base"


def conf(pipeline: str) -> dict:
    return yaml.safe_load((CONF / f"parameters_{pipeline}.yml").read_text())


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
    (FitSettings, ("training", "training", "fit")),
    (DemoSettings, ("demo_data", "demo_data")),
    (ImagePreprocessing, ("features", "image", "preprocessing")),
    (TextPreprocessing, ("features", "text", "preprocessing")),
    (TextSettings, ("features", "text", "features")),
    (AudioPreprocessing, ("features", "audio", "preprocessing")),
    (TabularColumns, ("features", "tabular", "preprocessing")),
    (TabularFeatures, ("features", "tabular", "features")),
], ids=lambda value: getattr(value, "__name__", None))
def test_defaults_equal_the_conf(settings, group):
    values = conf(group[0])
    for key in group[1:]:
        values = values[key]
    defaults = normalised(asdict(settings()))
    if settings is DemoSettings:
        defaults.pop("seed")
    assert normalised(values) == defaults


def test_image_and_audio_feature_defaults_equal_the_conf():
    features = conf("features")
    image = ImageFeatures()
    assert {k: features["image"]["features"][k] for k in ("encoder", "weights")} == {
        "encoder": image.encoder, "weights": image.weights}
    assert features["image"]["features"]["augment"] == asdict(Augmentation())
    audio = asdict(AudioFeatures())
    audio.pop("sample_rate")  # the clip store's, not a parameter
    assert features["audio"]["features"] == audio


def test_model_and_fusion_option_defaults_equal_the_conf():
    model = conf("training")["training"]["model"]
    for strategy, options in model.pop("fusion_options").items():
        assert options == asdict(FUSION_STRATEGIES[strategy].Settings()), strategy
    defaults = normalised(asdict(ModelSettings()))
    defaults.pop("fusion_options")
    assert normalised(model) == defaults
