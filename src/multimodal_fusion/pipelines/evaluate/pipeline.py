"""`evaluate`: re-evaluate a stored model on its own split, and compare with what it stored.

`kedro run --pipelines=evaluate --load-versions=fusion_model:<version>` (the newest model
without it). The split, history, metrics and run record of the model's own run are read
beside it (see `hooks.pin_model_companions`); the run stops if the data changed since.
"""

from kedro.pipeline import Pipeline, node, pipeline

from multimodal_fusion.evaluation.summary import evaluate_summary
from multimodal_fusion.pipelines.evaluation import scoring_pipeline

from .nodes import check_data_unchanged, compare_with_stored, rebuild_model_inputs


def create_pipeline(**kwargs) -> Pipeline:
    rescore = pipeline(
        scoring_pipeline(), namespace="evaluate",
        inputs={"fusion_model": "fusion_model", "training_history": "training_history",
                "manifest_demo_metadata": "manifest_demo_metadata",
                "model_inputs": "evaluated_model_inputs", "split_manifest": "evaluated_split"},
        outputs={"metrics": "reevaluated_metrics"}, parameters={"params:evaluation"})
    return Pipeline([
        node(check_data_unchanged, inputs=["split_manifest", "run_record", "run_context",
                                           "params:extraction"],
             outputs="evaluated_split", name="check_data_unchanged"),
        node(rebuild_model_inputs, inputs=["evaluated_split", "fusion_model",
                                           "params:extraction", "params:seed"],
             outputs="evaluated_model_inputs", name="rebuild_model_inputs"),
        rescore,
        node(compare_with_stored, inputs=["reevaluated_metrics", "metrics"],
             outputs="reproduction", name="compare_with_stored"),
        node(evaluate_summary, inputs=["reproduction", "reevaluated_metrics"],
             outputs="evaluate_summary", name="summarise_evaluation"),
    ])
