"""Kedro datasets for what the stock ones do not cover: manifests, audio, arrays, models,
exported models."""

from multimodal_fusion.datasets.audio_dataset import AudioDataset
from multimodal_fusion.datasets.bytes_dataset import VersionedBytesDataset
from multimodal_fusion.datasets.manifest_dataset import ManifestDataset
from multimodal_fusion.datasets.model_dataset import TorchModelDataset
from multimodal_fusion.datasets.npz_dataset import NpzDataset
from multimodal_fusion.datasets.optional_json_dataset import OptionalJSONDataset

__all__ = ["AudioDataset", "ManifestDataset", "NpzDataset", "OptionalJSONDataset",
           "TorchModelDataset", "VersionedBytesDataset"]
