import itertools
import json

import numpy as np
import pytest
import torch
from kedro.io import DatasetError

from multimodal_fusion.datasets import TorchModelDataset
from multimodal_fusion.fusion.concat import ConcatFusion
from multimodal_fusion.modalities.image import (
    ImageFeatures,
    image_features,
    load_efficientnet_lite0,
)
from multimodal_fusion.models.classifier import MultimodalClassifier
from multimodal_fusion.models.encoders import SmallCNN
from multimodal_fusion.models.predict import for_inference
from multimodal_fusion.training.engine import parameter_groups

MODALITIES = ("audio", "image", "text")
SPEC = {
    "classes": ["a", "b", "c"],
    "fusion": "concat",
    "fusion_options": {},
    "embedding_dim": 8,
    "hidden_dim": 16,
    "dropout": 0.1,
    "modalities": {
        "image": {"encoder": "small_cnn", "input_shape": [3, 16, 16], "standardise": False},
        "text": {"encoder": "mlp", "input_shape": [12], "standardise": False},
        "audio": {"encoder": "mlp", "input_shape": [10], "standardise": True},
    },
}


def random_inputs(batch: int = 4) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {m: torch.randn(batch, *SPEC["modalities"][m]["input_shape"], generator=generator)
            for m in MODALITIES}


def presence(missing: tuple[str, ...], batch: int = 4) -> dict[str, torch.Tensor]:
    return {m: torch.full((batch,), m not in missing) for m in MODALITIES}


@pytest.fixture
def model() -> MultimodalClassifier:
    torch.manual_seed(0)
    return MultimodalClassifier(SPEC, ConcatFusion).eval()


@pytest.mark.parametrize("missing", [
    combo for r in range(len(MODALITIES) + 1) for combo in itertools.combinations(MODALITIES, r)
])
def test_forward_with_any_modalities_missing_gives_finite_logits(model, missing):
    inputs = random_inputs()
    for m in missing:
        inputs[m] = torch.zeros_like(inputs[m])
    logits = model(inputs, presence(missing))
    assert logits.shape == (4, 3)
    assert torch.isfinite(logits).all()


def test_a_missing_modality_cannot_sway_the_prediction(model):
    inputs = random_inputs()
    changed = {**inputs, "audio": inputs["audio"] * 100 + 7}
    mask = presence(("audio",))
    torch.testing.assert_close(model(inputs, mask), model(changed, mask))
    assert not torch.allclose(model(inputs, presence(())), model(changed, presence(())))


def test_saved_model_reloads_to_identical_outputs(model, tmp_path):
    model.encoders["audio"].set_standardisation(torch.randn(20, 10) * 3 + 1)
    dataset = TorchModelDataset(filepath=str(tmp_path / "model.safetensors"))
    dataset.save(model)
    assert json.loads((tmp_path / "model.json").read_text()) == SPEC
    reloaded = dataset.load()
    inputs = random_inputs()
    torch.testing.assert_close(reloaded(inputs, presence(("text",))),
                               model(inputs, presence(("text",))))


def test_weights_from_another_architecture_fail_with_the_file_and_the_fix(model, tmp_path):
    dataset = TorchModelDataset(filepath=str(tmp_path / "model.safetensors"))
    dataset.save(model)
    spec = json.loads((tmp_path / "model.json").read_text())
    spec["embedding_dim"] = 4
    (tmp_path / "model.json").write_text(json.dumps(spec))
    with pytest.raises(DatasetError, match=r"model\.safetensors does not fit.*--pipelines=train"):
        dataset.load()


def test_a_stored_model_of_an_unknown_strategy_names_the_file_and_the_fix(model, tmp_path):
    dataset = TorchModelDataset(filepath=str(tmp_path / "model.safetensors"))
    dataset.save(model)
    (tmp_path / "model.json").write_text(json.dumps({**SPEC, "fusion": "magic"}))
    with pytest.raises(DatasetError, match=r"(?s)model\.safetensors does not fit.*unknown fusion "
                                           r"strategy 'magic'"):
        dataset.load()


def first_conv_channels(model: MultimodalClassifier) -> int:
    return next(m for m in model.encoders["image"].modules()
                if isinstance(m, torch.nn.Conv2d)).out_channels


@pytest.mark.parametrize("image", [
    {"encoder": "small_cnn", "input_shape": [3, 16, 16]},
    {"encoder": "small_cnn+mlp", "input_shape": [3 * 8 * 8 + 20], "image_shape": [3, 8, 8]},
])
def test_the_small_cnn_is_as_wide_as_the_spec_says_and_older_specs_keep_16(image, tmp_path):
    modalities = {**SPEC["modalities"], "image": {**image, "standardise": False}}
    older = MultimodalClassifier({**SPEC, "modalities": modalities}, ConcatFusion)
    assert first_conv_channels(older) == 16, "a spec saved before cnn_width was a setting"
    wider = MultimodalClassifier({**SPEC, "modalities": modalities, "cnn_width": 32},
                                 ConcatFusion).eval()
    assert first_conv_channels(wider) == 32
    dataset = TorchModelDataset(filepath=str(tmp_path / "model.safetensors"))
    dataset.save(wider)
    inputs = {**random_inputs(), "image": torch.randn(4, *image["input_shape"])}
    torch.testing.assert_close(dataset.load()(inputs, presence(())), wider(inputs, presence(())))


@pytest.mark.parametrize("encoder", ["small_cnn", "resnet18", "pixels"])
def test_every_image_encoder_trains_and_tolerates_missing_images(encoder):
    spec = {**SPEC, "modalities": {**SPEC["modalities"], "image": {
        "encoder": encoder, "input_shape": [3, 16, 16], "standardise": False}}}
    torch.manual_seed(0)
    model = MultimodalClassifier(spec, ConcatFusion)
    logits = model(random_inputs(), presence(()))
    assert logits.shape == (4, 3)
    logits.sum().backward()
    assert any(p.grad.abs().sum() > 0 for p in model.encoders["image"].parameters())
    model.eval()
    assert torch.isfinite(model(random_inputs(), presence(("image",)))).all()


def test_unknown_encoder_is_named_in_the_error():
    spec = {**SPEC, "modalities": {"text": {"encoder": "bert", "input_shape": [12]}}}
    with pytest.raises(ValueError, match="unknown encoder 'bert'"):
        MultimodalClassifier(spec, ConcatFusion)


def test_embedding_bag_text_encoder_ignores_padding_and_trains():
    spec = {**SPEC, "modalities": {"text": {"encoder": "embedding_bag", "input_shape": [6],
                                            "vocab_size": 20}}}
    torch.manual_seed(0)
    model = MultimodalClassifier(spec, ConcatFusion)
    ids = torch.tensor([[2, 3, 0, 0, 0, 0], [2, 3, 4, 5, 0, 0]])
    present = {"text": torch.tensor([True, True])}
    logits = model({"text": ids}, present)
    assert logits.shape == (2, 3) and torch.isfinite(logits).all()
    logits.sum().backward()
    assert model.encoders["text"].bag.weight.grad[2].abs().sum() > 0
    assert model.encoders["text"].bag.weight.grad[0].abs().sum() == 0


def test_small_cnn_knows_where_a_stroke_is():
    """Global pooling alone would see a stroke moved across the image as the same image."""
    top_left, bottom_right = torch.zeros(2, 3, 48, 48), torch.zeros(2, 3, 48, 48)
    top_left[:, :, 12:14, 12:14] = 1.0
    bottom_right[:, :, 28:30, 28:30] = 1.0
    torch.manual_seed(0)
    globally_pooled = SmallCNN(3, 8, grid=1).eval()
    torch.testing.assert_close(globally_pooled(top_left), globally_pooled(bottom_right))
    torch.manual_seed(0)
    default = SmallCNN(3, 8).eval()
    assert not torch.allclose(default(top_left), default(bottom_right), atol=1e-3)


def test_the_cnn_and_pretrained_encoder_uses_both_parts_of_its_vector():
    from multimodal_fusion.models.encoders import CNNWithPretrained

    torch.manual_seed(0)
    encoder = CNNWithPretrained([3, 8, 8], 20, output_dim=4, hidden_dim=8, dropout=0.0).eval()
    vectors = torch.randn(2, 3 * 8 * 8 + 20)
    base = encoder(vectors)
    for part in (slice(0, 192), slice(192, None)):
        changed = vectors.clone()
        changed[:, part] += torch.randn_like(changed[:, part])
        assert not torch.allclose(encoder(changed), base)


def test_the_inference_copy_predicts_as_the_model_and_leaves_it_to_train(model):
    for norm in model.encoders["image"].modules():
        if isinstance(norm, torch.nn.BatchNorm2d):
            norm.running_mean.uniform_(-1, 1)
            norm.running_var.uniform_(0.5, 2)
    inputs, mask = random_inputs(8), presence((), 8)
    expected = model(inputs, mask)
    frozen = for_inference(model)
    torch.testing.assert_close(frozen(inputs, mask), expected, rtol=1e-5, atol=1e-6)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in frozen.modules())
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) == 3
    torch.testing.assert_close(model(inputs, mask), expected, rtol=0, atol=0)


def test_fine_tuning_continues_the_pretrained_network_and_trains_its_tail_slowly():
    images = torch.rand(4, 3, 96, 96) * 2 - 1
    table = {"sample_id": np.array(["a", "b", "c", "d"]), "values": images.numpy(),
             "present": np.array([True, True, False, True]), "failed": np.array([], int),
             "failure": np.array([], str)}
    off = {"rotation": 0, "crop_scale": 1.0, "horizontal_flip": False, "colour_jitter": 0.0}
    settings = ImageFeatures("efficientnet_lite0_finetuned", None, off, 32, "head", 2, 0.1)
    activations = image_features(table, settings)
    assert activations["values"].shape == (4, 192, 3, 3) and not activations["values"][2].any()
    spec = {**SPEC, "modalities": {"image": {
        "encoder": str(activations["encoder"]), "input_shape": [192, 3, 3],
        "standardise": False, **json.loads(str(activations["encoder_options"]))}}}
    torch.manual_seed(0)
    model = MultimodalClassifier(spec, ConcatFusion)
    tail = model.encoders["image"].eval()
    pooled = tail.head(tail.blocks[1](tail.blocks[0](torch.from_numpy(
        activations["values"][[0]])))).mean(dim=(2, 3))
    with torch.no_grad():
        whole = load_efficientnet_lite0().extract_features(images[:1]).mean(dim=(2, 3))
    torch.testing.assert_close(pooled, whole, atol=1e-4, rtol=1e-4)
    groups = parameter_groups(model.train(), 0.01)
    assert [group["lr"] for group in groups] == [0.01, pytest.approx(0.001)]
    assert {id(p) for p in groups[1]["params"]} == {id(p) for p in tail.slow_parameters()}
    before = [p.detach().clone() for p in tail.slow_parameters()]
    optimiser = torch.optim.AdamW(groups, lr=0.01)
    inputs = {"image": torch.from_numpy(activations["values"])}
    model(inputs, {"image": torch.ones(4, dtype=torch.bool)}).sum().backward()
    optimiser.step()
    assert any(not torch.equal(p, b) for p, b in zip(tail.slow_parameters(), before,
                                                       strict=True))
    with pytest.raises(ValueError, match="finetune_blocks 17: give 1 to 16"):
        image_features(table, ImageFeatures("efficientnet_lite0_finetuned", None, off, 32,
                                            "head", 17, 0.1))
