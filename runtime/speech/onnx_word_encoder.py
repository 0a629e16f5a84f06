"""The live path's word encoder: models.onnx_words.OnnxWordEncoder, exported once per checkpoint and cached.

ONNX Runtime and `tokenizers` give the torch encoder's word vectors without
importing torch or transformers, which cost seconds and hundreds of MB at
start-up. The ONNX graph is exported once per checkpoint,
in a child process so this one never loads torch, and cached under
DYAD_CACHE_DIR (default $XDG_CACHE_HOME/dyad, else ~/.cache/dyad) in a folder
named by the checkpoint's content fingerprint: a changed checkpoint exports anew.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from dyad.models.local_checkpoints import CheckpointError, checkpoint_folder, first_line
from dyad.models.onnx_words import OnnxWordEncoder, source_fingerprint

log = logging.getLogger("dyad.speech")

CACHE_ENV = "DYAD_CACHE_DIR"
EXPORT_MODULE = "dyad.models.word_encoder_export"
EXPORT_TIMEOUT_S = 600


def cache_root() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dyad"


def export_folder(source: Path) -> Path:
    """Where the ONNX export of the checkpoint in `source` is cached."""
    return cache_root() / "words" / f"{source.parent.name}-{source.name}-{source_fingerprint(source)}"


def _export_in_child(source: Path, target: Path) -> None:
    """Run the torch export in a child process, into a fresh folder renamed into place (atomic for racing sessions)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))
    try:
        command = [sys.executable, "-m", EXPORT_MODULE, str(source), str(scratch)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=EXPORT_TIMEOUT_S)
        if done.returncode != 0:
            lines = [line for line in done.stderr.splitlines() if line.strip()]
            raise CheckpointError(f"BERT: exporting {source} to ONNX failed: {lines[-1] if lines else f'exit status {done.returncode}'}")
        try:
            scratch.rename(target)
        except OSError:
            if not (target / "words.json").is_file():  # another session won the race: use its export
                raise
    except subprocess.TimeoutExpired:
        raise CheckpointError(f"BERT: exporting {source} to ONNX took over {EXPORT_TIMEOUT_S} s") from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def load_onnx_word_encoder(source: str | Path, threads: int = 1) -> OnnxWordEncoder:
    """The ONNX encoder of the checkpoint in `source`, exported first (once, with torch) if the cache lacks it."""
    folder = checkpoint_folder(source, "BERT").resolve()
    target = export_folder(folder)
    if not (target / "words.json").is_file():
        log.info("exporting the word encoder %s to ONNX once (cached in %s)", folder, target)
        _export_in_child(folder, target)
    try:
        return OnnxWordEncoder(target, threads, source=folder)
    except CheckpointError:
        raise
    except Exception as error:  # a damaged cache: onnxruntime, tokenizers and json raise their own types
        raise CheckpointError(f"BERT: cannot load the ONNX word encoder in {target}: {first_line(error)} (delete the folder to export again)") from None
