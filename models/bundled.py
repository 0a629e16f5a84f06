"""Where the bundled default model lives (no torch here: the CLI's parser imports it)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

# package data of dyad.models (see its MODEL_CARD.md): what `dyad demo` and `dyad run` animate with by default
DEFAULT_MODEL_DIR = Path(str(resources.files("dyad.models").joinpath("assets/default_model")))
