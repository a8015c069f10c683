from multimodal_fusion.fusion import STRATEGY_NAMES
from multimodal_fusion.pipeline_registry import register_pipelines


def test_registry_has_every_stage_and_train_is_the_default():
    pipelines = register_pipelines()
    assert set(pipelines) == {"demo_data", "data_preparation", "features", "training",
                              "evaluation", "train", "compare", "__default__"}
    stages = ("data_preparation", "features", "training", "evaluation")
    assert {n.name for n in pipelines["train"].nodes} == {
        n.name for stage in stages for n in pipelines[stage].nodes}
    assert pipelines["__default__"].nodes == pipelines["train"].nodes


def test_train_needs_only_the_manifest_its_metadata_and_parameters():
    inputs = register_pipelines()["train"].inputs()
    assert {i for i in inputs if not i.startswith("params:")} == {
        "manifest", "manifest_demo_metadata"}


def test_features_has_one_namespace_per_modality():
    features = register_pipelines()["features"]
    assert {n.namespace for n in features.nodes} == {"image", "text", "audio"}
    assert features.outputs() >= {"image_features", "text_features", "audio_features"}


def test_compare_has_one_namespace_per_strategy_feeding_the_leaderboard():
    compare = register_pipelines()["compare"]
    namespaces = {n.namespace for n in compare.nodes} - {None, "image", "text", "audio"}
    assert namespaces == set(STRATEGY_NAMES)
    leaderboard = next(n for n in compare.nodes if n.name == "build_leaderboard")
    assert set(leaderboard.inputs) == {f"{s}_metrics" for s in STRATEGY_NAMES}
