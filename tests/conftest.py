"""Fixtures shared by several test modules."""

from __future__ import annotations

from pathlib import Path

import pytest

from dyad.models.model_dir import export_model_dir
from model_fixtures import tiny_model_dir


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A tiny untrained model folder with its ONNX export; one per test module, so a module
    that edits its folder never disturbs another."""
    folder = tiny_model_dir(tmp_path_factory.mktemp("model") / "tiny")
    export_model_dir(folder)
    return folder
