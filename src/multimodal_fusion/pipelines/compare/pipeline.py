"""`compare`: every fusion strategy and unimodal baseline on one split, then a leaderboard.

Each strategy is a namespace of its own (train, predict, score), so kedro-viz shows them
side by side; they share the prepared data, the features and the training settings. The
baselines follow from the modality registry; one whose modality the data lacks is skipped
and listed as such. `auto` reuses the trainings of its candidates' namespaces.
"""

from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node

from multimodal_fusion.fusion import STRATEGY_NAMES
from multimodal_fusion.pipelines import data_preparation, evaluation, features, training
from multimodal_fusion.training.memo import TrainingMemo

from .nodes import build_leaderboard, train_with_fusion, write_compare_report


def strategy_pipeline(strategy: str, memo: TrainingMemo) -> Pipeline:
    """Train and evaluate one strategy, its datasets prefixed with its name."""
    train = node(
        update_wrapper(partial(train_with_fusion, fusion=strategy, memo=memo),
                       train_with_fusion),
        inputs=["model_inputs", "params:training", "params:compare", "params:seed"],
        outputs=["fusion_model", "training_history"],
        name="train_model",
    )
    return Pipeline(
        [train, evaluation.scoring_pipeline()],
        namespace=strategy,
        inputs={"model_inputs", "split_manifest", "manifest_demo_metadata"},
        outputs={"metrics": f"{strategy}_metrics"},
        parameters={"params:training", "params:compare", "params:seed", "params:evaluation"},
    )


def create_pipeline(**kwargs) -> Pipeline:
    memo = TrainingMemo()
    leaderboard = node(
        build_leaderboard,
        inputs={strategy: f"{strategy}_metrics" for strategy in STRATEGY_NAMES},
        outputs=["leaderboard", "leaderboard_chart"],
        name="build_leaderboard",
    )
    return Pipeline([
        data_preparation.create_pipeline(),
        features.create_pipeline(),
        training.create_pipeline().only_nodes("build_model_inputs"),
        *(strategy_pipeline(strategy, memo) for strategy in STRATEGY_NAMES),
        leaderboard,
        node(write_compare_report, inputs=["leaderboard", "model_inputs", "parameters",
                                           "quarantine_report", "run_context", "split_manifest"],
             outputs="compare_report", name="write_compare_report"),
    ])
