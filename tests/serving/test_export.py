"""The exported ONNX model gives PyTorch's probabilities, whichever modalities are missing."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch

from helpers import settings
from multimodal_fusion.serving.export import OUTPUT, SPEC_KEY, ProbabilityModel, export_onnx
from multimodal_fusion.training.strategies import (
    FUSION,
    LINEAR,
    build_model,
    of_kind,
    strategy_options,
)

onnx = pytest.importorskip("onnx", reason="the export extra is not installed")
onnxruntime = pytest.importorskip("onnxruntime", reason="the export extra is not installed")

# The image as the default encoder's vector (its pixels, then frozen features), the model
# reading the grid part of features computed as head+grid.
MODALITIES = {"image": {"encoder": "small_cnn+mlp", "input_shape": [3 * 16 * 16 + 8],
                        "image_shape": [3, 16, 16], "pretrained_columns": [[5, 8]]},
              "text": {"encoder": "mlp", "input_shape": [40]},
              "audio": {"encoder": "mlp", "input_shape": [24], "standardise": True},
              "tabular": {"encoder": "mlp", "input_shape": [5]}}
TRAINED = [*of_kind(FUSION), *of_kind(LINEAR)]  # what a saved model can be
OPTIONS = settings("training.model.fusion_options")


def trained_looking(fusion: str) -> torch.nn.Module:
    """A model of this strategy with random weights and standardisation statistics."""
    torch.manual_seed(0)
    spec = {"classes": ["a", "b", "c"], "fusion": fusion, "embedding_dim": 16,
            "hidden_dim": 32, "dropout": 0.1, "fusion_options": strategy_options(fusion, OPTIONS),
            "modalities": {m: {"standardise": False, **s} for m, s in MODALITIES.items()}}
    model = build_model(spec)
    with torch.no_grad():
        for buffer in (b for b in model.buffers() if b.is_floating_point()):
            buffer.uniform_(0.5, 1.5)
    return model.eval()


@pytest.mark.parametrize("fusion", TRAINED)
def test_the_onnx_model_matches_pytorch_on_every_pattern_of_missing_modalities(fusion):
    model = trained_looking(fusion)
    session = onnxruntime.InferenceSession(export_onnx(model))
    names = sorted(MODALITIES)
    patterns = list(itertools.product([True, False], repeat=len(names)))
    rng = np.random.default_rng(1)
    inputs = {m: rng.normal(size=(len(patterns), *MODALITIES[m]["input_shape"])).astype(
        np.float32) for m in names}
    present = {m: np.array([p[i] for p in patterns]) for i, m in enumerate(names)}
    (exported,) = session.run([OUTPUT], {**inputs, **{f"{m}_present": present[m]
                                                      for m in names}})
    with torch.no_grad():
        expected = ProbabilityModel(model)({m: torch.from_numpy(v) for m, v in inputs.items()},
                                           {m: torch.from_numpy(v) for m, v in present.items()})
    np.testing.assert_allclose(exported, expected.numpy(), atol=1e-5)


def test_the_exported_file_carries_the_spec_and_takes_any_batch_size():
    model = trained_looking("late")
    exported = export_onnx(model)
    metadata = {p.key: p.value for p in onnx.load_from_string(exported).metadata_props}
    assert json.loads(metadata[SPEC_KEY])["classes"] == ["a", "b", "c"]
    session = onnxruntime.InferenceSession(exported)
    feeds = {i.name: (np.zeros((7, *MODALITIES[i.name]["input_shape"]), np.float32)
                      if i.name in MODALITIES else np.zeros(7, bool))
             for i in session.get_inputs()}
    assert session.run([OUTPUT], feeds)[0].shape == (7, 3)


def test_an_ensemble_exports_with_the_probabilities_of_its_weighted_members():
    members = [trained_looking(fusion) for fusion in ("late", "linear_early", "concat")]
    first = members[0].spec
    ensemble = build_model({"fusion": "ensemble", "classes": first["classes"],
                            "modalities": first["modalities"],
                            "members": [m.spec for m in members], "weights": [0.5, 0.3, 0.2]})
    for member, trained in zip(ensemble.members, members, strict=True):
        member.load_state_dict(trained.state_dict())
    session = onnxruntime.InferenceSession(export_onnx(ensemble.eval()))
    rng = np.random.default_rng(2)
    inputs = {m: rng.normal(size=(5, *s["input_shape"])).astype(np.float32)
              for m, s in MODALITIES.items()}
    present = {m: rng.random(5) > 0.3 for m in MODALITIES}
    (exported,) = session.run([OUTPUT], {**inputs, **{f"{m}_present": present[m]
                                                      for m in MODALITIES}})
    torch_inputs = ({m: torch.from_numpy(v) for m, v in inputs.items()},
                    {m: torch.from_numpy(v) for m, v in present.items()})
    with torch.no_grad():
        mixed = sum(weight * ProbabilityModel(member)(*torch_inputs) for weight, member
                    in zip([0.5, 0.3, 0.2], members, strict=True))
    np.testing.assert_allclose(exported, mixed.numpy(), atol=1e-5)
