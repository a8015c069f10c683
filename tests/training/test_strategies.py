"""The strategy registry: every network it names trains through every pattern of missing
modalities, the baselines follow the modality registry, options are per strategy, and a new
strategy is a module and one entry."""

import itertools

import numpy as np
import pytest
import torch
from torch import Tensor, nn
from torch.nn import functional

from helpers import TOY_SETTINGS, merged, settings, toy_inputs
from multimodal_fusion.core.device import autocast
from multimodal_fusion.datasets import TorchModelDataset
from multimodal_fusion.fusion.common import FusionShape, NoOptions
from multimodal_fusion.modalities import modality_names
from multimodal_fusion.pipelines import compare
from multimodal_fusion.training import strategies
from multimodal_fusion.training.strategies import (
    FUSION,
    UNIMODAL,
    build_model,
    every_strategy,
    named,
    network,
    of_kind,
    strategy_options,
    train,
)

MODALITIES = ("audio", "image", "tabular", "text")
SHAPES = {"image": [3, 8, 8], "text": [12], "audio": [10], "tabular": [5]}
NEURAL = (*of_kind(FUSION), *of_kind(UNIMODAL))
SUBSETS = [c for r in range(len(MODALITIES) + 1) for c in itertools.combinations(MODALITIES, r)]
OPTIONS = settings("training.model.fusion_options")


def make_model(strategy: str, seed: int = 0, options: dict | None = None) -> nn.Module:
    modalities = named(strategy).modalities(list(MODALITIES))
    spec = {
        "classes": ["a", "b", "c"], "fusion": strategy, "fusion_options": options or {},
        "embedding_dim": 8, "hidden_dim": 16, "dropout": 0.0,
        "modalities": {m: {"encoder": "small_cnn" if m == "image" else "mlp",
                           "input_shape": SHAPES[m], "standardise": False} for m in modalities},
    }
    spec["fusion_options"] = strategy_options(strategy, merged(
        OPTIONS, {strategy: options} if options else {}))
    torch.manual_seed(seed)
    return build_model(spec).eval()


def inputs(batch: int = 5, seed: int = 1) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {m: torch.randn(batch, *SHAPES[m], generator=generator) for m in MODALITIES}


def presence(missing: tuple[str, ...] = (), batch: int = 5) -> dict[str, torch.Tensor]:
    return {m: torch.full((batch,), m not in missing) for m in MODALITIES}


@pytest.mark.parametrize("strategy", NEURAL)
def test_output_is_one_logit_per_class(strategy):
    assert make_model(strategy)(inputs(), presence()).shape == (5, 3)


@pytest.mark.parametrize("strategy", NEURAL)
def test_gradients_reach_every_encoder_through_the_fusion(strategy):
    model = make_model(strategy).train()
    model(inputs(), presence()).pow(2).sum().backward()
    for modality, encoder in model.encoders.items():
        grads = [p.grad for p in encoder.parameters() if p.requires_grad]
        assert all(g is not None for g in grads), modality
        assert any(g.abs().sum() > 0 for g in grads), modality


@pytest.mark.parametrize("strategy", NEURAL)
@pytest.mark.parametrize("missing", SUBSETS, ids=lambda m: "-".join(m) or "none")
def test_any_missing_subset_gives_finite_outputs_and_gradients(strategy, missing):
    model = make_model(strategy).train()
    logits = model(inputs(), presence(missing))
    assert torch.isfinite(logits).all()
    logits.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.mark.parametrize("strategy", NEURAL)
def test_every_strategy_trains_under_bf16_autocast_with_modalities_missing(strategy):
    """The mixed precision of the CUDA path, through the CPU's bf16 autocast: no GPU needed."""
    model = make_model(strategy).train()
    with autocast(torch.device("cpu"), enabled=True):
        fused, unimodal = model(inputs(), presence(("image",)), with_unimodal=True)
    assert all(logits.dtype == torch.bfloat16 for logits in unimodal.values())
    loss = functional.cross_entropy(fused.float(), torch.tensor([0, 1, 2, 0, 1]))
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    assert torch.isfinite(fused.float()).all()


@pytest.mark.parametrize("strategy", NEURAL)
def test_a_missing_modality_cannot_sway_the_output(strategy):
    model = make_model(strategy)
    original = inputs()
    for modality in model.modalities:
        changed = {**original, modality: original[modality] * 50 + 3}
        mask = presence((modality,))
        torch.testing.assert_close(model(original, mask), model(changed, mask))


@pytest.mark.parametrize("strategy", NEURAL)
def test_deterministic_under_a_seed(strategy):
    first, second = make_model(strategy, seed=3), make_model(strategy, seed=3)
    torch.testing.assert_close(first(inputs(), presence()), second(inputs(), presence()))
    assert not torch.allclose(first(inputs(), presence()),
                              make_model(strategy, seed=4)(inputs(), presence()))


def test_unimodal_baselines_follow_the_modality_registry_and_keep_only_their_modality():
    assert of_kind(UNIMODAL) == [f"{m}_only" for m in modality_names()]
    assert make_model("text_only").modalities == ["text"]
    assert make_model("tabular_only").modalities == ["tabular"]
    with pytest.raises(ValueError, match="needs audio features"):
        named("audio_only").modalities(["image", "text"])
    assert named("audio_only").unusable(["image", "text"]) == "no training sample has audio"
    assert named("concat").unusable(["text"]) is None and named("concat").unusable([])


def test_unknown_strategy_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown fusion strategy 'magic'.*low_rank.*image_only"):
        named("magic")


def test_options_are_per_strategy_and_a_misspelt_key_is_named():
    options = merged(OPTIONS, {"low_rank": {"rank": 2}, "tensor": {"tensor_dim": 3}})
    assert strategy_options("low_rank", options) == {"rank": 2}
    assert strategy_options("concat", options) == {}
    assert strategy_options("linear_late", options) == strategy_options("text_only", options) == {}
    with pytest.raises(ValueError, match=r"fusion_options: unknown key 'rnak'.*low_rank"):
        strategy_options("concat", {"rnak": 4})
    with pytest.raises(ValueError, match=r"fusion_options.low_rank: unknown key 'rnak'.*rank"):
        strategy_options("concat", {"low_rank": {"rnak": 4}})
    with pytest.raises(ValueError, match=r"fusion_options.tensor: unknown key 'rank'.*tensor_dim"):
        strategy_options("tensor", {"tensor": {"rank": 4}})
    with pytest.raises(ValueError, match=r"fusion_options.tensor: missing key 'tensor_dim'"):
        strategy_options("tensor", {})
    assert make_model("low_rank", options={"rank": 2}).fusion.rank_weights.shape == (1, 2)


class MaxFusion(nn.Module):
    """A toy strategy: the largest value of each feature over the modalities present."""

    Settings = NoOptions

    def __init__(self, shape: FusionShape, settings: NoOptions) -> None:
        super().__init__()
        self.modalities = sorted(shape.embedding_dims)
        self.output_dim = shape.embedding_dims[self.modalities[0]]

    def forward(self, embeddings: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        stacked = torch.stack([embeddings[m].masked_fill(~present[m].bool().unsqueeze(1), -1e4)
                               for m in self.modalities], dim=1)
        return stacked.max(dim=1).values.clamp_min(-1e3)


def test_a_new_strategy_is_its_module_and_one_registry_entry(monkeypatch, tmp_path):
    monkeypatch.setitem(strategies.STRATEGIES, "max", network("max", MaxFusion))
    assert "max" in of_kind(FUSION) and "max" in every_strategy()
    settings = {**TOY_SETTINGS, "model": {**TOY_SETTINGS["model"], "fusion": "max"}}
    model, history = train(toy_inputs(), settings, seed=0)
    assert isinstance(model.fusion, MaxFusion) and history
    stored = TorchModelDataset(str(tmp_path / "model.safetensors"))
    stored.save(model)
    batch = {m: torch.zeros(2, *model.spec["modalities"][m]["input_shape"])
             for m in model.modalities}
    mask = {m: torch.ones(2, dtype=torch.bool) for m in model.modalities}
    np.testing.assert_array_equal(stored.load()(batch, mask).detach(),
                                  model.eval()(batch, mask).detach())
    pipeline = compare.create_pipeline()
    assert "max" in {n.namespace for n in pipeline.nodes}
    assert "max_metrics" in next(n for n in pipeline.nodes if n.name == "build_leaderboard").inputs
