"""The dependency direction of DESIGN.md, checked on the source: adapters -> runtime.frames + models; runtime -> models."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
POSE_CONTRACT = {"arkit.py", "rotations.py", "skeleton.py", "pose.py"}


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def sources(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("path", sources("models"), ids=lambda p: p.name)
def test_models_import_nothing_of_runtime_or_adapters(path):
    bad = {m for m in imported_modules(path) if m.startswith(("dyad.runtime", "dyad.adapters", "dyad.benchmarks"))}
    assert not bad, f"{path.name} imports {bad}"
    if path.name in POSE_CONTRACT:
        heavy = {m for m in imported_modules(path) if m.split(".")[0] in {"torch", "torchaudio", "scipy"}}
        assert not heavy, f"pose contract module {path.name} must be numpy only, imports {heavy}"


@pytest.mark.parametrize("path", sources("adapters"), ids=lambda p: p.name)
def test_adapters_import_only_the_pose_contract_and_frames(path):
    modules = imported_modules(path)
    ours = {m for m in modules if m.startswith("dyad.")}
    allowed = {f"dyad.models.{name[:-3]}" for name in POSE_CONTRACT} | {"dyad.runtime.frames"}
    shared_transport = {m for m in ours if m.startswith("dyad.adapters.")}  # e.g. the UDP target the UDP sinks share
    assert ours - shared_transport <= allowed, f"{path.name} imports {ours - shared_transport - allowed}"
    assert not {m for m in modules if m.split(".")[0] in {"torch", "torchaudio"}}, f"{path.name} imports torch"


@pytest.mark.parametrize("path", sources("runtime"), ids=lambda p: p.name)
def test_runtime_does_not_import_adapters_at_module_level(path):
    # Only the wiring (sinks, session, CLI) may build adapters, and it does so lazily.
    tree = ast.parse(path.read_text())
    top_level = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    names = {a.name for n in top_level if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module for n in top_level if isinstance(n, ast.ImportFrom) and n.module}
    assert not {m for m in names if m.startswith("dyad.adapters")}, f"{path.name} imports adapters at module level"
