"""Frame-rate features for both people, addressed by absolute animation frame.

Animation frame j spans samples [s_j, s_{j+1}) with s_j = j * sample_rate // fps
(integer arithmetic: the frame grid never drifts against the sample clock).
Per frame and person:
  mel    mean of the log-mel frames anchored in the span (MelConfig.anchor: by default the
         window's end, so no frame waits for audio past it; or its centre),
  rms_db RMS of the separated samples in the span, in dBFS,
  vad    Silero probability of the last VAD window that ends at or before
         the span's end (causal: it adds no waiting),
  talk   talker attribution's speaking probability, mean over the span's samples.
Finished frames go into a bounded ring (`FeatureTimeline`) so a two-hour
session holds constant memory.

When the learned speech features are on (runtime/speech/speech_features.py), a frame is also
held until its Wav2Vec2 features exist, and it takes the word features known
at the moment it is finished (`extras`); a finished frame is never rewritten.
"""

from __future__ import annotations

import numpy as np

from dyad.runtime.frames import PersonFeatures
from dyad.runtime.frontend.mel import LOG_FLOOR

SILENCE_DB = -100.0


def frame_start_sample(frame: int, sample_rate: int, fps: int) -> int:
    return frame * sample_rate // fps


class FeatureTimeline:
    """Ring buffer of finished frame features for two people."""

    def __init__(
        self, n_mels: int, capacity_frames: int, people: int = 2, wav2vec_dim: int | None = None, words_dim: int | None = None
    ) -> None:
        self.capacity = capacity_frames
        self.people = people
        self.n_mels = n_mels
        self._mel = np.full((capacity_frames, people, n_mels), np.log(LOG_FLOOR), dtype=np.float32)
        self._rms_db = np.full((capacity_frames, people), SILENCE_DB, dtype=np.float32)
        self._vad = np.zeros((capacity_frames, people), dtype=np.float32)
        self._talk = np.ones((capacity_frames, people), dtype=np.float32)
        # Optional learned streams (zeros past the end of input; no_text reads 1 there).
        self._wav2vec = None if wav2vec_dim is None else np.zeros((capacity_frames, people, wav2vec_dim), np.float32)
        self._words = None if words_dim is None else np.zeros((capacity_frames, people, words_dim), np.float32)
        self._no_text = None if words_dim is None else np.ones((capacity_frames, people), np.float32)
        self.ready_until = 0  # frames [0, ready_until) are finished
        self.final_frame: int | None = None  # set once the input has ended

    def append(
        self,
        mel: np.ndarray,
        rms_db: np.ndarray,
        vad: np.ndarray,
        wav2vec: np.ndarray | None = None,
        words: np.ndarray | None = None,
        no_text: np.ndarray | None = None,
        talk: np.ndarray | None = None,
    ) -> None:
        slot = self.ready_until % self.capacity
        self._mel[slot] = mel
        self._rms_db[slot] = rms_db
        self._vad[slot] = vad
        self._talk[slot] = 1.0 if talk is None else talk
        if self._wav2vec is not None:
            self._wav2vec[slot] = 0.0 if wav2vec is None else wav2vec
        if self._words is not None:
            self._words[slot] = 0.0 if words is None else words
            self._no_text[slot] = 1.0 if no_text is None else no_text
        self.ready_until += 1

    def silence(self, count: int) -> tuple[PersonFeatures, ...]:
        """Features of `count` silent frames (what a window reads past the end of input)."""
        return tuple(
            PersonFeatures(
                mel=np.full((count, self.n_mels), np.log(LOG_FLOOR), dtype=np.float32),
                rms_db=np.full(count, SILENCE_DB, dtype=np.float32),
                vad=np.zeros(count, dtype=np.float32),
                talk=np.ones(count, dtype=np.float32),
                **self._learned(np.zeros(count, np.int64), np.zeros(count, bool), p),
            )
            for p in range(self.people)
        )

    def _learned(self, slots: np.ndarray, valid: np.ndarray, person: int) -> dict:
        """The optional learned streams of one person at `slots` (unfinished frames: zeros, no_text 1)."""
        out: dict = {}
        if self._wav2vec is not None:
            out["wav2vec"] = np.where(valid[:, None], self._wav2vec[slots, person], np.float32(0.0))
        if self._words is not None:
            out["words"] = np.where(valid[:, None], self._words[slots, person], np.float32(0.0))
            out["no_text"] = np.where(valid, self._no_text[slots, person], np.float32(1.0))
        return out

    def window(self, first: int, count: int) -> tuple[PersonFeatures, ...]:
        """Features for frames [first, first + count); frames not finished (past the end of input) read as silence."""
        oldest = self.ready_until - self.capacity
        if first < max(0, oldest):
            raise IndexError(f"frame {first} has left the feature ring (oldest kept: {oldest})")
        frames = np.arange(first, first + count)
        valid = frames < self.ready_until
        slots = frames % self.capacity
        mel = np.where(valid[:, None, None], self._mel[slots], np.float32(np.log(LOG_FLOOR)))
        rms = np.where(valid[:, None], self._rms_db[slots], np.float32(SILENCE_DB))
        vad = np.where(valid[:, None], self._vad[slots], np.float32(0.0))
        talk = np.where(valid[:, None], self._talk[slots], np.float32(1.0))
        return tuple(
            PersonFeatures(
                mel=mel[:, p].astype(np.float32),
                rms_db=rms[:, p].astype(np.float32),
                vad=vad[:, p].astype(np.float32),
                talk=talk[:, p].astype(np.float32),
                **self._learned(slots, valid, p),
            )
            for p in range(self.people)
        )


class FrameFeatureBuilder:
    """Joins mel frames, separated samples and VAD windows into finished animation frames."""

    def __init__(self, timeline: FeatureTimeline, sample_rate: int, fps: int, mel_hop: int, mel_n_fft: int, vad_window: int,
                 extras=None, mel_anchor_offset: int | None = None) -> None:  # fmt: skip
        self.timeline = timeline
        self.sample_rate = sample_rate
        self.fps = fps
        self.mel_hop = mel_hop
        # A mel frame feeds the animation frame that holds sample first + offset (MelConfig.anchor_offset).
        self.mel_anchor = mel_n_fft // 2 if mel_anchor_offset is None else mel_anchor_offset
        self.vad_window = vad_window
        people = timeline.people
        self._mel_frames: list[np.ndarray] = []  # pending mel frames, [people, n_mels] each
        self._mel_first = 0  # absolute index of _mel_frames[0]
        self._samples = np.zeros((0, people), dtype=np.float32)
        self._talk = np.zeros((0, people), dtype=np.float32)  # speaking probability per sample, beside _samples
        self._samples_start = 0
        self._vad_probs: list[np.ndarray] = []  # pending VAD windows, [people] each
        self._vad_first = 0
        self._last_vad = np.zeros(people, dtype=np.float32)
        # Learned streams (runtime/speech/speech_features.py): `ready(frame) -> bool` holds a frame until they
        # exist, `take(frame) -> dict` gives its wav2vec / words / no_text. None: off.
        self.extras = extras

    def add_samples(self, samples: np.ndarray, talk: np.ndarray | None = None) -> None:
        """`talk`: the talker attribution's speaking probability per sample [n, people] (None: 1)."""
        self._samples = np.concatenate([self._samples, samples])
        self._talk = np.concatenate([self._talk, np.ones(samples.shape, np.float32) if talk is None else talk.astype(np.float32)])

    def add_mel(self, first_index: int, frames: np.ndarray) -> None:
        if not self._mel_frames:
            self._mel_first = first_index
        self._mel_frames.extend(frames)

    def add_vad(self, first_window: int, probs: np.ndarray) -> None:
        if not self._vad_probs:
            self._vad_first = first_window
        self._vad_probs.extend(probs)

    def _mel_end(self) -> int:
        """Index one past the last mel frame received."""
        return self._mel_first + len(self._mel_frames)

    def _frame_ready(self, frame: int) -> bool:
        span_end = frame_start_sample(frame + 1, self.sample_rate, self.fps)
        samples_end = self._samples_start + len(self._samples)
        vad_end = (self._vad_first + len(self._vad_probs)) * self.vad_window
        mel_next_anchor = self._mel_end() * self.mel_hop + self.mel_anchor
        heard = samples_end >= span_end and mel_next_anchor >= span_end and vad_end >= span_end - self.vad_window + 1
        return heard and (self.extras is None or self.extras.ready(frame))

    def advance(self, final: bool = False, end_frame: int | None = None) -> int:
        """Finish every frame whose inputs are complete; at the end of input finish up to `end_frame`."""
        done = 0
        while True:
            frame = self.timeline.ready_until
            if final:
                if end_frame is None or frame >= end_frame:
                    break
            elif not self._frame_ready(frame):
                break
            self._finish(frame)
            done += 1
        return done

    def _finish(self, frame: int) -> None:
        start = frame_start_sample(frame, self.sample_rate, self.fps)
        end = frame_start_sample(frame + 1, self.sample_rate, self.fps)
        learned = {} if self.extras is None else self.extras.take(frame)
        rms, talk = self._take_span(start, end)
        self.timeline.append(self._take_mel(start, end), rms, self._take_vad(end), talk=talk, **learned)

    def _take_mel(self, start: int, end: int) -> np.ndarray:
        members = []
        while self._mel_frames:
            anchor = self._mel_first * self.mel_hop + self.mel_anchor
            if anchor >= end:
                break
            if anchor >= start:
                members.append(self._mel_frames[0])
            self._mel_frames.pop(0)
            self._mel_first += 1
        if not members:
            return np.full((self.timeline.people, self.timeline.n_mels), np.log(LOG_FLOOR), dtype=np.float32)
        return np.mean(np.stack(members), axis=0).astype(np.float32)

    def _take_span(self, start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
        """(RMS in dBFS, mean speaking probability) of the samples in [start, end), per person."""
        lo = max(0, start - self._samples_start)
        hi = max(lo, end - self._samples_start)
        span, talk = self._samples[lo:hi], self._talk[lo:hi]
        self._samples, self._talk = self._samples[hi:], self._talk[hi:]
        self._samples_start += hi
        if len(span) == 0:
            return np.full(self.timeline.people, SILENCE_DB, dtype=np.float32), np.ones(self.timeline.people, np.float32)
        rms = np.sqrt(np.mean(np.square(span, dtype=np.float64), axis=0))
        return (20.0 * np.log10(np.maximum(rms, 1e-5))).astype(np.float32), talk.mean(axis=0).astype(np.float32)

    def _take_vad(self, end: int) -> np.ndarray:
        last_window = end // self.vad_window - 1  # last window ending at or before `end`
        while self._vad_probs and self._vad_first <= last_window:
            self._last_vad = np.asarray(self._vad_probs.pop(0), dtype=np.float32)
            self._vad_first += 1
        return self._last_vad.copy()
