"""`inference`: predictions for a manifest, from a stored model version; scored as `train`
scores its test split where the manifest brings labels.

`kedro run --pipelines=inference --params=manifest=new/manifest.csv` uses the latest model
`train` saved; `--load-versions=fusion_model:<version>` chooses one.
"""

from kedro.pipeline import Pipeline, node

from multimodal_fusion.evaluation.scoring import score_labelled_predictions
from multimodal_fusion.evaluation.summary import inference_summary

from .nodes import (
    compute_new_features,
    predict_new_samples,
    report_new_quarantine,
    validate_new_samples,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([
        node(validate_new_samples, inputs=["manifest", "params:data_preparation", "fusion_model",
                                           "params:extraction"],
             outputs=["new_samples", "inference_validation_report"],
             name="validate_new_samples"),
        node(compute_new_features, inputs=["new_samples", "fusion_model", "params:extraction",
                                           "params:seed"],
             outputs="features_of_new_samples", name="compute_new_features"),
        node(report_new_quarantine, inputs=["inference_validation_report", "new_samples",
                                            "params:data_preparation",
                                            "features_of_new_samples"],
             outputs="inference_quarantine_report", name="report_new_quarantine"),
        node(predict_new_samples, inputs=["fusion_model", "features_of_new_samples", "new_samples"],
             outputs="predictions", name="predict_new_samples"),
        node(score_labelled_predictions,
             inputs=["predictions", "fusion_model", "params:evaluation"],
             outputs="inference_metrics", name="score_labelled_predictions"),
        node(inference_summary, inputs=["predictions", "inference_metrics"],
             outputs="inference_summary", name="summarise_predictions"),
    ])
