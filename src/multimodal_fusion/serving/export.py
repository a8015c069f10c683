"""A trained model as ONNX, presence masks included, to serve without this package. No Kedro.

The exported graph takes, per modality the model reads, its feature tensor (`<modality>`,
batch first, the spec's `input_shape`) and its presence mask (`<modality>_present`, one
boolean per sample), and gives `probabilities` (batch, classes). A missing modality is a
False in its mask, exactly as in PyTorch. The batch size is free. The model's spec (its
classes, in the order of the probabilities, and the recipe of its features) travels in
the file's metadata under `multimodal_fusion.spec`.

Needs the `export` extra: `pip install -e ".[export]"`.
"""

from __future__ import annotations

import json
import warnings

import torch
from torch import Tensor, nn

SPEC_KEY = "multimodal_fusion.spec"
OUTPUT = "probabilities"


class ProbabilityModel(nn.Module):
    """The classifier's softmax, the output a served model gives."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, inputs: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        return torch.softmax(self.model(inputs, present).float(), dim=1)


def example_inputs(spec: dict, batch: int = 2) -> dict[str, dict[str, Tensor]]:
    """Zeros of the shapes the model reads, every modality present, to trace it with."""
    names = sorted(spec["modalities"])
    return {"inputs": {m: torch.zeros(batch, *spec["modalities"][m]["input_shape"])
                       for m in names},
            "present": {m: torch.ones(batch, dtype=torch.bool) for m in names}}


def export_onnx(model: nn.Module) -> bytes:
    """The model as an ONNX file's bytes, its batch dimension free."""
    try:
        import onnx  # noqa: F401  (the exporter needs it and onnxscript)
        import onnxscript  # noqa: F401
    except ImportError as error:
        raise ImportError("exporting to ONNX needs the export extra: "
                          "pip install -e \".[export]\"") from error
    spec = model.spec
    names = sorted(spec["modalities"])
    batch = torch.export.Dim("batch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notes on how it traced
        program = torch.onnx.export(
            ProbabilityModel(model.cpu().eval()), (), kwargs=example_inputs(spec),
            input_names=[*names, *(f"{m}_present" for m in names)], output_names=[OUTPUT],
            dynamic_shapes={"inputs": {m: {0: batch} for m in names},
                            "present": {m: {0: batch} for m in names}},
            dynamo=True, verbose=False)
    proto = program.model_proto
    entry = proto.metadata_props.add()
    entry.key, entry.value = SPEC_KEY, json.dumps(spec, sort_keys=True)
    return proto.SerializeToString()
