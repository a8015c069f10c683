import json

import numpy as np
import pandas as pd
import pytest
import torch

from helpers import TOY_SETTINGS, settings, toy_inputs, with_fit
from multimodal_fusion.core.device import select_device
from multimodal_fusion.modalities.common import feature_table
from multimodal_fusion.models.inputs import assemble_model_inputs
from multimodal_fusion.training import engine
from multimodal_fusion.training.engine import class_weights
from multimodal_fusion.training.strategies import named, train


def test_inputs_are_aligned_by_sample_id_and_absent_modalities_dropped():
    inputs = toy_inputs()
    assert "image" not in inputs and "image_present" not in inputs
    yes = inputs["label"] == "yes"
    present = inputs["audio_present"]
    assert (inputs["audio"][yes & present, 0] > inputs["audio"][~yes & present, 0].max()).all()
    spec = named("concat").spec(inputs, TOY_SETTINGS["model"])
    assert sorted(spec["modalities"]) == ["audio", "text"]
    assert spec["modalities"]["audio"] == {"encoder": "mlp", "input_shape": [6],
                                           "standardise": True}


def test_a_modality_no_training_sample_has_is_left_out_and_none_at_all_is_an_error():
    manifest = pd.DataFrame({"sample_id": ["a", "b", "c"], "label": ["x", "y", "x"],
                             "split": ["train", "val", "test"]})
    only_in_test = np.array([False, False, True])
    tables = {"text": feature_table(manifest, np.ones((3, 2), np.float32), only_in_test, "mlp"),
              "audio": feature_table(manifest, np.ones((3, 2), np.float32), ~only_in_test, "mlp")}
    assert "text" not in assemble_model_inputs(manifest, tables)
    with pytest.raises(ValueError, match="no training sample has any modality"):
        assemble_model_inputs(manifest, {"text": tables["text"]})


def test_a_misspelt_setting_stops_training_naming_it():
    with pytest.raises(ValueError, match=r"training.fit: unknown key 'max_epoch'.*max_epochs"):
        train(toy_inputs(), with_fit(max_epoch=3), seed=0)
    model_settings = {**TOY_SETTINGS["model"], "fusion_options": {"rnak": 4}}
    with pytest.raises(ValueError, match=r"fusion_options: unknown key 'rnak'"):
        train(toy_inputs(), {**TOY_SETTINGS, "model": model_settings}, seed=0)


def test_training_learns_and_is_deterministic_under_one_seed():
    inputs = toy_inputs()
    model, history = train(inputs, TOY_SETTINGS, seed=5)
    again, history_again = train(inputs, TOY_SETTINGS, seed=5)
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert max(h["val_macro_f1"] for h in history) >= 0.75
    assert [h["val_macro_f1"] for h in history] == [h["val_macro_f1"] for h in history_again]
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(tensor, again.state_dict()[name])


def test_early_stopping_keeps_the_best_epoch():
    settings = {**TOY_SETTINGS, "fit": {**TOY_SETTINGS["fit"], "patience": 2, "max_epochs": 50}}
    model, history = train(toy_inputs(), settings, seed=1)
    best = max(range(len(history)), key=lambda i: history[i]["val_macro_f1"])
    assert len(history) < 50
    assert len(history) - 1 - best == 2


def test_the_bf16_training_path_learns(monkeypatch):
    """What CUDA runs under `mixed_precision: auto`, forced onto the CPU's bf16 autocast."""
    monkeypatch.setattr(engine, "uses_bf16", lambda device, mode: True)
    model, history = train(toy_inputs(), with_fit(max_epochs=10), seed=5)
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert max(h["val_macro_f1"] for h in history) >= 0.75
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_asking_for_cuda_without_it_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert select_device("auto").type == "cpu"
    with pytest.raises(ValueError, match="CUDA is not available"):
        select_device("cuda")


@pytest.mark.parametrize("schedule", ["cosine", "one_cycle", "constant"])
def test_every_schedule_trains(schedule):
    _, history = train(toy_inputs(), with_fit(schedule=schedule, max_epochs=6), seed=0)
    assert history[-1]["train_loss"] < history[0]["train_loss"]


def test_unknown_schedule_is_named():
    with pytest.raises(ValueError, match="schedule must be one of cosine, one_cycle, constant"):
        train(toy_inputs(), with_fit(schedule="warmup"), seed=0)


def test_balanced_class_weights_favour_rare_classes():
    weights = class_weights(torch.tensor([0, 0, 0, 1]), 3, "balanced")
    torch.testing.assert_close(weights, torch.tensor([4 / 9, 4 / 3, 0.0]))
    assert class_weights(torch.tensor([0, 1]), 2, "none") is None


def test_interrupted_training_resumes_to_the_same_result(tmp_path, monkeypatch):
    settings = with_fit(max_epochs=8, checkpoint_dir=str(tmp_path), schedule="one_cycle")
    reference, reference_history = train(toy_inputs(), settings, seed=2)
    assert not any(tmp_path.iterdir()), "a finished run leaves no checkpoint behind"

    real_step = torch.optim.AdamW.step
    calls = {"n": 0}

    def step_then_die(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3 * 4 + 2:  # mid fourth epoch: 60 training samples, 4 batches each
            raise KeyboardInterrupt
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", step_then_die)
    with pytest.raises(KeyboardInterrupt):
        train(toy_inputs(), settings, seed=2)
    monkeypatch.setattr(torch.optim.AdamW, "step", real_step)
    (checkpoint,) = tmp_path.glob("*/last.pt")
    assert len(torch.load(checkpoint, weights_only=True)["progress"]["history"]) == 3

    resumed, resumed_history = train(toy_inputs(), settings, seed=2)
    assert [h["val_macro_f1"] for h in resumed_history] == [
        h["val_macro_f1"] for h in reference_history]
    for name, tensor in reference.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[name], tensor)


def test_images_are_augmented_during_training_only(monkeypatch):
    inputs = toy_inputs()
    count = len(inputs["label"])
    inputs["image"] = np.random.default_rng(1).normal(size=(count, 3, 8, 8)).astype(np.float32)
    inputs["image_present"] = np.ones(count, bool)
    inputs["image_encoder"] = np.array("small_cnn")
    augment = {**settings("image.features")["augment"], "rotation": 15}
    inputs["image_encoder_options"] = np.array(json.dumps({"augment": augment}))
    seen = []
    real = engine.augment_batch
    monkeypatch.setattr(engine, "augment_batch",
                        lambda images, transform: seen.append(len(images)) or real(images,
                                                                                   transform))
    model, history = train(inputs, with_fit(max_epochs=2), seed=0)
    assert model.spec["modalities"]["image"]["augment"] == augment
    assert sum(seen) == 2 * int((inputs["split"] == "train").sum())


def test_resnet18_starts_from_a_users_weights_file(tmp_path, monkeypatch):
    from torchvision.models import resnet18

    torch.manual_seed(7)
    reference = resnet18(num_classes=1000).state_dict()
    path = tmp_path / "resnet18.pth"
    torch.save(reference, path)
    inputs = toy_inputs()
    count = len(inputs["label"])
    inputs["image"] = np.zeros((count, 3, 16, 16), np.float32)
    inputs["image_present"] = np.ones(count, bool)
    inputs["image_encoder"] = np.array("resnet18")
    inputs["image_encoder_options"] = np.array(json.dumps({"weights": str(path)}))
    starts = []

    def record_start(model, *args, **kwargs):
        starts.append(model.encoders["image"].net.conv1.weight.detach().clone())
        return []

    monkeypatch.setattr(engine, "fit_classifier", record_start)
    model, _ = train(inputs, TOY_SETTINGS, seed=0)
    torch.testing.assert_close(starts[0], reference["conv1.weight"])
    assert model.spec["modalities"]["image"]["weights"] == str(path)


def test_a_file_that_is_not_resnet18_weights_is_refused(tmp_path):
    from multimodal_fusion.models.encoders import ResNet18Encoder

    path = tmp_path / "other.pth"
    torch.save({"layer.weight": torch.zeros(2)}, path)
    with pytest.raises(ValueError, match="is not a torchvision ResNet-18 state_dict"):
        ResNet18Encoder(3, 8).load_backbone(str(path))


def pretrained_inputs(parts: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Images as the default encoder's vectors (4 x 4 pixels, then frozen features whose
    head of 5 values tells the class and whose grid of 3 is noise), with only `parts` of
    the features, as image.features.pretrained_features would compute them."""
    rng = np.random.default_rng(0)
    n = 90
    labels = np.array(["a", "b", "c"])[np.arange(n) % 3]
    head = rng.normal(size=(n, 5)).astype(np.float32)
    head[:, 0] += 3.0 * (np.arange(n) % 3)
    features = {"head": head, "grid": rng.normal(size=(n, 3)).astype(np.float32)}
    pixels = rng.normal(size=(n, 48)).astype(np.float32)
    values = np.concatenate([pixels, *(features[part] for part in parts)], axis=1)
    bounds = np.cumsum([0, *(features[part].shape[1] for part in parts)]).tolist()
    options = {"image_shape": [3, 4, 4], "pretrained_parts": {
        part: bounds[i:i + 2] for i, part in enumerate(parts)}}
    manifest = pd.DataFrame({"sample_id": [f"s{i}" for i in range(n)], "label": labels,
                             "split": np.array(["train", "train", "val", "test"])[
                                 np.arange(n) // 3 % 4]})
    return assemble_model_inputs(manifest, {"image": feature_table(
        manifest, values, np.ones(n, bool), "small_cnn+mlp", options)})


def test_a_model_reading_the_head_of_head_and_grid_features_trains_as_one_on_the_head():
    settings = with_fit(max_epochs=4)
    on_head, history = train(pretrained_inputs(("head",)), settings, 0)
    picked = merged_settings(settings, pretrained_features="head")
    from_both, history_both = train(pretrained_inputs(("head", "grid")), picked, 0)
    assert from_both.spec["modalities"]["image"]["pretrained_columns"] == [[0, 5]]
    assert without_seconds(history_both) == without_seconds(history)
    assert all(torch.equal(a, b) for a, b in zip(
        on_head.state_dict().values(), from_both.state_dict().values(), strict=True))
    on_grid, _ = train(pretrained_inputs(("head", "grid")),
                       merged_settings(settings, pretrained_features="grid"), 0)
    assert on_grid.encoders["image"].pretrained[1].in_features == 3
    with pytest.raises(ValueError, match=r"pretrained_features 'grid': the image features hold "
                                         r"no grid \(their parts: head\).*head\+grid"):
        train(pretrained_inputs(("head",)), merged_settings(settings, pretrained_features="grid"),
              0)


def merged_settings(settings: dict, **model) -> dict:
    return {**settings, "model": {**settings["model"], **model}}


def without_seconds(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in epoch.items() if k != "seconds"} for epoch in history]
