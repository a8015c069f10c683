"""`training`: assemble model inputs from every modality's features, then fit the classifier."""

from kedro.pipeline import Pipeline, node

from multimodal_fusion.modalities import MODALITY_NAMES

from .nodes import build_model_inputs, train_model


def create_pipeline(**kwargs) -> Pipeline:
    features = {name: f"{name}_features" for name in MODALITY_NAMES}
    return Pipeline([
        node(build_model_inputs, inputs={"manifest": "split_manifest", **features},
             outputs="model_inputs", name="build_model_inputs"),
        node(train_model, inputs=["model_inputs", "params:training", "params:seed"],
             outputs=["fusion_model", "training_history"], name="train_model"),
    ])
