"""The dependency rules of docs/ARCHITECTURE.md, checked on the source.

adapters -> runtime.frames + the pose contract; runtime -> models; models -> nothing of ours;
inside runtime, each stage package imports only the top-level modules and the stages below it;
config imports only leaves; the live package never imports the offline tooling or the CLI;
no import cycles anywhere (function-level imports included).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("runtime", "models", "adapters", "benchmarks")
POSE_CONTRACT = {"arkit.py", "rotations.py", "skeleton.py", "pose.py"}

# Top-level runtime modules every stage may use (the session's spine and its shared types).
RUNTIME_CORE = {"config", "errors", "frames", "clock", "stats", "frame_store", "logs", "assets"}
# Stage packages of the live runtime and the runtime packages each may import (besides RUNTIME_CORE).
STAGE_IMPORTS = {
    "audio": set(),
    "frontend": set(),
    "speech": {"frontend"},  # the speech features read VAD segments
    "animate": {"frontend"},  # animators read the frame features
    "io": set(),
}
LEAVES = {"dyad.runtime.errors", "dyad.runtime.frames", "dyad.models.actions"}  # import nothing of ours


def module_name(path: Path) -> str:
    relative = path.relative_to(ROOT).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["dyad", *parts])


def imports(path: Path, top_level_only: bool = False) -> set[str]:
    """Modules of ours (and others) that `path` imports; `from package import module` counts the module."""
    tree = ast.parse(path.read_text(), filename=str(path))
    nodes = tree.body if top_level_only else ast.walk(tree)
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES)
    return names


def sources(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


MODULES = {module_name(p): p for folder in FOLDERS for p in sources(folder)}


def ours(path: Path, top_level_only: bool = False) -> set[str]:
    """Imported modules of ours, resolved to the module (not the name inside it)."""
    found = set()
    for name in imports(path, top_level_only):
        while name and name not in MODULES:
            name = name.rpartition(".")[0]
        if name and name != module_name(path) and name != "dyad":
            found.add(name)
    return found


def test_every_source_file_is_found():
    assert {"dyad.runtime.session", "dyad.runtime.cli.main", "dyad.models.pose", "dyad.adapters.vmc_osc"} <= set(MODULES)


@pytest.mark.parametrize("path", sources("models"), ids=lambda p: p.name)
def test_models_import_nothing_of_runtime_or_adapters(path):
    bad = {m for m in imports(path) if m.startswith(("dyad.runtime", "dyad.adapters", "dyad.benchmarks"))}
    assert not bad, f"{path.name} imports {bad}"
    if path.name in POSE_CONTRACT:
        heavy = {m for m in imports(path) if m.split(".")[0] in {"torch", "torchaudio", "scipy"}}
        assert not heavy, f"pose contract module {path.name} must be numpy only, imports {heavy}"


@pytest.mark.parametrize("path", sources("adapters"), ids=lambda p: p.name)
def test_adapters_import_only_the_pose_contract_and_frames(path):
    modules = imports(path)
    found = ours(path)
    allowed = {f"dyad.models.{name[:-3]}" for name in POSE_CONTRACT} | {"dyad.runtime.frames"}
    shared_transport = {m for m in found if m.startswith("dyad.adapters.")}  # e.g. the UDP target the UDP sinks share
    assert found - shared_transport <= allowed, f"{path.name} imports {found - shared_transport - allowed}"
    assert not {m for m in modules if m.split(".")[0] in {"torch", "torchaudio"}}, f"{path.name} imports torch"


@pytest.mark.parametrize("path", sources("runtime"), ids=lambda p: str(p.relative_to(ROOT)))
def test_runtime_does_not_import_adapters_at_module_level(path):
    # Only the wiring (sinks, session, CLI) may build adapters, and it does so lazily.
    assert not {m for m in imports(path, top_level_only=True) if m.startswith("dyad.adapters")}, f"{path.name} imports adapters at module level"


@pytest.mark.parametrize("leaf", sorted(LEAVES | {"dyad.runtime.config"}))
def test_config_and_leaves_import_only_leaves(leaf):
    found = ours(MODULES[leaf])
    allowed = set() if leaf in LEAVES else LEAVES
    assert found <= allowed, f"{leaf} imports {found - allowed}"


def _stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if len(parts) > 3 and parts[:2] == ["dyad", "runtime"] else None


@pytest.mark.parametrize("stage", sorted(STAGE_IMPORTS))
def test_stage_packages_import_only_the_core_and_the_stages_below(stage):
    allowed = {f"dyad.runtime.{name}" for name in RUNTIME_CORE} | {f"dyad.runtime.{s}" for s in STAGE_IMPORTS[stage] | {stage}}
    for path in sources(f"runtime/{stage}"):
        runtime_imports = {m for m in ours(path) if m.startswith("dyad.runtime.")}
        bad = {m for m in runtime_imports if not any(m == a or m.startswith(a + ".") for a in allowed)}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


@pytest.mark.parametrize("path", [p for p in sources("runtime") if _stage(module_name(p)) not in ("offline", "cli")], ids=lambda p: str(p.relative_to(ROOT)))
def test_live_runtime_never_imports_offline_tooling_cli_or_benchmarks(path):
    bad = {m for m in ours(path) if m.startswith(("dyad.runtime.offline", "dyad.runtime.cli", "dyad.benchmarks"))}
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path of module names, or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in sorted(graph):
        if state.get(start):
            continue
        path, stack = [start], [iter(sorted(graph[start]))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph.get(nxt, ()))))
    return None


def _package_of(module: str) -> str | None:
    return module.rpartition(".")[0] if module.rpartition(".")[0] in MODULES else None


def test_no_import_cycles():
    # A package's __init__ runs before its modules, so importing a module also imports its package.
    graph = {name: ours(path) for name, path in MODULES.items()}
    for name in list(graph):
        if (package := _package_of(name)) and not name.endswith("__main__"):
            graph[name] = graph[name] - {package}
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_pyproject_installs_every_package_folder():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(project["packages"])
    folders = {module_name(p) for folder in FOLDERS for p in (ROOT / folder).rglob("__init__.py")}
    assert folders <= listed, f"pyproject.toml does not install {sorted(folders - listed)}"
    assert {"dyad.runtime.assets", "dyad.models.assets"} <= listed and "dyad.runtime.assets" in project["package-data"]


def test_tests_mirror_the_source_layout():
    # tests/runtime/io/test_x.py tests something under runtime/io/: every test folder names a source folder.
    for path in (ROOT / "tests").rglob("test_*.py"):
        folder = path.parent.relative_to(ROOT / "tests")
        if folder.parts:
            assert (ROOT / folder).is_dir(), f"tests/{folder} mirrors no source folder"
