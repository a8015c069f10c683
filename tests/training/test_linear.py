import json

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from helpers import image_toy_inputs, training_settings
from multimodal_fusion.datasets import TorchModelDataset
from multimodal_fusion.models.inputs import batch_for_split
from multimodal_fusion.models.linear import LinearEarly, fixed_vector, fixed_width
from multimodal_fusion.models.predict import predict_proba
from multimodal_fusion.training.linear import class_weights
from multimodal_fusion.training.strategies import train

SETTINGS = training_settings({"model": {"fusion": "linear_early", "embedding_dim": 8,
                                        "hidden_dim": 8, "dropout": 0.0},
                              "fit": {"device": "cpu", "checkpoint_dir": None}})


def fit(name: str, inputs: dict,
        max_samples: int | None = None) -> tuple[torch.nn.Module, list[dict]]:
    return train(inputs, {**SETTINGS, "model": {**SETTINGS["model"], "fusion": name},
                          "linear": {"max_samples": max_samples}}, seed=0)


def test_fixed_vectors_pool_images_and_count_words():
    image = {"encoder": "small_cnn", "input_shape": [3, 32, 32]}
    pooled = fixed_vector(torch.ones(2, 3, 32, 32), image)
    assert pooled.shape == (2, fixed_width(image)) == (2, 3 * 16 * 16)
    words = {"encoder": "embedding_bag", "input_shape": [4], "vocab_size": 6}
    counts = fixed_vector(torch.tensor([[2, 2, 5, 0]]), words)
    assert counts.tolist() == [[0, 0, 2, 0, 0, 1]]
    vector = {"encoder": "mlp", "input_shape": [7]}
    assert fixed_vector(torch.ones(2, 7), vector).shape == (2, fixed_width(vector))


@pytest.mark.parametrize("name", ["linear_early", "linear_late"])
def test_linear_references_learn_and_store_like_any_model(name, tmp_path):
    inputs = image_toy_inputs()
    model, history = fit(name, inputs)
    assert history[0]["val_macro_f1"] > 0.75 and history[0]["C"] > 0
    test = batch_for_split(inputs, "test", model.spec)
    probabilities = predict_proba(model, test)
    assert (probabilities.argmax(axis=1) == test.labels.numpy()).mean() > 0.75
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    dataset = TorchModelDataset(str(tmp_path / "model.safetensors"))
    dataset.save(model)
    loaded = dataset.load()
    assert json.loads((tmp_path / "model.json").read_text())["fusion"] == name
    np.testing.assert_array_equal(predict_proba(loaded, test), probabilities)
    again, _ = fit(name, inputs)
    np.testing.assert_array_equal(predict_proba(again, test), probabilities)


@pytest.mark.parametrize("name", ["linear_early", "linear_late"])
def test_a_linear_reference_fits_on_at_most_max_samples_drawn_from_each_split(name, caplog):
    inputs = image_toy_inputs()
    splits = inputs["split"].astype(str)
    whole, _ = fit(name, inputs)
    with caplog.at_level("INFO"):
        few, _ = fit(name, inputs, max_samples=20)
    assert f"fits on 20 of the {(splits == 'train').sum()} train samples" in caplog.text
    assert f"fits on 20 of the {(splits == 'val').sum()} val samples" in caplog.text
    test = batch_for_split(inputs, "test", few.spec)
    assert not np.array_equal(predict_proba(few, test), predict_proba(whole, test))
    again, _ = fit(name, inputs, max_samples=20)
    np.testing.assert_array_equal(predict_proba(again, test), predict_proba(few, test))


@pytest.mark.parametrize("name", ["linear_early", "linear_late"])
def test_a_missing_modality_cannot_sway_a_linear_reference(name):
    inputs = image_toy_inputs()
    model, _ = fit(name, inputs)
    batch = batch_for_split(inputs, "test", model.spec)
    missing = {**batch.present, "image": torch.zeros_like(batch.present["image"])}
    changed = {**batch.inputs, "image": batch.inputs["image"] * 50 + 3}
    torch.testing.assert_close(model(batch.inputs, missing), model(changed, missing))


def test_linear_early_blocks_weigh_alike_and_its_logits_are_sklearns():
    inputs = image_toy_inputs()
    model, _ = fit("linear_early", inputs)
    split = batch_for_split(inputs, "train", model.spec)
    design = model.design(model.embed(split.inputs), split.present)
    for modality, scaler in model.scalers.items():
        block = scaler(split.inputs[modality], split.present[modality])[split.present[modality]]
        assert block.pow(2).sum(dim=1).mean() == pytest.approx(1.0, rel=1e-3), modality
    reference = LogisticRegression().fit(design.numpy(), split.labels)
    weight, bias = class_weights(reference, 3)
    logits = design.numpy() @ weight.T + bias
    np.testing.assert_allclose(torch.softmax(torch.from_numpy(logits), 1).numpy(),
                               reference.predict_proba(design.numpy()), rtol=1e-5, atol=1e-7)
    assert isinstance(model, LinearEarly)


def test_two_classes_and_a_class_absent_from_training_keep_their_columns():
    inputs = image_toy_inputs(classes=2)
    model, _ = fit("linear_early", inputs)
    assert predict_proba(model, batch_for_split(inputs, "test", model.spec)).shape[1] == 2
    reference = LogisticRegression().fit(np.array([[0.0], [1.0], [2.0]]), [0, 2, 2])
    weight, bias = class_weights(reference, 3)
    assert weight.shape == (3, 1) and bias[1] < -1000 and not weight[1].any()
