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

State advances once per absolute frame, in frame order, when that frame is first a new
frame of a window; every window is then mapped with the statistics as of its newest frame.
Offline runs stay bit-identical.
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
    def __init__(self, reference: MelReference, fps: int, time_constant_s: float = 8.0, people: int = 2) -> None:
        self.reference = reference
        self.rate = 1.0 - float(np.exp(-1.0 / (fps * time_constant_s)))  # per speech frame
        self.mean = np.tile(reference.mean, (people, 1))
        self.var = np.tile(reference.std**2, (people, 1))
        self.next_frame = 0  # frames before this have updated the statistics
        self.speech_frames = np.zeros(people, np.int64)

    def _update(self, features, first: int) -> None:
        """Advance the statistics over the window's frames not seen yet (in order)."""
        for p, f in enumerate(features):
            start = max(self.next_frame - first, 0)
            for k in range(start, f.frames):
                if f.vad[k] > SPEECH_VAD and f.rms_db[k] > SPEECH_DB and np.isfinite(f.mel[k]).all():
                    delta = f.mel[k].astype(np.float64) - self.mean[p]
                    self.mean[p] += self.rate * delta
                    self.var[p] = (1.0 - self.rate) * (self.var[p] + self.rate * delta * delta)
                    self.speech_frames[p] += 1
        self.next_frame = max(self.next_frame, first + features[0].frames)

    def __call__(self, window) -> tuple:
        """The window's features with each person's log-mel mapped onto the reference."""
        if window.first_frame + window.total_frames > self.next_frame:
            self._update(window.features, window.first_frame)
        scale = self.reference.std / np.sqrt(np.maximum(self.var, 1e-6))
        return tuple(
            replace(f, mel=((f.mel - self.mean[p]) * scale[p] + self.reference.mean).astype(np.float32))
            for p, f in enumerate(window.features)
        )
