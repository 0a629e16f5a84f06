"""Training word streams built by the live recogniser (`--word-timing sphinx`): its words, from when it commits them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dyad.models.interact import load_interact
from dyad.runtime.cli.main import main
from dyad.runtime.offline.corpus import write_corpus
from dyad.runtime.offline.train_data import take_features


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("corpus") / "synth"
    write_corpus(out, 0.4, seed=7, take_seconds=12.0)
    return out


def _first_word_frames(no_text: np.ndarray) -> list[int | None]:
    frames = []
    for person in range(no_text.shape[1]):
        worded = np.flatnonzero(no_text[:, person] == 0)
        frames.append(int(worded[0]) if worded.size else None)
    return frames


def test_sphinx_word_timing_places_recognised_words_after_the_script_and_caches_apart(corpus: Path, tmp_path: Path) -> None:
    take = load_interact(corpus).takes[0]
    cache = tmp_path / "features"
    exact = take_features(take, cache, word_timing="exact")
    lagged = take_features(take, cache, word_timing="sphinx")
    assert sorted(p.name for p in cache.glob("*.npz")) == sorted([f"{take.name}.npz", f"{take.name}.sphinx.npz"])
    np.testing.assert_array_equal(exact["mel"], lagged["mel"])  # only the words differ
    assert lagged["words"].shape == exact["words"].shape
    first_exact = [f for f in _first_word_frames(exact["no_text"]) if f is not None]
    first_lagged = [f for f in _first_word_frames(lagged["no_text"]) if f is not None]
    assert first_exact and len(first_lagged) == len(first_exact), "the recogniser hears everyone the script has speak"
    # nobody has said anything before the script's first word, and a recognised word is known only after it was said
    # (a person's own first recognised word may be the partner's bleed, so compare the take's first words)
    assert min(first_lagged) > min(first_exact)
    assert (lagged["no_text"] == 0).sum() > 0.3 * (exact["no_text"] == 0).sum()  # it recognised a fair share of the speech
    # recognised words are not the script's: some frames carry other vectors
    both = (exact["no_text"] == 0) & (lagged["no_text"] == 0)
    assert not np.array_equal(exact["words"][both], lagged["words"][both])
    again = take_features(take, cache, word_timing="sphinx")  # from the cache, unchanged
    np.testing.assert_array_equal(again["words"], lagged["words"])
    with pytest.raises(ValueError, match="word timing"):
        take_features(take, cache, word_timing="whenever")


@pytest.mark.slow
def test_train_body_with_sphinx_word_timing(corpus: Path, tmp_path: Path) -> None:
    model = tmp_path / "model"
    args = ["train", "body", "--data", str(corpus), "--out", str(model), "--steps", "2", "--batch", "2", "--window", "12", "--val-takes", "1"]
    assert main([*args, "--word-timing", "sphinx"]) == 0
    assert (model / "body.safetensors").is_file()
    assert sorted((corpus / "features").glob("*.sphinx.npz"))
