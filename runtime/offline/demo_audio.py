"""The bundled demo dialogue: two espeak-ng voices talking, heard by two head-mounted mics.

`python -m dyad.runtime.offline.demo_audio --out runtime/assets/demo_dialogue.wav` speaks
the script below with two clearly different voices, places the utterances on
one timeline (turns with short gaps, backchannels spoken over the partner, one
interruption), then simulates what each person's head-mounted mic picks up:
their own voice close up, plus the partner's voice bleeding in at about -9 dB,
a few milliseconds late and through a short room response, plus a little
noise. Output: a 16 kHz stereo 16-bit WAV (column 0 = person 0) and, beside it,
`<stem>.txt` with one line per utterance: `person<TAB>start_s<TAB>end_s<TAB>text`.

Everything is deterministic: espeak-ng renders the same text to the same
samples, the room responses and noise come from a fixed seed, and the mix is
plain float64 arithmetic, so two runs write identical bytes.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import soundfile
import soxr

from dyad.runtime.errors import DyadError

SAMPLE_RATE = 16000
DEMO_WAV = "demo_dialogue.wav"


@dataclass(frozen=True)
class Voice:
    name: str  # espeak-ng voice, e.g. "en-us+m3"
    rate: int  # words per minute
    pitch: int  # 0..99


@dataclass(frozen=True)
class Line:
    """One scripted utterance.

    A floor turn starts `gap` seconds after the previous floor turn ends (a
    negative gap interrupts it). A backchannel (`over` set) does not take the
    floor: it starts at fraction `over` of the partner's current turn.
    """

    person: int
    text: str
    gap: float = 0.3
    over: float | None = None
    rate: int = 0  # added to the voice's rate
    pitch: int = 0  # added to the voice's pitch


@dataclass(frozen=True)
class Utterance:
    person: int
    start_s: float
    end_s: float
    text: str


VOICES = (Voice("en-us+m3", rate=180, pitch=40), Voice("en-gb+f4", rate=190, pitch=62))

# Sam (person 0) and Priya (person 1) plan a hike. Rate and pitch offsets give
# the lines some prosodic range (excited, hesitant, emphatic).
SCRIPT: tuple[Line, ...] = (
    Line(0, "Hey! So how was the Lake District?", gap=0.0, pitch=6),
    Line(1, "Four days. It rained the first morning, but after that it was honestly perfect.", gap=0.3),
    Line(0, "Mm-hm.", over=0.5, rate=-20, pitch=-6),
    Line(0, "Did you do the ridge walk?", gap=0.25, rate=10),
    Line(1, "We did! Striding Edge. You scramble along a narrow spine of rock, with a drop on both sides.",
         gap=0.25, rate=15, pitch=8),
    Line(0, "Wow.", over=0.62, rate=-25, pitch=10),
    Line(0, "I would hate that. Okay, so for October, I was thinking maybe we could", gap=0.25, rate=-5),
    Line(1, "Do that one? Absolutely. I'll send you the route tonight.", gap=-0.35, rate=20, pitch=6),
    Line(0, "Great. How long is it?", gap=0.25),
    Line(1, "About seven hours, with a long lunch at the top.", gap=0.3, rate=-5),
    Line(0, "Right.", over=0.7, rate=-15, pitch=-4),
    Line(0, "Seven hours. I should start training. Stairs, every morning.", gap=0.35, rate=-10, pitch=-3),
    Line(1, "Mm.", over=0.55, rate=-20),
    Line(1, "Stairs with a backpack!", gap=0.2, rate=10, pitch=12),
    Line(0, "Deal. Send me the route, and I'll book the cabin.", gap=0.3, rate=5),
    Line(1, "Perfect. Talk tomorrow!", gap=0.25, pitch=5),
)  # fmt: skip

LEAD_IN_S = 0.5  # silence before the first word and after the last
BLEED_DB = (-9.0, -8.5)  # partner level in mic 0, mic 1
BLEED_DELAY_MS = (3.5, 4.1)  # extra path length of the partner's voice, ~1.2-1.4 m
ROOM_RT60_S = 0.18  # a small furnished room
NOISE_DBFS = -58.0
PEAK = 0.89  # -1 dBFS after the common gain


def default_demo_path() -> Path:
    """Path of the bundled demo WAV (its transcript is the same stem with .txt)."""
    return Path(str(resources.files("dyad.runtime").joinpath(f"assets/{DEMO_WAV}")))


def transcript_path(wav_path: str | Path) -> Path:
    return Path(wav_path).with_suffix(".txt")


def speak(text: str, voice: Voice, rate: int = 0, pitch: int = 0) -> np.ndarray:
    """espeak-ng speech as float64 mono at SAMPLE_RATE, leading/trailing silence trimmed."""
    if shutil.which("espeak-ng") is None:
        raise DyadError("espeak-ng is not installed (Debian package espeak-ng); it is needed to synthesise the demo")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "line.wav"
        cmd = ["espeak-ng", "-v", voice.name, "-s", str(voice.rate + rate), "-p", str(min(99, max(0, voice.pitch + pitch)))]
        subprocess.run([*cmd, "-w", str(wav), text], check=True, capture_output=True)
        audio, rate_hz = soundfile.read(wav, dtype="float64", always_2d=True)
    audio = soxr.resample(audio[:, 0], rate_hz, SAMPLE_RATE, quality="HQ")
    return _trim(np.asarray(audio, dtype=np.float64))


def _trim(audio: np.ndarray, threshold_db: float = -45.0, block: int = 160) -> np.ndarray:
    # Trim on 10 ms blocks so transcript times mark the voiced part, not espeak's padding.
    count = len(audio) // block
    levels = np.sqrt(np.mean(audio[: count * block].reshape(count, block) ** 2, axis=1) + 1e-20)
    voiced = np.flatnonzero(20 * np.log10(levels / (np.max(levels) + 1e-20)) > threshold_db)
    if voiced.size == 0:
        return audio
    return audio[voiced[0] * block : (voiced[-1] + 1) * block]


def place(lines: tuple[Line, ...], durations: list[float]) -> list[Utterance]:
    """Timeline of the script from each line's duration (seconds)."""
    placed: list[Utterance] = []
    floor: Utterance | None = None
    for line, duration in zip(lines, durations, strict=True):
        if line.over is not None and floor is not None:
            if floor.person == line.person:
                raise ValueError(f"backchannel {line.text!r} must be spoken over the partner's turn")
            start = floor.start_s + line.over * (floor.end_s - floor.start_s)
        else:
            start = LEAD_IN_S if floor is None else max(LEAD_IN_S, floor.end_s + line.gap)
        utterance = Utterance(line.person, round(start, 3), round(start + duration, 3), line.text)
        placed.append(utterance)
        if line.over is None:
            floor = utterance
    return placed


def _room_response(delay_ms: float, rng: np.random.Generator) -> np.ndarray:
    """Direct path after `delay_ms`, then an exponentially decaying diffuse tail."""
    delay = int(round(delay_ms * SAMPLE_RATE / 1000))
    tail = int(ROOM_RT60_S * SAMPLE_RATE)
    t = np.arange(tail) / SAMPLE_RATE
    decay = rng.standard_normal(tail) * 10.0 ** (-3.0 * t / ROOM_RT60_S)
    decay *= 0.35 / np.sqrt(np.sum(decay**2))  # tail about 9 dB below the direct sound
    ir = np.zeros(delay + 1 + tail)
    ir[delay] = 1.0
    ir[delay + 1 :] = decay
    return ir


def _convolve(signal: np.ndarray, ir: np.ndarray) -> np.ndarray:
    size = 1 << int(np.ceil(np.log2(len(signal) + len(ir))))
    return np.fft.irfft(np.fft.rfft(signal, size) * np.fft.rfft(ir, size), size)[: len(signal)]


def mix(dry: np.ndarray, seed: int) -> np.ndarray:
    """Two head-mounted mics from the dry voices [n, 2] -> [n, 2] float64, peak at PEAK."""
    rng = np.random.default_rng(seed)
    own_ir = [_room_response(0.0, rng) * 0.25 for _ in range(2)]  # close mic: mostly direct sound
    for ir in own_ir:
        ir[0] = 1.0
    bleed_ir = [_room_response(BLEED_DELAY_MS[m], rng) * 10.0 ** (BLEED_DB[m] / 20.0) for m in range(2)]
    mics = np.zeros_like(dry)
    for m in range(2):
        mics[:, m] = _convolve(dry[:, m], own_ir[m]) + _convolve(dry[:, 1 - m], bleed_ir[m])
    mics *= PEAK / np.max(np.abs(mics))
    # Noise after the gain so its level is a fixed dBFS; lightly low-passed (mic self-noise + room hum).
    noise = rng.standard_normal(mics.shape)
    noise = 0.5 * (noise + np.roll(noise, 1, axis=0))
    noise *= 10.0 ** (NOISE_DBFS / 20.0) / np.sqrt(np.mean(noise**2))
    return np.clip(mics + noise, -1.0, 1.0)


def synthesize_dialogue(lines: tuple[Line, ...] = SCRIPT, seed: int = 7) -> tuple[np.ndarray, list[Utterance]]:
    """Speak and mix `lines` -> (mics [n, 2] float64 at SAMPLE_RATE, utterances)."""
    speech = [speak(line.text, VOICES[line.person], line.rate, line.pitch) for line in lines]
    utterances = place(lines, [len(s) / SAMPLE_RATE for s in speech])
    total = int(round((max(u.end_s for u in utterances) + LEAD_IN_S) * SAMPLE_RATE))
    dry = np.zeros((total, 2))
    for utterance, audio in zip(utterances, speech, strict=True):
        start = int(round(utterance.start_s * SAMPLE_RATE))
        dry[start : start + len(audio), utterance.person] += audio
    return mix(dry, seed), utterances


def write_dialogue(path: str | Path, mics: np.ndarray, utterances: list[Utterance]) -> Path:
    """Write the WAV (16-bit PCM) and its transcript; returns the transcript path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pcm = np.round(mics * 32767.0).astype(np.int16)
    soundfile.write(path, pcm, SAMPLE_RATE, subtype="PCM_16", format="WAV")
    text = "".join(f"{u.person}\t{u.start_s:.3f}\t{u.end_s:.3f}\t{u.text}\n" for u in utterances)
    transcript = transcript_path(path)
    transcript.write_text(text, encoding="utf-8")
    return transcript


def read_transcript(path: str | Path) -> list[Utterance]:
    """Parse a `person<TAB>start_s<TAB>end_s<TAB>text` transcript."""
    utterances = []
    for number, row in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not row.strip():
            continue
        fields = row.split("\t")
        if len(fields) != 4:
            raise ValueError(f"{path}:{number}: expected person, start, end and text separated by tabs")
        utterances.append(Utterance(int(fields[0]), float(fields[1]), float(fields[2]), fields[3]))
    return utterances


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dyad.runtime.offline.demo_audio", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output WAV path (the transcript goes beside it as .txt)")
    parser.add_argument("--lines", type=int, default=None, help="only the first N script lines (quick checks)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the room responses and noise")
    args = parser.parse_args(argv)
    lines = SCRIPT if args.lines is None else SCRIPT[: max(1, args.lines)]
    try:
        mics, utterances = synthesize_dialogue(lines, args.seed)
        transcript = write_dialogue(args.out, mics, utterances)
    except DyadError as exc:
        print(f"dyad: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out} ({len(mics) / SAMPLE_RATE:.1f} s, {len(utterances)} utterances) and {transcript}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
