"""The live recogniser over recordings, offline: what it hears, when each word is committed, how right it is.

`recognise` runs one person's audio through the same parts a session uses (Silero VAD
per window, `SphinxStream` fed in separation-sized blocks) on the audio clock, so each
word's commit time is the audio time at which a live session would have it, before the
recogniser process's queueing and compute time (measured live: `dyad bench words`).
`realvoice_wer` scores it on the transcribed recordings of a real-voice folder
(`transcripts.json`, see ../shared/realvoice/README.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dyad.runtime.errors import DyadError
from dyad.runtime.offline.word_error import WordErrors, word_errors
from dyad.runtime.speech.sphinx_stream import SphinxSettings, SphinxStream
from dyad.runtime.speech.words import TimedWord

BLOCK = 256  # the separation block: the size a live session hands the recogniser
RATE = 16000


@dataclass(frozen=True)
class CommittedWord:
    word: TimedWord
    committed_s: float  # audio time when the recogniser committed it

    @property
    def lateness_s(self) -> float:
        return self.committed_s - self.word.end_s


def recognise(audio: np.ndarray, settings: SphinxSettings | None = None) -> list[CommittedWord]:
    """Words of one person's 16 kHz float audio, each with the audio time it was committed at."""
    from dyad.runtime.frontend.vad import DyadVad
    from dyad.runtime.speech.sphinx_words import to_int16

    settings = settings or SphinxSettings()
    vad = DyadVad()
    stream = SphinxStream(0, settings)
    out: list[CommittedWord] = []
    silence = np.zeros(int(settings.min_silence_s * RATE) + 2 * settings.vad_window, np.float32)  # lets the last utterance close
    padded = np.concatenate([np.asarray(audio, np.float32), silence])
    for start in range(0, len(padded), BLOCK):
        block = padded[start : start + BLOCK]
        windows = vad.push(np.stack([block, np.zeros_like(block)], axis=1))
        words = stream.feed(start, to_int16(block), windows.starts, windows.probs[:, 0])
        out += [CommittedWord(w, (start + len(block)) / RATE) for w in words]
    out += [CommittedWord(w, len(padded) / RATE) for w in stream.finish()]
    return out


def load_16k(path: Path) -> np.ndarray:
    import soundfile as sf
    import soxr

    try:
        audio, rate = sf.read(path, dtype="float32", always_2d=True)
    except (RuntimeError, OSError) as error:
        raise DyadError(f"cannot read {path}: {error}") from None
    mono = audio.mean(axis=1)
    return mono if rate == RATE else soxr.resample(mono, rate, RATE).astype(np.float32)


def transcribed_files(folder: Path) -> dict[str, str]:
    """file name -> reference text, for the recordings of `folder/transcripts.json` that have one."""
    path = folder / "transcripts.json"
    try:
        entries = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise DyadError(f"cannot read {path}: {error}") from None
    return {name: entry["text"] for name, entry in entries.items() if entry.get("text") and (folder / name).is_file()}


@dataclass(frozen=True)
class FileScore:
    name: str
    seconds: float
    reference: str
    hypothesis: str
    errors: WordErrors
    lateness_s: tuple[float, ...]


def score_file(path: Path, reference: str, settings: SphinxSettings | None = None) -> FileScore:
    audio = load_16k(path)
    words = recognise(audio, settings)
    hypothesis = " ".join(c.word.text for c in words)
    return FileScore(path.name, len(audio) / RATE, reference, hypothesis, word_errors(reference, hypothesis), tuple(c.lateness_s for c in words))


def pooled_wer(scores: list[FileScore]) -> float:
    """All files' errors over all their reference words (long files weigh more, as in corpus WER)."""
    words = sum(s.errors.reference_words for s in scores)
    return sum(s.errors.errors for s in scores) / words if words else float("nan")
