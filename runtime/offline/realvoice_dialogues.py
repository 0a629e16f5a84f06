"""Two-person dev dialogues built from single real recordings (evaluation only, never training).

A folder of mono real-speech WAVs (and an optional `transcripts.json`: file name ->
{"text": ...}) becomes a fixed list of dialogues. Each dialogue places two different
speakers on one timeline (turns, gaps, one overlap), and each person's microphone hears
their own voice plus the partner's voice bled in at a stated level (-2 .. -20 dB), a
delay (0 .. 10 ms) and through a room-like filter (direct sound plus an exponentially
decaying diffuse tail), plus a faint noise floor. The clean own-voice tracks are kept as
the truth of who speaks when; every placed clip keeps its offset so a forced alignment
of the whole recording can be shifted onto the dialogue's timeline.

Everything is a function of the folder's contents and the seed: the same inputs build
bit-identical dialogues.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from dyad.runtime.errors import DyadError

RATE = 16000
ACTIVE_LEVEL_DBFS = -26.0  # every clip is brought to this active speech level before the dialogue's own gain


@dataclass(frozen=True)
class Clip:
    name: str
    audio: np.ndarray  # float32 mono at RATE, active level ACTIVE_LEVEL_DBFS
    text: str | None


@dataclass(frozen=True)
class Placement:
    """One piece of a clip on the dialogue timeline: clip samples [clip_start, clip_end) at `at`."""

    person: int
    clip: str
    clip_start: int
    clip_end: int
    at: int


@dataclass(frozen=True)
class Dialogue:
    name: str
    mics: np.ndarray  # [N, 2] float32: what each person's microphone records
    clean: np.ndarray  # [N, 2] float32: each person's own voice alone, as it reaches their own mic
    placements: tuple[Placement, ...]
    bleed_db: float  # partner's voice on my mic relative to on their own mic
    delay_ms: float
    gains_db: tuple[float, float]  # each person's level relative to ACTIVE_LEVEL_DBFS

    @property
    def seconds(self) -> float:
        return len(self.mics) / RATE


# (person 0's clip, person 1's clip, bleed dB, delay ms, gains dB): speakers always differ within a dialogue.
_PLAN = (
    ("jfk_44k1_mono.wav", "librispeech_2412-153948-0000.wav", -10.0, 4.0, (0.0, -4.0)),
    ("fasterwhisper_stereoL_spkA.wav", "fasterwhisper_stereoR_spkB.wav", -3.0, 2.0, (-2.0, 2.0)),
    ("moonshine_two_cities_48k.wav", "moonshine_beckett.wav", -6.0, 8.0, (3.0, -3.0)),
    ("ljspeech_LJ002-0020.wav+ljspeech_LJ002-0035.wav", "jfk_44k1_mono.wav", -20.0, 10.0, (-6.0, 0.0)),
    ("librispeech_2412-153948-0000.wav", "fasterwhisper_stereoL_spkA.wav", -2.0, 0.0, (0.0, 0.0)),
)
_MAX_CLIP_S = 14.0  # long recordings are cut (at a quiet point) to keep a dialogue short


def _active_level_db(audio: np.ndarray) -> float:
    """Level of the louder half of 20 ms frames (a simple active speech level)."""
    n = len(audio) // 320 * 320
    if n == 0:
        return -100.0
    power = np.mean(audio[:n].reshape(-1, 320).astype(np.float64) ** 2, axis=1)
    loud = np.sort(power)[len(power) // 2 :]
    return float(10.0 * np.log10(np.mean(loud) + 1e-12))


def load_clips(folder: Path) -> dict[str, Clip]:
    folder = Path(folder)
    if not folder.is_dir():
        raise DyadError(f"real-voice folder '{folder}' does not exist")
    texts: dict = {}
    meta = folder / "transcripts.json"
    if meta.exists():
        try:
            texts = json.loads(meta.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise DyadError(f"'{meta}' is not valid JSON: {error}") from None
    clips = {}
    for path in sorted(folder.glob("*.wav")):
        try:
            audio, rate = sf.read(path, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as error:
            raise DyadError(f"'{path}' is not a readable WAV file: {error}") from None
        mono = audio.mean(axis=1)
        if rate != RATE:
            mono = soxr.resample(mono, rate, RATE).astype(np.float32)
        if len(mono) < RATE // 2:
            raise DyadError(f"'{path}' is shorter than 0.5 s")
        gain = 10.0 ** ((ACTIVE_LEVEL_DBFS - _active_level_db(mono)) / 20.0)
        entry = texts.get(path.name) or {}
        clips[path.name] = Clip(path.name, (mono * gain).astype(np.float32), entry.get("text") if isinstance(entry, dict) else None)
    if len(clips) < 2:
        raise DyadError(f"real-voice folder '{folder}' needs at least two WAV files, found {len(clips)}")
    return clips


def _quiet_cut(audio: np.ndarray, lo: int, hi: int) -> int:
    """The start of the quietest 50 ms inside [lo, hi) (where a turn may end)."""
    win = 800
    if hi - lo <= win:
        return (lo + hi) // 2
    power = np.convolve(audio[lo:hi].astype(np.float64) ** 2, np.ones(win), mode="valid")
    return lo + int(np.argmin(power)) + win // 2


def room_filter(rng: np.random.Generator, rt60_s: float, delay_ms: float) -> np.ndarray:
    """Impulse response: the direct sound after `delay_ms`, then a diffuse tail decaying by 60 dB in
    `rt60_s`, starting 2 ms later at -6 dB; scaled to unit energy so the bleed level is the stated one."""
    delay = int(round(delay_ms * RATE / 1000.0))
    tail_len = int(rt60_s * RATE)
    t = np.arange(tail_len) / RATE
    tail = rng.standard_normal(tail_len) * np.exp(-6.9 * t / rt60_s) * 10 ** (-6 / 20) / np.sqrt(RATE * 0.01)
    ir = np.zeros(delay + 32 + tail_len)
    ir[delay] = 1.0
    ir[delay + 32 :] += tail
    return ir / np.sqrt(np.sum(ir**2))


def _turns(clip: Clip, person: int, rng: np.random.Generator) -> list[tuple[int, int, int]]:
    """The clip (up to _MAX_CLIP_S) as one or two turns: (person, start, end) in clip samples."""
    end = len(clip.audio)
    if end > _MAX_CLIP_S * RATE:
        end = _quiet_cut(clip.audio, int((_MAX_CLIP_S - 3) * RATE), int(_MAX_CLIP_S * RATE))
    if end < 4 * RATE:
        return [(person, 0, end)]
    cut = _quiet_cut(clip.audio, int(end * (0.4 + 0.1 * rng.random())), int(end * 0.65))
    return [(person, 0, cut), (person, cut, end)]


def _joined(clips: dict[str, Clip], spec: str) -> Clip:
    """`a.wav+b.wav`: one speaker's recordings one after the other, 0.3 s apart."""
    parts = [clips[name] for name in spec.split("+")]
    gap = np.zeros(int(0.3 * RATE), np.float32)
    audio = np.concatenate([x for p in parts for x in (p.audio, gap)][:-1])
    texts = [p.text for p in parts]
    return Clip(spec, audio, " ".join(texts) if all(texts) else None)


def build_dialogue(clips: dict[str, Clip], index: int, seed: int = 0) -> Dialogue:
    spec0, spec1, bleed_db, delay_ms, gains = _PLAN[index]
    rng = np.random.default_rng([seed, index])
    people = (_joined(clips, spec0), _joined(clips, spec1))
    turns0, turns1 = _turns(people[0], 0, rng), _turns(people[1], 1, rng)
    order = [t for pair in zip(turns0, turns1) for t in pair] + turns0[len(turns1):] + turns1[len(turns0):]  # fmt: skip
    at, placements = int(0.5 * RATE), []
    for k, (person, start, end) in enumerate(order):
        placements.append(Placement(person, people[person].name, start, end, at))
        # after the third turn the next speaker starts 0.8 s early (an overlap); otherwise a 0.3-0.9 s gap
        step = -int(0.8 * RATE) if k == 2 else int((0.3 + 0.6 * rng.random()) * RATE)
        at = max(at + (end - start) + step, placements[-1].at + 1)
    total = max(p.at + p.clip_end - p.clip_start for p in placements) + int(0.7 * RATE)
    clean = np.zeros((total, 2), np.float64)
    for p in placements:
        piece = people[p.person].audio[p.clip_start : p.clip_end]
        clean[p.at : p.at + len(piece), p.person] += piece * 10.0 ** (gains[p.person] / 20.0)
    mics = clean.copy()
    for own, partner in ((0, 1), (1, 0)):
        ir = room_filter(rng, 0.25 + 0.15 * rng.random(), delay_ms)
        bled = np.convolve(clean[:, partner], ir)[:total]
        mics[:, own] += bled * 10.0 ** (bleed_db / 20.0)
    mics += rng.standard_normal(mics.shape) * 10.0 ** (-70.0 / 20.0)
    name = f"dev{index:02d}_{Path(spec0.split('+')[0]).stem[:12]}_{Path(spec1.split('+')[0]).stem[:12]}_{int(-bleed_db)}dB"
    return Dialogue(name, mics.astype(np.float32), clean.astype(np.float32), tuple(placements), bleed_db, delay_ms, gains)


def build_dialogues(folder: Path, seed: int = 0, only: int | None = None) -> list[Dialogue]:
    """The dev dialogues whose recordings exist in `folder` (the first `only` of them)."""
    clips = load_clips(folder)
    usable = [i for i, plan in enumerate(_PLAN) if all(n in clips for spec in plan[:2] for n in spec.split("+"))]
    if not usable:
        raise DyadError(f"real-voice folder '{folder}' holds none of the recordings the dev dialogues use ({', '.join(sorted({n for p in _PLAN for s in p[:2] for n in s.split('+')}))})")
    return [build_dialogue(clips, i, seed) for i in usable[:only]]


def clip_texts(folder: Path) -> dict[str, str | None]:
    return {name: clip.text for name, clip in load_clips(folder).items()}
