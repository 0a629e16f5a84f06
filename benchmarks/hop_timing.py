"""Windows as the scheduler builds them, fed to an animator hop after hop, and timed.

A `WindowStream` is one dyad's sequence of windows: each hop covers `new` fresh
frames, carries up to `context` of its own previous outputs as known context and
`lookahead` frames of audio after them. Features come from a `FeatureSource`:
random ones of the real sizes (compute does not depend on the values) or a
recording's features sliced by frame. The benchmarks time one animator call per
window with `perf_counter_ns`; nothing else runs inside the timed span.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from dyad.runtime.frames import AnimationWindow, PersonFeatures
from dyad.runtime.frames import ControlState, PersonPose

People = tuple[tuple[PersonPose, ...], tuple[PersonPose, ...]]
# (first frame, frame count) -> both people's features over those frames
FeatureSource = Callable[[int, int], tuple[PersonFeatures, PersonFeatures]]


@dataclass(frozen=True)
class WindowShape:
    context: int = 8
    new: int = 2
    lookahead: int = 0
    fps: int = 30

    @property
    def hop_ms(self) -> float:
        return self.new / self.fps * 1000.0


def random_features(animator, seed: int = 0) -> FeatureSource:
    """Features of the model's sizes (80 mel bands, BERT and Wav2Vec2 vectors present), random values."""
    rng = np.random.default_rng(seed)
    body, face = animator.models.body.config, animator.models.face.config

    def person(frames: int) -> PersonFeatures:
        return PersonFeatures(
            mel=rng.normal(-10.0, 3.0, (frames, body.mel_dim)).astype(np.float32),
            rms_db=np.full(frames, -30.0, np.float32),
            vad=rng.uniform(size=frames).astype(np.float32),
            wav2vec=rng.normal(size=(frames, face.wav2vec_dim)).astype(np.float32),
            words=rng.normal(size=(frames, body.word_dim)).astype(np.float32),
            no_text=np.zeros(frames, np.float32),
        )

    return lambda first, count: (person(count), person(count))


def recorded_features(arrays: dict[str, np.ndarray]) -> FeatureSource:
    """Slices of a recording's streams ([T, 2, ...] per name, as `dyad features` dumps them)."""

    def person(p: int, first: int, count: int) -> PersonFeatures:
        rows = slice(first, first + count)
        optional = {name: arrays[name][rows, p] for name in ("wav2vec", "words", "no_text") if name in arrays}
        return PersonFeatures(arrays["mel"][rows, p], arrays["rms_db"][rows, p], arrays["vad"][rows, p], **optional)

    return lambda first, count: (person(0, first, count), person(1, first, count))


class WindowStream:
    """One dyad's windows, hop after hop; `push` the animator's poses to make them the next context.
    With `total_frames`, the last window is cut at the end of the recording and then the stream ends."""

    def __init__(self, shape: WindowShape, features: FeatureSource, controls: ControlState, total_frames: int | None = None) -> None:
        self.shape = shape
        self.features = features
        self.controls = controls
        self.total = total_frames
        self.next_frame = 0
        self.history: tuple[list[PersonPose], list[PersonPose]] = ([], [])

    def next(self) -> AnimationWindow | None:
        s, start = self.shape, self.next_frame
        left = None if self.total is None else self.total - start
        if left is not None and left <= 0:
            return None
        new = s.new if left is None else min(s.new, left)
        lookahead = s.lookahead if left is None else min(s.lookahead, left - new)
        context = min(s.context, len(self.history[0]))
        past = tuple(tuple(h[len(h) - context :]) for h in self.history)
        self.next_frame += new
        features = self.features(start - context, context + new + lookahead)
        return AnimationWindow(start - context, context, new, lookahead, s.fps, features, past, self.controls)

    def push(self, people: People) -> None:
        for p in (0, 1):
            self.history[p].extend(people[p])
            del self.history[p][: max(0, len(self.history[p]) - self.shape.context)]  # only the context is ever read


@dataclass(frozen=True)
class TimedRun:
    ms: np.ndarray  # one value per timed window
    windows: list[AnimationWindow]  # every window, warm-up ones first
    people: list[People]


def run_stream(animate: Callable[[AnimationWindow], People], stream: WindowStream, hops: int | None, warmup: int = 0) -> TimedRun:
    """`warmup` untimed windows, then up to `hops` timed ones (None: until the stream ends)."""
    times, windows, outputs = [], [], []
    while hops is None or len(times) < hops:
        window = stream.next()
        if window is None:
            break
        began = time.perf_counter_ns()
        people = animate(window)
        if len(windows) >= warmup:
            times.append((time.perf_counter_ns() - began) / 1e6)
        stream.push(people)
        windows.append(window)
        outputs.append(people)
    return TimedRun(np.array(times), windows, outputs)


def replay(animate: Callable[[AnimationWindow], People], windows: list[AnimationWindow], warmup: int) -> TimedRun:
    """Recorded windows again, through another animator: every backend sees exactly the same inputs."""
    times, outputs = [], []
    for i, window in enumerate(windows):
        began = time.perf_counter_ns()
        outputs.append(animate(window))
        if i >= warmup:
            times.append((time.perf_counter_ns() - began) / 1e6)
    return TimedRun(np.array(times), windows, outputs)
