"""`evaluation`: predictions and metrics on the test split, then what the model leans on.

`scoring` (predictions and metrics) is what `evaluate` runs again on a stored model; the
modality analysis, the plots, the record and the report are the trained model's.
"""

from kedro.pipeline import Pipeline, node

from multimodal_fusion.evaluation.scoring import predict_test_split, score_test_split
from multimodal_fusion.evaluation.summary import train_summary

from .nodes import analyse_modalities, plot_run, plot_search, record_run, write_report

PLOTS = ["training_curves_plot", "confusion_plot", "reliability_plot", "contributions_plot",
         "robustness_plot"]


def scoring_pipeline() -> Pipeline:
    return Pipeline([
        node(predict_test_split, inputs=["fusion_model", "model_inputs", "split_manifest"],
             outputs="test_predictions", name="predict_test_split"),
        node(score_test_split,
             inputs=["test_predictions", "fusion_model", "training_history",
                     "manifest_demo_metadata", "params:evaluation"],
             outputs="metrics", name="score_test_split"),
    ])


def create_pipeline(**kwargs) -> Pipeline:
    return scoring_pipeline() + Pipeline([
        node(analyse_modalities,
             inputs=["fusion_model", "model_inputs", "params:evaluation", "params:seed"],
             outputs="modality_analysis", name="analyse_modalities"),
        node(plot_run, inputs=["training_history", "metrics", "modality_analysis"],
             outputs=PLOTS, name="plot_run"),
        node(plot_search, inputs="hyperparameter_search", outputs="search_plot",
             name="plot_search"),
        node(record_run, inputs=["run_context", "parameters", "split_manifest", "params:seed",
                                 "metrics"],
             outputs="run_record", name="record_run"),
        node(write_report, inputs=["metrics", "modality_analysis", "model_inputs", "parameters",
                                   "quarantine_report", "run_record", "hyperparameter_search",
                                   "search_plot", *PLOTS],
             outputs="run_report", name="write_report"),
        node(train_summary, inputs=["metrics", "modality_analysis", "reference_metrics"],
             outputs="train_summary", name="summarise_run"),
    ])
