"""`training`: assemble model inputs from every modality's features, then fit the classifier."""

from kedro.pipeline import Pipeline, node

from multimodal_fusion.modalities import modality_names, registered

from .nodes import (
    build_model_inputs,
    collect_feature_recipe,
    hyperparameter_search,
    report_quarantine,
    train_model,
    train_reference,
)


def model_inputs_pipeline() -> Pipeline:
    """The model inputs, which `compare` feeds to every strategy, and the run's quarantine
    report: validation's, with the files that failed in extraction."""
    features = {name: f"{name}_features" for name in modality_names()}
    return Pipeline([
        node(build_model_inputs, inputs={"manifest": "split_manifest", **features},
             outputs="model_inputs", name="build_model_inputs"),
        node(report_quarantine, inputs={"validation": "validation_report",
                                        "manifest": "split_manifest",
                                        "settings": "params:data_preparation", **features},
             outputs="quarantine_report", name="report_quarantine"),
    ])


def create_pipeline(**kwargs) -> Pipeline:
    recipe = {name: f"params:{name}" for name in modality_names()} | {
        f"{m.name}_fitted": f"{m.name}_fitted" for m in registered() if m.fits}
    return model_inputs_pipeline() + Pipeline([
        node(collect_feature_recipe, inputs=recipe, outputs="feature_recipe",
             name="collect_feature_recipe"),
        node(hyperparameter_search, inputs=["model_inputs", "params:training", "params:seed"],
             outputs="hyperparameter_search", name="search_hyperparameters"),
        node(train_model, inputs=["model_inputs", "params:training", "params:seed",
                                  "feature_recipe", "hyperparameter_search"],
             outputs=["fusion_model", "training_history"], name="train_model"),
        node(train_reference, inputs=["model_inputs", "split_manifest", "manifest_demo_metadata",
                                      "params:training", "params:compare", "params:evaluation",
                                      "params:seed"],
             outputs="reference_metrics", name="train_reference"),
    ])
