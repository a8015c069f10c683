"""Imports run downwards only: library layers never reach up, and none imports the demo."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "multimodal_fusion"
# Each library layer and what it may import from the package; Kedro nowhere in them.
BASE = {"core"}
ALLOWED = {
    "core": BASE,
    "contract": BASE | {"contract", "modalities"},
    "modalities": BASE | {"modalities", "contract"},
    "fusion": BASE | {"fusion", "modalities"},
    "models": BASE | {"models", "fusion", "modalities"},
    "training": BASE | {"training", "models", "fusion", "modalities"},
    "evaluation": BASE | {"evaluation", "training", "models", "fusion", "modalities"},
    "runs": BASE | {"runs", "modalities"},
    "serving": BASE | {"serving", "models", "modalities"},
}


def imported_parts(path: Path) -> set[str]:
    """The package's top-level modules that a file imports, and any third-party roots."""
    parts = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else (
            [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
        for name in names:
            pieces = name.split(".")
            parts.add(pieces[1] if pieces[0] == "multimodal_fusion" and len(pieces) > 1
                      else f"<{pieces[0]}>")
    return parts


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_a_library_layer_imports_only_layers_below_it(layer):
    for path in sorted((PACKAGE / layer).glob("*.py")):
        package_parts = {p for p in imported_parts(path) if not p.startswith("<")}
        assert package_parts <= ALLOWED[layer], f"{path.name} imports {package_parts}"
        assert "<kedro>" not in imported_parts(path), path.name


KEDRO_WIRING = {"__init__", "__main__", "hooks", "settings", "pipeline_registry"}


def test_the_package_root_holds_only_kedro_wiring():
    assert {p.stem for p in PACKAGE.glob("*.py")} == KEDRO_WIRING
