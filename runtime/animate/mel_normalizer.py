"""Per-person running normalisation of log-mel for the learned animators.

A model trained on synthesized voices learned their level and spectral balance: a real
voice 10 dB quieter, or darker, or through another microphone, sits elsewhere in log-mel
space and the model reads it as "barely speaking". Each person's speech is therefore mapped
onto the statistics of the speech the model was trained on:

    mel' = (mel - running_mean_p) / running_std_p * reference_std + reference_mean

per mel band. The running statistics are exponential averages over this person's speech
frames only (VAD above 0.5 and level above -60 dBFS), with a time constant of
`time_constant_s`; they start at the reference, so the first words pass unchanged and the
map adapts within a few seconds of speech. Silence keeps its distance below speech (the map
is affine with a positive scale), so a quiet listener stays quiet. The reference (mean and
std of the training corpus's speech frames) is `mel_reference.json` in the model folder.

State advances once per absolute frame, in frame order, when a window first carries that
frame, and the frame is mapped with the statistics as of itself (causal): the same stream
gives the same values however it is cut into windows. Training maps every sequence with
the same code (`map_stream`, from the same reference and cold start), so a model trained
with `mel_normalized` hears identical inputs in training and live. Offline runs stay
bit-identical.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from dyad.runtime.errors import DyadError

REFERENCE_FILE = "mel_reference.json"
SPEECH_VAD = 0.5
SPEECH_DB = -60.0


@dataclass(frozen=True)
class MelReference:
    mean: np.ndarray  # [M]
    std: np.ndarray  # [M]
    frames: int  # speech frames the statistics came from

    def to_json(self, source: str) -> str:
        return json.dumps({"mean": self.mean.tolist(), "std": self.std.tolist(), "frames": self.frames, "source": source}, indent=1) + "\n"


def reference_from_features(mel: np.ndarray, vad: np.ndarray, rms_db: np.ndarray) -> MelReference:
    """Speech-frame statistics of [N, M] log-mel (frames with VAD > 0.5 and level > -60 dBFS)."""
    speech = (vad > SPEECH_VAD) & (rms_db > SPEECH_DB)
    if speech.sum() < 100:
        raise DyadError(f"a mel reference needs at least 100 speech frames, got {int(speech.sum())}")
    chosen = mel[speech].astype(np.float64)
    return MelReference(chosen.mean(axis=0), np.maximum(chosen.std(axis=0), 1e-3), int(speech.sum()))


def load_reference(folder: Path) -> MelReference | None:
    path = Path(folder) / REFERENCE_FILE
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        ref = MelReference(np.asarray(data["mean"], np.float64), np.asarray(data["std"], np.float64), int(data["frames"]))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise DyadError(f"'{path}' is not a mel reference ({error})") from None
    if ref.mean.shape != ref.std.shape or ref.mean.ndim != 1 or not (np.isfinite(ref.mean).all() and (ref.std > 0).all()):
        raise DyadError(f"'{path}': mean and std must be equal-length finite vectors with std > 0")
    return ref


class RunningMelNormalizer:
    """Causal, per frame: frame k of person p is mapped with p's statistics after frame k itself.

    The same object maps a live session's overlapping windows (`__call__`) and a whole training
    sequence (`map_stream`), so a model hears exactly in training what it hears live: a frame's
    mapped value depends only on frames up to it, never on which window first carried it.
    """

    def __init__(self, reference: MelReference, fps: int, time_constant_s: float = 8.0, people: int = 2, keep: int = 256) -> None:
        self.reference = reference
        self.rate = 1.0 - float(np.exp(-1.0 / (fps * time_constant_s)))  # per speech frame
        self.mean = np.tile(reference.mean, (people, 1))
        self.var = np.tile(reference.std**2, (people, 1))
        self.next_frame = 0  # frames before this have updated the statistics
        self.speech_frames = np.zeros(people, np.int64)
        self.keep = keep  # mapped frames remembered for later windows' context (a window is far shorter)
        self._mapped: dict[int, np.ndarray] = {}  # absolute frame -> [people, M]

    def _step(self, p: int, mel: np.ndarray, vad: float, rms_db: float) -> np.ndarray:
        """Advance person p's statistics with one frame, then map that frame."""
        if vad > SPEECH_VAD and rms_db > SPEECH_DB and np.isfinite(mel).all():
            delta = mel.astype(np.float64) - self.mean[p]
            self.mean[p] += self.rate * delta
            self.var[p] = (1.0 - self.rate) * (self.var[p] + self.rate * delta * delta)
            self.speech_frames[p] += 1
        return self._current(p, mel)

    def map_stream(self, mel: np.ndarray, vad: np.ndarray, rms_db: np.ndarray, person: int = 0) -> np.ndarray:
        """[T, M] log-mel of one person's whole stream from its first frame -> mapped [T, M] (training)."""
        return np.stack([self._step(person, mel[k], float(vad[k]), float(rms_db[k])) for k in range(len(mel))]) if len(mel) else mel.astype(np.float32)

    def __call__(self, window) -> tuple:
        """The window's features with each person's log-mel mapped onto the reference."""
        first = window.first_frame
        for k in range(max(self.next_frame - first, 0), window.total_frames):
            self._mapped[first + k] = np.stack([self._step(p, f.mel[k], float(f.vad[k]), float(f.rms_db[k])) for p, f in enumerate(window.features)])
        self.next_frame = max(self.next_frame, first + window.total_frames)
        for old in [k for k in self._mapped if k < self.next_frame - self.keep]:
            del self._mapped[old]
        out = []
        for p, f in enumerate(window.features):
            # a frame older than the kept ones is not in a session's order: mapped with today's statistics
            mapped = [self._mapped[first + k][p] if first + k in self._mapped else self._current(p, f.mel[k]) for k in range(window.total_frames)]
            out.append(replace(f, mel=np.stack(mapped) if mapped else f.mel))
        return tuple(out)

    def _current(self, p: int, mel: np.ndarray) -> np.ndarray:
        """Map one frame with person p's statistics as they are now."""
        scale = self.reference.std / np.sqrt(np.maximum(self.var[p], 1e-6))
        return ((mel - self.mean[p]) * scale + self.reference.mean).astype(np.float32)
