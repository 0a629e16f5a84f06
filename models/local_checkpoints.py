"""Loading pretrained encoders from local folders, never from a hub.

Every encoder (Wav2Vec2, BERT, Whisper) is read from a folder on disk in
Hugging Face layout (`config.json` + weights + tokenizer files, as written by
`save_pretrained`) or, for Wav2Vec2, in torchaudio layout. Nothing is ever
downloaded: the hub is switched off before `transformers` is imported and
every `from_pretrained` call passes `local_files_only=True`.

Failures become `CheckpointError` with a one-line message that names the
folder and what is wrong with it; the runtime turns that into its own error.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch loads only where a torch encoder does: the live path's ONNX encoders never pay for it
    import torch


class CheckpointError(Exception):
    """A checkpoint folder is missing, unreadable or holds the wrong kind of model (one-line message)."""


def first_line(error: BaseException) -> str:
    """The first non-empty line of an exception's message (library errors are often multi-line)."""
    for line in str(error).splitlines():
        if line.strip():
            return line.strip()
    return type(error).__name__


def checkpoint_folder(path: str | Path, what: str) -> Path:
    folder = Path(path).expanduser()
    if not folder.exists():
        raise CheckpointError(f"{what} folder not found: {folder}")
    if not folder.is_dir():
        raise CheckpointError(f"{what} checkpoint must be a folder, got a file: {folder}")
    return folder


def read_json(path: Path, what: str) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{what}: cannot read {path}: {first_line(error)}") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{what}: {path} must hold a JSON object")
    return data


def require_model_type(folder: Path, what: str, accepted: tuple[str, ...]) -> dict:
    """Read `config.json` and refuse a checkpoint of another architecture before loading any weights."""
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise CheckpointError(f"{what}: {folder} has no config.json (expected a folder written by save_pretrained)")
    config = read_json(config_path, what)
    model_type = config.get("model_type")
    if model_type not in accepted:
        raise CheckpointError(f"{what}: {folder} holds a '{model_type}' model, expected {' or '.join(accepted)}")
    return config


def torch_device(name: str) -> torch.device:
    """`cpu`, `cuda` or `cuda:N`; CUDA must actually be usable."""
    import torch

    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise CheckpointError(f"unknown device '{name}' (expected cpu, cuda or cuda:N)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise CheckpointError(f"device '{name}' requested but CUDA is not available on this machine")
    if device.type not in ("cpu", "cuda"):
        raise CheckpointError(f"device '{name}' is not supported (expected cpu, cuda or cuda:N)")
    return device


def import_transformers():
    """Import `transformers` with the hub switched off and progress bars silenced.

    The environment variables are read when huggingface_hub is first imported,
    so they are set before that; `local_files_only=True` at each call site is
    the guarantee that holds even if the hub was imported earlier.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    import transformers

    # Loading bars and per-call advice (e.g. "Whisper did not predict an ending timestamp")
    # would garble the live status line; errors still reach the log.
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    return transformers


def load_failure(what: str, folder: Path, error: BaseException) -> CheckpointError:
    """Wrap whatever a library raised while reading a checkpoint (OSError, ValueError, safetensors errors...)."""
    return CheckpointError(f"{what}: cannot load {folder}: {first_line(error)}")
