import subprocess
import sys

from multimodal_fusion.modalities import modality_names
from multimodal_fusion.pipeline_registry import register_pipelines
from multimodal_fusion.training.strategies import every_strategy


def test_registry_has_every_stage_and_train_is_the_default():
    pipelines = register_pipelines()
    assert set(pipelines) == {"demo_data", "data_preparation", "features", "training",
                              "evaluation", "train", "compare", "inference", "export",
                              "evaluate", "__default__"}
    stages = ("data_preparation", "features", "training", "evaluation")
    assert {n.name for n in pipelines["train"].nodes} == {
        n.name for stage in stages for n in pipelines[stage].nodes}
    assert pipelines["__default__"].nodes == pipelines["train"].nodes


def test_train_needs_only_the_manifest_its_metadata_and_parameters():
    inputs = register_pipelines()["train"].inputs()
    assert {i for i in inputs if not i.startswith("params:")} == {
        "manifest", "manifest_demo_metadata", "parameters", "run_context"}


def test_features_has_one_namespace_per_registered_modality_feeding_training():
    pipelines = register_pipelines()
    assert {n.namespace for n in pipelines["features"].nodes} == set(modality_names())
    tables = {f"{m}_features" for m in modality_names()}
    assert pipelines["features"].outputs() >= tables
    build = next(n for n in pipelines["training"].nodes if n.name == "training.build_model_inputs")
    assert set(build.inputs) == {"split_manifest", *tables}


def test_trains_stages_group_into_one_task_each_and_one_per_modality():
    """What an orchestrator's tasks are (kedro-airflow's `--group-by namespace`): the
    modalities side by side after the split, training after them all."""
    groups = {g.name: set(g.dependencies)
              for g in register_pipelines()["train"].group_nodes_by("namespace")}
    assert groups == {"data_preparation": set(),
                      **{m: {"data_preparation"} for m in modality_names()},
                      "training": {"data_preparation", *modality_names()},
                      "evaluation": {"data_preparation", "training"}}
    assert {g.name for g in register_pipelines()["inference"].group_nodes_by()} == {"inference"}


def test_compare_has_one_namespace_per_strategy_feeding_the_leaderboard():
    compare = register_pipelines()["compare"]
    namespaces = {n.namespace for n in compare.nodes} - {None, "data_preparation",
                                                         *modality_names()}
    assert namespaces == set(every_strategy())
    leaderboard = next(n for n in compare.nodes if n.name == "build_leaderboard")
    assert set(leaderboard.inputs) == {f"{s}_metrics" for s in every_strategy()}


def test_inference_needs_the_manifest_a_model_and_parameters_only():
    inputs = register_pipelines()["inference"].inputs()
    assert {i for i in inputs if not i.startswith("params:")} == {"manifest", "fusion_model"}


def test_the_model_keeps_what_every_fitting_modality_learnt():
    recipe = next(n for n in register_pipelines()["train"].nodes
                  if n.name == "training.collect_feature_recipe")
    assert {"text_fitted", "tabular_fitted"} <= set(recipe.inputs)
    assert {f"params:{m}" for m in modality_names()} <= set(recipe.inputs)


def test_no_stage_imports_torchvision_before_it_decodes_augments_or_builds_a_resnet():
    """Importing torchvision loads torch._dynamo: 1.3 to 2 s of a command's start here,
    which `evaluation` and `evaluate`, working on stored tensors, need not pay."""
    code = ("import sys\n"
            "import multimodal_fusion.settings\n"
            "from multimodal_fusion.pipeline_registry import register_pipelines\n"
            "from multimodal_fusion.evaluation.robustness import modality_analysis\n"
            "register_pipelines()\n"
            "print(sorted(name for name in sys.modules if name.startswith('torchvision')))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"
