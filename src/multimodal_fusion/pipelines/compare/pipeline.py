"""`compare`: every strategy of the registry on one split, then a leaderboard.

Each strategy is a namespace of its own, so kedro-viz shows them side by side; they share
the prepared data, the features and the training settings, and each gives one metrics
record (or the reason it was skipped). Trainings are reused through a store on disk, not
through anything the nodes share, so any runner runs them. The stages before the model
inputs are `train`'s, composed in the pipeline registry.
"""

from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node

from multimodal_fusion.evaluation.comparison import compare_strategy
from multimodal_fusion.evaluation.summary import compare_summary
from multimodal_fusion.training.strategies import every_strategy

from .nodes import build_leaderboard, write_compare_report


def strategy_pipeline(strategy: str) -> Pipeline:
    """Train and score one strategy, its datasets prefixed with its name."""
    return Pipeline(
        [node(update_wrapper(partial(compare_strategy, strategy), compare_strategy),
              inputs=["model_inputs", "split_manifest", "manifest_demo_metadata",
                      "params:training", "params:compare", "params:evaluation", "params:seed"],
              outputs="metrics", name="train_and_score")],
        namespace=strategy,
        inputs={"model_inputs", "split_manifest", "manifest_demo_metadata"},
        outputs={"metrics": f"{strategy}_metrics"},
        parameters={"params:training", "params:compare", "params:seed", "params:evaluation"},
    )


def create_pipeline(**kwargs) -> Pipeline:
    strategies = list(every_strategy())
    return Pipeline([
        *(strategy_pipeline(strategy) for strategy in strategies),
        node(build_leaderboard,
             inputs={strategy: f"{strategy}_metrics" for strategy in strategies},
             outputs=["leaderboard", "leaderboard_plot"], name="build_leaderboard"),
        node(write_compare_report,
             inputs=["leaderboard", "leaderboard_plot", "model_inputs", "parameters",
                     "quarantine_report", "run_context", "split_manifest"],
             outputs="compare_report", name="write_compare_report"),
        node(compare_summary, inputs="leaderboard", outputs="compare_summary",
             name="summarise_comparison"),
    ])
