"""Real speech for tests: espeak-ng voices and a simple synthetic room.

Import from tests as `from speech_fixtures import synthesize, room_filter`.
Synthesis results are cached on disk (keyed by text, voice and rate) so a
test suite pays for espeak-ng once per machine, not once per test.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile
import soxr

CACHE_DIR = Path(tempfile.gettempdir()) / "dyad-speech-cache"


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def synthesize(text: str, voice: str, sample_rate: int = 16000) -> np.ndarray:
    """Speak `text` with espeak-ng voice `voice` (e.g. "en-us+m3"); float32 mono at `sample_rate`."""
    key = hashlib.sha1(f"{voice}\n{sample_rate}\n{text}".encode()).hexdigest()
    cached = CACHE_DIR / f"{key}.npy"
    if cached.exists():
        return np.load(cached)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), text], check=True, capture_output=True)
        audio, rate = soundfile.read(wav, dtype="float32", always_2d=True)
    audio = audio[:, 0]
    if rate != sample_rate:
        audio = soxr.resample(audio, rate, sample_rate).astype(np.float32)
    # Write then rename: parallel test runs never read a half-written file.
    partial = cached.with_suffix(f".{os.getpid()}.tmp.npy")
    np.save(partial, audio)
    os.replace(partial, cached)
    return audio


def room_impulse_response(
    delay_samples: int,
    gain_db: float,
    rt60_s: float,
    seed: int,
    sample_rate: int = 16000,
    direct_to_reverb_db: float = 3.0,
) -> np.ndarray:
    """Direct path at `delay_samples` plus an exponentially decaying noise tail.

    The whole response has energy gain `gain_db`; the tail holds the share
    set by `direct_to_reverb_db`. The tail amplitude falls by 60 dB in `rt60_s`.
    """
    rng = np.random.default_rng(seed)
    tail_len = max(1, int(rt60_s * sample_rate))
    t = np.arange(tail_len) / sample_rate
    tail = rng.standard_normal(tail_len) * 10.0 ** (-3.0 * t / rt60_s)
    tail *= np.sqrt(10.0 ** (-direct_to_reverb_db / 10.0) / np.sum(tail**2))
    ir = np.zeros(delay_samples + 1 + tail_len)
    ir[delay_samples] = 1.0
    ir[delay_samples + 1 :] = tail
    ir *= np.sqrt(10.0 ** (gain_db / 10.0) / np.sum(ir**2))
    return ir


def room_filter(
    signal: np.ndarray,
    delay_samples: int,
    gain_db: float,
    rt60_s: float,
    seed: int,
    sample_rate: int = 16000,
    direct_to_reverb_db: float = 3.0,
) -> np.ndarray:
    """`signal` as heard through a synthetic room (same length as `signal`, float32)."""
    ir = room_impulse_response(delay_samples, gain_db, rt60_s, seed, sample_rate, direct_to_reverb_db)
    n = signal.shape[0]
    size = 1 << int(np.ceil(np.log2(n + ir.shape[0])))
    out = np.fft.irfft(np.fft.rfft(signal, size) * np.fft.rfft(ir, size), size)[:n]
    return out.astype(np.float32)
