"""The folders read as the architecture: each room imports only rooms below it, nothing forms
a cycle, the library never imports Kedro, and the package root holds only Kedro wiring."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "multimodal_fusion"
# The library's rooms, bottom first: each may import only itself and the rooms before it.
LIBRARY = ("core", "contract", "modalities", "fusion", "models", "training", "evaluation",
           "runs", "serving", "demo")
KEDRO = ("datasets", "pipelines")
KEDRO_WIRING = {"__init__", "__main__", "hooks", "settings", "pipeline_registry",
                "orchestration"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def runtime_imports(path: Path) -> set[str]:
    """The modules a file imports when it runs: those under `if TYPE_CHECKING:` only serve
    type checkers and are left out; an import inside a function counts."""
    tree = ast.parse(path.read_text())
    typing_only = {id(node) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and getattr(block.test, "id", "") == "TYPE_CHECKING"
                   for node in ast.walk(block)}
    names = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
GRAPH = {name: {m for m in runtime_imports(path) if m in MODULES and m != name}
         for name, path in MODULES.items()}


def room(module: str) -> str:
    return module.split(".")[1] if module.count(".") else module


@pytest.mark.parametrize("layer", LIBRARY)
def test_a_library_room_imports_only_rooms_below_it_and_never_kedro(layer):
    allowed = set(LIBRARY[:LIBRARY.index(layer) + 1])
    for name, path in MODULES.items():
        if room(name) != layer:
            continue
        upward = {room(m) for m in GRAPH[name]} - allowed
        assert not upward, f"{name} imports from {upward}"
        assert not any(m.split(".")[0] == "kedro" for m in runtime_imports(path)), name


def test_no_module_imports_itself_back_through_others():
    visiting, done = set(), set()

    def visit(name: str, trail: list[str]) -> None:
        if name in done:
            return
        assert name not in visiting, f"an import cycle: {' -> '.join([*trail, name])}"
        visiting.add(name)
        for imported in sorted(GRAPH[name]):
            visit(imported, [*trail, name])
        visiting.discard(name)
        done.add(name)

    for name in MODULES:
        visit(name, [])


def test_the_package_root_holds_only_kedro_wiring_and_the_rooms():
    assert {p.stem for p in PACKAGE.glob("*.py")} == KEDRO_WIRING
    rooms = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert rooms == {*LIBRARY, *KEDRO}
