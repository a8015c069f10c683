"""Kedro datasets for what the stock ones do not cover: the demo's folder, manifests, arrays,
models, exported models, optional side files, and versioned datasets whose versions a run
pins."""

from multimodal_fusion.datasets.bytes_dataset import VersionedBytesDataset
from multimodal_fusion.datasets.demo_dataset import DemoFolderDataset
from multimodal_fusion.datasets.manifest_dataset import ManifestDataset
from multimodal_fusion.datasets.model_dataset import TorchModelDataset
from multimodal_fusion.datasets.npz_dataset import NpzDataset, RunNpzDataset
from multimodal_fusion.datasets.optional_json_dataset import OptionalJSONDataset
from multimodal_fusion.datasets.versioned import (
    RunCSVDataset,
    RunJSONDataset,
    RunParquetDataset,
    RunPlotlyDataset,
    RunTextDataset,
    RunVersioned,
)

__all__ = ["DemoFolderDataset", "ManifestDataset", "NpzDataset", "OptionalJSONDataset",
           "RunCSVDataset", "RunJSONDataset", "RunNpzDataset", "RunParquetDataset",
           "RunPlotlyDataset", "RunTextDataset", "RunVersioned", "TorchModelDataset",
           "VersionedBytesDataset"]
