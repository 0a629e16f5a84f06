"""Lip fine-tune sequences from InterAct's lip_acc/ set (one actor reading sentences).

Each take is one person: the actor's WAV is person 0's microphone, person 1's microphone
is silent (nobody else speaks in that set), and the mel goes through the same live front
end as the main takes, so the fine-tune hears what a session hears. Only person 0 carries
a lip target (`Sequence.lip_people`); the body fields are empty because this set trains
the face denoiser only. Features are cached per take in `CACHE/lip_<stem>.npz`, keyed by
the WAV's size and time.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np

from dyad.models.interact import DatasetError
from dyad.models.lip_acc import LipSet, LipTake
from dyad.models.train import Sequence
from dyad.runtime.config import SessionConfig, TimingConfig
from dyad.runtime.offline.feature_dump import dump_features


def _key(take: LipTake) -> str:
    stat = take.wav.stat()
    return hashlib.sha256(f"{stat.st_size}:{stat.st_mtime_ns}:{take.fps}".encode()).hexdigest()[:16]


def lip_mel(take: LipTake, cache: Path) -> dict[str, np.ndarray]:
    """mel [T, 2, M], vad [T, 2], rms_db [T, 2] of the actor (person 0) and of a silent partner microphone (person 1)."""
    from dyad.runtime.audio.wav_source import WavReplaySource, open_wav_inputs

    path = cache / f"lip_{take.name}.npz"
    key = _key(take)
    if path.is_file():
        with np.load(path) as data:
            if str(data["key"]) == key and "vad" in data.files:
                return {k: data[k] for k in ("mel", "vad", "rms_db")}
    config = SessionConfig(timing=TimingConfig(fps=take.fps), offline=True).validate()
    wav = open_wav_inputs([take.wav, take.wav], config.audio.sample_rate)
    samples = wav.samples.copy()
    samples[:, 1] = 0.0  # the partner's microphone hears nothing: one actor reads alone
    samples.setflags(write=False)
    source = WavReplaySource(replace(wav, samples=samples), block_ms=config.timing.block_ms, realtime=False)
    cache.mkdir(parents=True, exist_ok=True)
    raw = cache / f"lip_{take.name}.raw.npz"
    dump_features(config, source, raw)
    with np.load(raw) as data:
        out = {k: data[k] for k in ("mel", "vad", "rms_db")}
    raw.unlink()
    np.savez(path, key=np.array(key), **out)
    return out


def build_lip_sequences(lips: LipSet, cache: Path, speakers: int = 8, max_mismatch_s: float = 0.5,
                        progress=None) -> tuple[list[Sequence], list[str]]:  # fmt: skip
    """One face-only Sequence per lip_acc take, and the report lines (trims)."""
    sequences, report = [], list(lips.report)
    for i, take in enumerate(lips.takes):
        feats = lip_mel(take, cache)
        mel = feats["mel"]
        frames = min(take.frames, len(mel))
        if take.frames - frames > max_mismatch_s * take.fps:
            raise DatasetError(f"{take.wav}: audio gives {len(mel)} frames, the face {take.frames}: not aligned")
        if frames != take.frames or frames != len(mel):
            report.append(f"{take.name}: features {len(mel)} frames, face {take.frames}: trimmed to {frames}")
        lip = np.zeros((2, frames, take.face.shape[1]), np.float32)
        lip[0] = take.face[:frames]
        empty = np.zeros((2, frames, 0), np.float32)
        digits = "".join(ch for ch in take.actor if ch.isdigit())
        speaker = (int(digits) - 1 if digits else 0) % speakers
        sequences.append(Sequence(
            name=take.name, mel=np.ascontiguousarray(np.swapaxes(mel[:frames], 0, 1), dtype=np.float32), words=None,
            no_text=None, actions=np.zeros((2, frames), np.int64), placement=np.zeros((2, frames, 4), np.float32),
            lower=empty, upper=empty, face=None, face_valid=take.face_valid, lip_face=lip,
            speakers=np.array([speaker, speaker]), facing=np.zeros(frames, bool), lip_people=(True, False),
            vad=np.ascontiguousarray(feats["vad"][:frames].T, dtype=np.float32), rms_db=np.ascontiguousarray(feats["rms_db"][:frames].T, dtype=np.float32),
        ))  # fmt: skip
        if progress is not None:
            progress(i + 1, len(lips.takes))
    return sequences, report
