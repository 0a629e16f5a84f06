"""Shared helpers for session-level tests: a two-person WAV made from real synthesized speech."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from speech_fixtures import room_filter, synthesize

RATE = 16000


def dialogue(seconds: float) -> np.ndarray:
    """[n, 2] float32: person 0 talks, then person 1, with partner bleed at -9 dB on each mic."""
    a = synthesize("So what did you think of the talk this morning", "en-us+m3")
    b = synthesize("Honestly I loved it, especially the part about latency", "en-gb+f4")
    n = int(seconds * RATE)
    voices = np.zeros((n, 2), np.float32)
    voices[: min(n, len(a)), 0] = a[:n]
    start_b = min(n, int(0.6 * len(a)))  # some overlap
    voices[start_b : start_b + len(b), 1] = b[: max(0, n - start_b)]
    mics = voices.copy()
    mics[:, 0] += room_filter(voices[:, 1], delay_samples=48, gain_db=-9.0, rt60_s=0.15, seed=1)
    mics[:, 1] += room_filter(voices[:, 0], delay_samples=40, gain_db=-9.0, rt60_s=0.15, seed=2)
    return np.clip(mics, -1, 1)


def write_dialogue(path: Path, seconds: float, rate: int = RATE) -> Path:
    audio = dialogue(seconds)
    if rate != RATE:
        import soxr

        audio = soxr.resample(audio, RATE, rate)
    sf.write(path, audio, rate, subtype="PCM_16")
    return path


def run_dyad(*args: str, timeout: float = 180, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The `dyad` command itself, in a child process, as a user runs it."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "dyad.runtime.cli", *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)
