"""`training`: assemble model inputs, then build and fit the fusion classifier."""

from kedro.pipeline import Pipeline, node

from .nodes import build_model_inputs, train_model


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([
        node(build_model_inputs,
             inputs=["split_manifest", "image_features", "text_features", "audio_features"],
             outputs="model_inputs", name="build_model_inputs"),
        node(train_model, inputs=["model_inputs", "params:training", "params:seed"],
             outputs=["fusion_model", "training_history"], name="train_model"),
    ])
