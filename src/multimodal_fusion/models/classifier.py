"""The multimodal classifier: encoders per modality, a fusion strategy and an MLP head.

It is rebuilt from a plain JSON spec, so a saved model is weights plus that spec and never a
pickle. A spec looks like::

    {"classes": ["0", "1"], "fusion": "attention", "fusion_options": {}, "embedding_dim": 64,
     "hidden_dim": 128, "dropout": 0.2,
     "modalities": {"image": {"encoder": "small_cnn", "input_shape": [3, 32, 32]},
                    "audio": {"encoder": "mlp", "input_shape": [300], "standardise": true}}}
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from multimodal_fusion.core.config import typed_settings
from multimodal_fusion.fusion.common import FusionShape
from multimodal_fusion.models.encoders import ENCODERS


class MultimodalClassifier(nn.Module):
    """Logits from whichever modalities a sample has; a missing one contributes zeros.

    `fusion` is the fusion module's class (the strategy registry's entry names it); it is
    built with the spec's `fusion_options`.
    """

    def __init__(self, spec: dict, fusion: type[nn.Module]) -> None:
        super().__init__()
        self.spec = spec
        self.modalities = sorted(spec["modalities"])
        dim = spec["embedding_dim"]
        self.encoders = nn.ModuleDict(
            {m: build_encoder(spec["modalities"][m], spec) for m in self.modalities}
        )
        num_classes = len(spec["classes"])
        options = typed_settings(fusion.Settings, spec["fusion_options"],
                                 f"training.model.fusion_options.{spec['fusion']}")
        self.fusion = fusion(FusionShape({m: dim for m in self.modalities}, spec["hidden_dim"],
                                         num_classes, spec["dropout"]), options)
        self.head = nn.Identity() if getattr(self.fusion, "produces_logits", False) else (
            nn.Sequential(
                nn.Linear(self.fusion.output_dim, spec["hidden_dim"]), nn.ReLU(inplace=True),
                nn.Dropout(spec["dropout"]), nn.Linear(spec["hidden_dim"], num_classes),
            )
        )
        self.unimodal_heads = nn.ModuleDict(
            {m: nn.Linear(dim, num_classes) for m in self.modalities}
        )

    def fit_standardisation(self, values: Callable[[str], Tensor],
                            present: dict[str, Tensor]) -> None:
        """Give each encoder that standardises (vector MLPs, where the spec asks) the mean and
        spread of the training samples that have its modality; they are saved as buffers.

        `values(modality)` gives the training samples' values of one modality on the CPU; it
        is asked only for the modalities that standardise, so streamed data stays on disk.
        """
        for modality, encoder in self.encoders.items():
            if self.spec["modalities"][modality]["standardise"] and hasattr(
                    encoder, "set_standardisation"):
                encoder.set_standardisation(values(modality)[present[modality].cpu()])

    def forward(self, inputs: dict[str, Tensor], present: dict[str, Tensor],
                with_unimodal: bool = False) -> Tensor | tuple[Tensor, dict[str, Tensor]]:
        """Fused logits; with `with_unimodal`, also each modality's logits from its own head.

        The unimodal logits feed an auxiliary training loss: without it, the modalities that
        are quickest to learn (text, audio) starve slower encoders (the CNN) of gradient, and
        the model fails on samples where only the slow modality is intact. They go through
        `forward` so that DistributedDataParallel sees and synchronises them.
        """
        embeddings = self.embed(inputs)
        fused = self.fuse(embeddings, present)
        if not with_unimodal:
            return fused
        return fused, {m: self.unimodal_heads[m](e) for m, e in embeddings.items()}


    def embed(self, inputs: dict[str, Tensor]) -> dict[str, Tensor]:
        """The embedding of each modality `inputs` holds, from its encoder. It does not
        depend on which modalities a sample has, so evaluation computes it once and hides
        modalities after."""
        return {m: self.encoders[m](inputs[m]) for m in self.modalities if m in inputs}

    def fuse(self, embeddings: dict[str, Tensor], present: dict[str, Tensor]) -> Tensor:
        """Fused logits from the embeddings of the modalities `present` marks."""
        return self.head(self.fusion(embeddings, present))


def build_encoder(modality_spec: dict, spec: dict) -> nn.Module:
    """The encoder a modality's spec names, producing `embedding_dim` features."""
    kind = modality_spec["encoder"]
    if kind not in ENCODERS:
        raise ValueError(f"unknown encoder {kind!r}; choose one of {', '.join(ENCODERS)}")
    return ENCODERS[kind].from_spec(modality_spec, spec)
