"""`dyad corpus --minutes N --out DIR`: a synthetic two-person dialogue corpus in the InterAct layout.

Per take (about 40 s): two of eight espeak-ng speakers hold a scripted
conversation drawn from a seeded sentence grammar, with turn gaps, overlaps
(interruptions) and backchannels spoken over the partner. Speech and phoneme
timing come from one libespeak-ng synthesis (`espeak_timing`); the per-actor WAV
is that actor's head-mounted mic (own voice plus the partner's bleed and room,
as `demo_audio.mix`). Ground truth (`corpus_motion`) is made from the timing,
never from the audio. Files, for DATE_ACTOR_SCENARIO:

    bvhs/…bvh        body, 30 fps, the bundled template
    face_arkit/…csv  Live Link Face CSV of an ordinary capture (lips jittered by up to
                     60 ms and smeared: not lip-accurate)
    lip_acc/…csv     lip-accurate face, for a third of the takes
    wav/…wav         16 kHz mono, 16-bit
    transcripts/DATE_SCENARIO.txt   person<TAB>start<TAB>end<TAB>text (person 0 = lower actor id)
    scenarios.db     scenarios(id, name, relationship, emotion, actions)
    actors.db        actors(id, name, voice), sessions(date, scenario, actor)
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
import soxr

from dyad.models.arkit import LIVE_LINK_NAMES
from dyad.models.pose import pose_to_bvh_channels
from dyad.models.skeleton import Skeleton, load_default_skeleton, write_bvh
from dyad.models.visemes import TimedPhoneme
from dyad.runtime.offline.corpus_motion import SpokenLine, Style, base_motion, draw_style, overlay
from dyad.runtime.offline.demo_audio import mix
from dyad.runtime.errors import DyadError
from dyad.runtime.offline.espeak_timing import synthesize

SAMPLE_RATE = 16000
FPS = 30
DATE = "20250101"
# (voice, words per minute, pitch): actor A01 and A02 resemble the demo dialogue's two voices
SPEAKERS = (
    ("en-us+m3", 180, 40), ("en-gb-x-rp+f4", 190, 62), ("en+f2", 170, 55), ("en-us+m1", 175, 35),
    ("en-gb-scotland+m2", 165, 45), ("en-029+f3", 185, 60), ("en-us+f4", 195, 70), ("en-gb-x-rp+m4", 170, 30),
)  # fmt: skip
ACTION_PAIRS = (("stand", "stand"), ("sit", "sit"), ("walk", "walk"), ("stand", "sit"), ("sit", "stand"))
RELATIONSHIPS = ("friends", "colleagues", "strangers", "siblings")
EMOTIONS = ("neutral", "happy", "surprised", "calm")

_SUBJECTS = ("the trip", "the new job", "the project", "my sister", "the concert", "that movie", "the garden",
             "our budget", "the weekend", "the hike", "your brother", "the meeting", "dinner", "the apartment")
_OPENERS = ("Honestly,", "So,", "Well,", "Actually,", "I mean,", "You know,", "Look,", "")
_CLAIMS = ("{s} was absolutely wonderful.", "I think {s} is going to be fine.", "{s} took much longer than we planned.",
           "nobody expected {s} to be that expensive.", "I keep thinking about {s}.", "{s} is the best part of my week.",
           "we should talk about {s} before Friday.", "{s} went better than I hoped, to be fair.",
           "my friend told me {s} was a complete disaster.", "I booked {s} for the second of October.",
           "we finally finished {s} yesterday afternoon.", "{s} made me laugh for about an hour.")
_QUESTIONS = ("What did you think of {s}?", "Did you ever finish {s}?", "How long did {s} take?",
              "Was {s} as good as they said?", "Should we move {s} to next month?", "Who organised {s}?")
_BACKCHANNELS = ("Mm-hm.", "Yeah.", "Right.", "Wow.", "Okay.", "Oh really?", "Sure.", "Uh-huh.")


@dataclass(frozen=True)
class _Line:
    person: int
    text: str
    gap: float
    over: float | None = None


def _script(rng: np.random.Generator, seconds: float) -> list[_Line]:
    lines, person, estimate = [], int(rng.integers(2)), 0.0
    while estimate < seconds:
        s = str(rng.choice(_SUBJECTS))
        text = str(rng.choice(_QUESTIONS if rng.random() < 0.3 else _CLAIMS)).format(s=s)
        if rng.random() < 0.5:
            text = f"{rng.choice(_OPENERS)} {text[0].lower()}{text[1:]}".strip()
        text = text[0].upper() + text[1:]
        if rng.random() < 0.4:
            text += " " + str(rng.choice(_CLAIMS)).format(s=str(rng.choice(_SUBJECTS))).capitalize()
        gap = float(rng.uniform(-0.45, -0.1)) if rng.random() < 0.15 else float(rng.uniform(0.15, 0.9))
        lines.append(_Line(person, text, gap))
        if rng.random() < 0.45:
            lines.append(_Line(1 - person, str(rng.choice(_BACKCHANNELS)), 0.0, float(rng.uniform(0.3, 0.75))))
        estimate += 0.06 * len(text) + gap + 0.3
        person = 1 - person
    return lines


def _speak_lines(lines: list[_Line], speakers: tuple[int, int]) -> tuple[list[SpokenLine], np.ndarray]:
    """Place the lines on one timeline -> (spoken lines with absolute phoneme times, dry voices [n, 2])."""
    spoken, clips, floor = [], [], None
    for line in lines:
        voice, rate, pitch = SPEAKERS[speakers[line.person]]
        speech = synthesize(line.text, voice, rate, pitch)
        audio = soxr.resample(speech.audio, speech.sample_rate, SAMPLE_RATE, quality="HQ")
        duration = len(audio) / SAMPLE_RATE
        if line.over is not None and floor is not None and floor.person != line.person:
            start = floor.start_s + line.over * (floor.end_s - floor.start_s)
        else:
            start = 0.5 if floor is None else max(0.5, floor.end_s + line.gap)
        phonemes = tuple(TimedPhoneme(p.symbol, start + p.start_s, start + p.end_s, p.stressed) for p in speech.phonemes)
        item = SpokenLine(line.person, start, start + duration, line.over is not None, phonemes, line.text)
        spoken.append(item)
        clips.append(audio)
        if line.over is None:
            floor = item
    total = int((max(s.end_s for s in spoken) + 0.6) * SAMPLE_RATE)
    dry = np.zeros((total, 2))
    for item, audio in zip(spoken, clips):
        a = int(round(item.start_s * SAMPLE_RATE))
        dry[a : a + len(audio), item.person] += audio
    return spoken, dry


def _actions(rng: np.random.Generator, frames: int) -> tuple[list[tuple[str, str]], list[bool], str]:
    first = ACTION_PAIRS[int(rng.integers(len(ACTION_PAIRS)))]
    second = ACTION_PAIRS[int(rng.integers(len(ACTION_PAIRS)))] if rng.random() < 0.4 else first
    switch = int(frames * rng.uniform(0.35, 0.65))
    actions = [first if k < switch else second for k in range(frames)]
    facing = [not (a == ("walk", "walk")) for a in actions]
    label = ",".join(first) + ("" if second == first else "->" + ",".join(second))
    return actions, facing, label


def _write_face_csv(path: Path, face: np.ndarray) -> None:
    rows = ["Timecode,BlendShapeCount," + ",".join(LIVE_LINK_NAMES)]
    for k, values in enumerate(face):
        seconds = k / FPS
        stamp = f"00:{int(seconds // 60):02d}:{int(seconds % 60):02d}:{k % FPS:02d}.000"
        rows.append(f"{stamp},{len(LIVE_LINK_NAMES)}," + ",".join(f"{v:.5f}" for v in values))
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


def write_take(out: Path, skeleton: Skeleton, index: int, seconds: float, seed: int) -> dict:
    rng = np.random.default_rng([seed, index])
    speakers = tuple(int(s) for s in sorted(rng.choice(len(SPEAKERS), 2, replace=False)))
    if index % 4 == 0:
        speakers = (0, 1)  # the demo's two voices are common in the corpus
    spoken, dry = _speak_lines(_script(rng, seconds), speakers)
    mics = mix(dry, seed=int(rng.integers(1 << 30)))
    frames = len(mics) * FPS // SAMPLE_RATE
    actions, facing, label = _actions(rng, frames)
    styles: tuple[Style, Style] = (draw_style(rng), draw_style(rng))
    roots, rotations, face = base_motion(skeleton, frames, actions, facing, int(rng.integers(1 << 30)), FPS)
    motion_seed = int(rng.integers(1 << 30))
    exact = overlay(skeleton, rotations.copy(), face, spoken, styles, motion_seed, FPS, exact_lips=True)
    captured = overlay(skeleton, rotations, face, spoken, styles, motion_seed, FPS, exact_lips=False)
    scenario = f"S{index + 1:04d}"
    lip_accurate = index % 3 == 0
    for p in (0, 1):
        name = f"{DATE}_A{speakers[p] + 1:02d}_{scenario}"
        write_bvh(out / "bvhs" / f"{name}.bvh", skeleton, 1.0 / FPS, pose_to_bvh_channels(skeleton, roots[p], rotations[p]))
        _write_face_csv(out / "face_arkit" / f"{name}.csv", captured[p])
        if lip_accurate:
            _write_face_csv(out / "lip_acc" / f"{name}.csv", exact[p])
        pcm = np.round(np.clip(mics[:, p], -1, 1) * 32767).astype(np.int16)
        soundfile.write(out / "wav" / f"{name}.wav", pcm, SAMPLE_RATE, subtype="PCM_16")
    text = "".join(f"{s.person}\t{s.start_s:.3f}\t{s.end_s:.3f}\t{s.text}\n" for s in spoken)
    (out / "transcripts" / f"{DATE}_{scenario}.txt").write_text(text, encoding="utf-8")
    return {"scenario": scenario, "actors": speakers, "actions": label, "seconds": frames / FPS, "lip_accurate": lip_accurate}


def write_metadata(out: Path, takes: list[dict], seed: int) -> None:
    rng = np.random.default_rng(seed)
    with sqlite3.connect(out / "scenarios.db") as db:
        db.execute("CREATE TABLE scenarios (id TEXT PRIMARY KEY, name TEXT, relationship TEXT, emotion TEXT, actions TEXT)")
        db.executemany("INSERT INTO scenarios VALUES (?, ?, ?, ?, ?)", [
            (t["scenario"], f"synthetic dialogue {t['scenario']}", str(rng.choice(RELATIONSHIPS)), str(rng.choice(EMOTIONS)), t["actions"])
            for t in takes])  # fmt: skip
    with sqlite3.connect(out / "actors.db") as db:
        db.execute("CREATE TABLE actors (id TEXT PRIMARY KEY, name TEXT, voice TEXT)")
        db.execute("CREATE TABLE sessions (date TEXT, scenario TEXT, actor TEXT)")
        db.executemany("INSERT INTO actors VALUES (?, ?, ?)", [(f"A{i + 1:02d}", f"espeak {v}", v) for i, (v, _, _) in enumerate(SPEAKERS)])
        db.executemany("INSERT INTO sessions VALUES (?, ?, ?)", [(DATE, t["scenario"], f"A{a + 1:02d}") for t in takes for a in t["actors"]])


def write_corpus(out: Path, minutes: float, seed: int = 0, take_seconds: float = 40.0, progress=None) -> list[dict]:
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise DyadError(f"--out {out} exists and is not empty")
    if minutes <= 0:
        raise DyadError(f"--minutes must be positive, got {minutes}")
    for sub in ("bvhs", "face_arkit", "lip_acc", "wav", "transcripts"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    skeleton = load_default_skeleton()
    takes, total, index = [], 0.0, 0
    while total < minutes * 60.0:
        takes.append(write_take(out, skeleton, index, min(take_seconds, minutes * 60.0 - total + 5.0), seed))
        total += takes[-1]["seconds"]
        index += 1
        if progress is not None:
            progress(total, minutes * 60.0)
    write_metadata(out, takes, seed)
    return takes
