"""`export`: a stored model as ONNX (`--load-versions=fusion_model:<version>` to choose one)."""

from kedro.pipeline import Pipeline, node

from .nodes import export_model


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([node(export_model, inputs="fusion_model", outputs="onnx_model",
                          name="export_model")])
