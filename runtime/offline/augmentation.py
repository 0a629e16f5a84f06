"""`dyad augment`: a voice-robust copy of a corpus, its audio changed the ways real microphones change voices.

A model trained on one synthesizer's clean audio learns that synthesizer's level and timbre
(see the real-voice numbers in the README). This copies an InterAct-layout corpus and rewrites
every actor WAV through a chain drawn per file from a seed:

    pitch -500..+500 cents    voice pitch and vocal-tract length together (sox `pitch`: WSOLA time
                              stretch + resampling, so formants move with the pitch and the
                              duration stays sample for sample); a quarter of the takes unshifted.
                              Drawn per take, the same for both mics: each mic also carries the
                              partner's bleed, and talker attribution compares the two mics
    gain  -18..+6 dB          the level a real mic and preamp give: drawn per take, the two actors'
                              mics within 2 dB of each other (set up alike; talker attribution
                              compares the two mics, so their relation must stay realistic)
    tilt  -4..+4 dB/octave    spectral balance: voice, mic and distance colour the spectrum
    band  none | 3.4 | 5.5 | 7 kHz   a telephone or codec bandwidth (sample-rate round trip)
    room  wet -20..-8 dB, RT60 0.2-0.6 s   a diffuse room tail
    noise SNR 15-45 dB        a noise floor, pink-ish

Every step keeps the length sample for sample and the timing to within a WSOLA segment (the
pitch shift; no tempo change), so the face and body ground truth made from the synthesizer's
phoneme timing stays right. Motion, faces, transcripts
and databases are copied unchanged; the features cache is not (it is recomputed from the new
audio). The same corpus and seed give bit-identical files.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from dyad.runtime.errors import DyadError
from dyad.runtime.offline.realvoice_dialogues import room_filter

BANDS_HZ = (None, 3400.0, 5500.0, 7000.0)


@dataclass(frozen=True)
class VoiceAugment:
    gain_db: float
    tilt_db_per_octave: float
    band_hz: float | None
    wet_db: float
    rt60_s: float
    snr_db: float
    pitch_cents: float = 0.0


def draw(rng: np.random.Generator) -> VoiceAugment:
    return VoiceAugment(
        gain_db=float(rng.uniform(-18.0, 6.0)),
        tilt_db_per_octave=float(rng.uniform(-4.0, 4.0)),
        band_hz=BANDS_HZ[int(rng.integers(len(BANDS_HZ)))],
        wet_db=float(rng.uniform(-20.0, -8.0)),
        rt60_s=float(rng.uniform(0.2, 0.6)),
        snr_db=float(rng.uniform(15.0, 45.0)),
    )


def _draw_pitch(rng: np.random.Generator) -> float:
    return 0.0 if rng.random() < 0.25 else float(rng.uniform(-500.0, 500.0))


def _tilt(x: np.ndarray, rate: int, db_per_octave: float) -> np.ndarray:
    """Spectral tilt around 1 kHz, applied as a zero-phase gain per FFT bin (no delay)."""
    spectrum = np.fft.rfft(x)
    freqs = np.maximum(np.fft.rfftfreq(len(x), 1.0 / rate), 50.0)
    return np.fft.irfft(spectrum * 10.0 ** (db_per_octave * np.log2(freqs / 1000.0) / 20.0), n=len(x))


def pitch_shift(x: np.ndarray, rate: int, cents: float) -> np.ndarray:
    """Shift pitch and formants by `cents` keeping the length (sox's `pitch` effect, through pipes)."""
    if cents == 0.0:
        return x
    command = ["sox", "-t", "f32", "-r", str(rate), "-c", "1", "-", "-t", "f32", "-", "pitch", f"{cents:.1f}"]
    try:
        done = subprocess.run(command, input=x.astype("<f4").tobytes(), capture_output=True, check=True)
    except FileNotFoundError:
        raise DyadError("the pitch shift needs the `sox` program (Debian package sox)") from None
    except subprocess.CalledProcessError as error:
        raise DyadError(f"sox pitch failed: {error.stderr.decode(errors='replace').strip()}") from None
    y = np.frombuffer(done.stdout, "<f4").astype(np.float64)
    out = np.zeros(len(x))
    out[: min(len(x), len(y))] = y[: len(x)]
    return out


def _band_limit(x: np.ndarray, rate: int, band_hz: float) -> np.ndarray:
    low_rate = int(2 * band_hz)
    y = soxr.resample(soxr.resample(x, rate, low_rate), low_rate, rate)
    out = np.zeros_like(x)
    out[: min(len(x), len(y))] = y[: len(x)]
    return out


def apply(x: np.ndarray, rate: int, aug: VoiceAugment, rng: np.random.Generator) -> np.ndarray:
    """float mono -> float mono of the same length, same timing."""
    y = _tilt(pitch_shift(x.astype(np.float64), rate, aug.pitch_cents), rate, aug.tilt_db_per_octave)
    if aug.band_hz is not None and 2 * aug.band_hz < rate:
        y = _band_limit(y, rate, aug.band_hz)
    ir = room_filter(rng, aug.rt60_s, 0.0)
    ir[0] = 0.0  # the tail only: the dry signal stays the direct sound
    y = y + 10.0 ** (aug.wet_db / 20.0) * np.convolve(y, ir / np.sqrt(np.sum(ir**2)))[: len(y)]
    y = y * 10.0 ** (aug.gain_db / 20.0)
    active = np.sqrt(np.mean(y[np.abs(y) > 1e-4] ** 2)) if np.any(np.abs(y) > 1e-4) else 1e-3
    noise = np.cumsum(rng.standard_normal(len(y))) * 0.02  # brown-ish ...
    noise = noise - np.convolve(noise, np.ones(401) / 401, mode="same") + rng.standard_normal(len(y))  # ... high-passed + white
    noise *= active * 10.0 ** (-aug.snr_db / 20.0) / (np.sqrt(np.mean(noise**2)) + 1e-12)
    return np.clip(y + noise, -1.0, 1.0)


def augment_corpus(data: Path, out: Path, seed: int, progress=None) -> list[dict]:
    """Copy `data` to `out` with every wav/*.wav augmented; returns the chain drawn per file."""
    data, out = Path(data), Path(out)
    if not (data / "wav").is_dir():
        raise DyadError(f"'{data}' has no wav/ folder: not an InterAct-layout corpus")
    if out.exists() and any(out.iterdir()):
        raise DyadError(f"--out {out} exists and is not empty")
    shutil.copytree(data, out, dirs_exist_ok=True, ignore=shutil.ignore_patterns("features", "wav"))
    (out / "wav").mkdir()
    chains = []
    wavs = sorted((data / "wav").glob("*.wav"))
    takes = sorted({path.stem.rsplit("_", 1)[-1] for path in wavs})  # DATE_ACTOR_SCENARIO: one take per scenario
    take_gain = {take: float(np.random.default_rng([seed, 1_000_003, k]).uniform(-18.0, 6.0)) for k, take in enumerate(takes)}
    take_pitch = {take: _draw_pitch(np.random.default_rng([seed, 2_000_003, k])) for k, take in enumerate(takes)}
    for i, path in enumerate(wavs):
        try:
            audio, rate = sf.read(path, dtype="float64")
        except (sf.LibsndfileError, RuntimeError) as error:
            raise DyadError(f"'{path}' is not a readable WAV file: {error}") from None
        rng = np.random.default_rng([seed, i])
        aug = draw(rng)
        take = path.stem.rsplit("_", 1)[-1]
        aug = replace(aug, gain_db=take_gain[take] + (aug.gain_db + 6.0) / 24.0 * 4.0 - 2.0, pitch_cents=take_pitch[take])
        sf.write(out / "wav" / path.name, apply(audio if audio.ndim == 1 else audio.mean(axis=1), rate, aug, rng), rate, subtype="PCM_16")
        chains.append({"file": path.name, **asdict(aug)})
        if progress is not None:
            progress(i + 1, len(wavs))
    (out / "augmentation.json").write_text(json.dumps({"source": str(data), "seed": seed, "files": chains}, indent=1) + "\n", encoding="utf-8")
    return chains
