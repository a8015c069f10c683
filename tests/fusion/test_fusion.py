import itertools

import pytest
import torch
from torch.nn import functional

from multimodal_fusion.core.device import autocast
from multimodal_fusion.fusion import (
    FUSION_STRATEGIES,
    UNIMODAL_BASELINES,
    applies_to,
    build_fusion,
    modalities_for,
    selected,
    strategy_options,
)
from multimodal_fusion.modalities import MODALITY_NAMES
from multimodal_fusion.models.classifier import MultimodalClassifier

MODALITIES = ("audio", "image", "tabular", "text")
SHAPES = {"image": [3, 8, 8], "text": [12], "audio": [10], "tabular": [5]}
NEURAL = (*FUSION_STRATEGIES, *UNIMODAL_BASELINES)
SUBSETS = [c for r in range(len(MODALITIES) + 1) for c in itertools.combinations(MODALITIES, r)]


def make_model(strategy: str, seed: int = 0, options: dict | None = None) -> MultimodalClassifier:
    modalities = modalities_for(strategy, list(MODALITIES))
    spec = {
        "classes": ["a", "b", "c"], "fusion": strategy, "fusion_options": options or {},
        "embedding_dim": 8, "hidden_dim": 16, "dropout": 0.0,
        "modalities": {m: {"encoder": "small_cnn" if m == "image" else "mlp",
                           "input_shape": SHAPES[m], "standardise": False} for m in modalities},
    }
    torch.manual_seed(seed)
    return MultimodalClassifier(spec).eval()


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
    assert set(UNIMODAL_BASELINES) == {f"{m}_only" for m in MODALITY_NAMES}
    assert make_model("text_only").modalities == ["text"]
    assert make_model("tabular_only").modalities == ["tabular"]
    with pytest.raises(ValueError, match="needs audio features"):
        modalities_for("audio_only", ["image", "text"])
    assert not applies_to("audio_only", ["image", "text"])
    assert applies_to("concat", ["text"]) and not applies_to("concat", [])


def test_fixed_weights_silence_a_zero_weighted_modality():
    model = make_model("weighted_sum",
                       options={"weights": {"image": 1, "text": 0, "audio": 2, "tabular": 1}})
    original = inputs()
    changed = {**original, "text": original["text"] * 50}
    torch.testing.assert_close(model(original, presence()), model(changed, presence()))


def test_unknown_strategy_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown fusion strategy 'magic'.*low_rank.*image_only"):
        build_fusion("magic", {"text": 4}, hidden_dim=8, num_classes=2)


def test_fixed_weights_must_weigh_every_modality():
    with pytest.raises(ValueError, match="lack tabular"):
        make_model("weighted_sum", options={"weights": {"image": 1, "text": 0, "audio": 2}})


def test_options_are_per_strategy_and_a_misspelt_key_is_named():
    options = {"low_rank": {"rank": 2}, "tensor": {"tensor_dim": 3}}
    assert strategy_options("low_rank", options) == {"rank": 2}
    assert strategy_options("transformer", options) == {"heads": 4, "layers": 2}
    assert strategy_options("concat", options) == {}
    with pytest.raises(ValueError, match=r"fusion_options: unknown key 'rnak'.*low_rank"):
        strategy_options("concat", {"rnak": 4})
    with pytest.raises(ValueError, match=r"fusion_options.low_rank: unknown key 'rnak'.*rank"):
        strategy_options("concat", {"low_rank": {"rnak": 4}})
    with pytest.raises(ValueError, match=r"fusion_options.tensor: unknown key 'rank'.*tensor_dim"):
        build_fusion("tensor", {"text": 4}, hidden_dim=8, num_classes=2, options={"rank": 4})
    assert make_model("low_rank", options={"rank": 2}).fusion.rank_weights.shape == (1, 2)


@pytest.mark.parametrize("strategy", ["tensor", "low_rank"])
def test_a_product_of_modalities_does_not_grow_as_a_power_of_the_embeddings(strategy):
    dims = {m: 6 for m in MODALITIES}
    fusion = build_fusion(strategy, dims, hidden_dim=16, num_classes=3)
    generator = torch.Generator().manual_seed(0)
    embeddings = {m: torch.randn(5, 6, generator=generator) for m in MODALITIES}
    for scale in (10.0, 100.0, 1000.0):
        fused = fusion({m: z * scale for m, z in embeddings.items()}, presence())
        assert torch.allclose(fused.std(dim=1, unbiased=False), torch.ones(5), atol=0.02)


def test_linear_references_are_not_fusion_modules():
    with pytest.raises(ValueError, match="linear_late is a logistic regression"):
        build_fusion("linear_late", {"text": 4}, hidden_dim=8, num_classes=2)


def test_compare_selects_all_strategies_or_the_listed_ones():
    assert selected("gated", "all")
    assert selected("gated", ["gated", "linear_early"]) and not selected("concat", ["gated"])
    assert selected("linear_early", ["gated"]) and selected("linear_late", "concat")
    assert selected("concat", "concat")
    with pytest.raises(ValueError, match="unknown fusion strategy 'gatd'"):
        selected("concat", ["gatd"])
