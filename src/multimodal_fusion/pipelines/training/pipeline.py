"""`training`: assemble model inputs from every modality's features, then fit the classifier."""

from kedro.pipeline import Pipeline, node

from multimodal_fusion.modalities import MODALITY_NAMES, registered

from .nodes import build_model_inputs, collect_feature_recipe, train_model


def create_pipeline(**kwargs) -> Pipeline:
    features = {name: f"{name}_features" for name in MODALITY_NAMES}
    recipe = {name: f"params:{name}" for name in MODALITY_NAMES} | {
        f"{m.name}_fitted": f"{m.name}_fitted" for m in registered() if m.fits}
    return Pipeline([
        node(build_model_inputs, inputs={"manifest": "split_manifest", **features},
             outputs="model_inputs", name="build_model_inputs"),
        node(collect_feature_recipe, inputs=recipe, outputs="feature_recipe",
             name="collect_feature_recipe"),
        node(train_model, inputs=["model_inputs", "params:training", "params:seed",
                                  "feature_recipe"],
             outputs=["fusion_model", "training_history"], name="train_model"),
    ])
