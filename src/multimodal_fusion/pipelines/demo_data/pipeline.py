"""`demo_data`: build the embedded tri-modal digits dataset under data/01_raw/demo/."""

from kedro.pipeline import Pipeline, node

from .nodes import build_demo_dataset


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([
        node(build_demo_dataset, inputs=["params:demo_data", "params:seed"], outputs="demo",
             name="build_demo_dataset"),
    ])
