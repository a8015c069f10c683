"""`evaluation`: predictions, metrics and the confusion matrix on the test split."""

from kedro.pipeline import Pipeline, node

from .nodes import compute_test_metrics, plot_confusion_matrix, predict_test_split


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([
        node(predict_test_split, inputs=["fusion_model", "model_inputs", "split_manifest"],
             outputs="test_predictions", name="predict_test_split"),
        node(compute_test_metrics,
             inputs=["test_predictions", "fusion_model", "training_history",
                     "manifest_demo_metadata"],
             outputs="metrics", name="compute_test_metrics"),
        node(plot_confusion_matrix, inputs=["test_predictions", "fusion_model"],
             outputs="confusion_matrix", name="plot_confusion_matrix"),
    ])
