"""Project pipelines."""

from __future__ import annotations

from kedro.pipeline import Pipeline

from multimodal_fusion.pipelines import (
    compare,
    data_preparation,
    demo_data,
    evaluate,
    evaluation,
    export,
    features,
    inference,
    training,
)


def stage(name: str, pipeline: Pipeline) -> Pipeline:
    """The stage's nodes in a namespace of its name, their datasets keeping theirs: kedro-viz
    folds a stage into one box, `--namespaces=training` runs one, and an orchestrator's
    task is a stage (kedro-airflow's `--group-by namespace`), each modality of `features`
    one of its own (and `inference`, a stage of one, one task)."""
    return Pipeline(pipeline, namespace=name, prefix_datasets_with_namespace=False)


def register_pipelines() -> dict[str, Pipeline]:
    """Each stage on its own; `train`, the four stages in a row (the default); `compare`, the
    same model inputs feeding every strategy; `inference`, `export` and `evaluate`.

    Listed by hand rather than discovered: `train` and `compare` are composites of the
    stages, with no folder of their own for `train`.
    """
    stages = {
        "data_preparation": stage("data_preparation", data_preparation.create_pipeline()),
        "features": features.create_pipeline(),
        "training": stage("training", training.create_pipeline()),
        "evaluation": stage("evaluation", evaluation.create_pipeline()),
    }
    train = sum(stages.values(), Pipeline([]))
    model_inputs = (stages["data_preparation"] + stages["features"]
                    + training.model_inputs_pipeline())
    return {"demo_data": demo_data.create_pipeline(), **stages, "train": train,
            "compare": model_inputs + compare.create_pipeline(),
            "inference": stage("inference", inference.create_pipeline()),
            "export": export.create_pipeline(), "evaluate": evaluate.create_pipeline(),
            "__default__": train}
