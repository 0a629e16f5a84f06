"""Local ASR: Whisper on a sliding window over each person's speech, committed by local agreement.

Per person, speech opens when the Silero probability reaches 0.5 and closes once
it has stayed below 0.35 for `asr_min_silence_ms` (the hysteresis Silero's own
segmenter uses); speech longer than `asr_max_segment_s` is cut. While speech is
open, every STEP_S of new audio the window [start, now] is transcribed; the
words two consecutive hypotheses agree on are committed (`local_agreement.py`,
as whisper_streaming does) and the window's start moves up to the end of the last
committed word, so words arrive about one step after they were said instead of
only once the speaker pauses. When speech closes, its last window is
transcribed and everything after the committed words is committed. Windows due
in the same block of audio, from either person, are transcribed in one batch.

Whisper costs far more than a hop, so in a live session it runs on its own
worker thread behind a bounded queue (a full queue drops the newest batch and
counts it): the processing thread never waits for it. Offline it runs inline,
so replays stay deterministic. Either way its words arrive after they were
spoken; the word placer measures how late.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass

import numpy as np

from dyad.models.whisper_asr import WhisperWordRecognizer
from dyad.runtime.stats import SessionStats
from dyad.runtime.speech.local_agreement import LocalAgreement
from dyad.runtime.speech.words import ExternalTranscriptASR, TimedLine, TimedWord, clean_text

log = logging.getLogger("dyad.asr")

SPEECH_ON = 0.5
SPEECH_OFF = 0.35
MIN_SPEECH_S = 0.25  # shorter blips are not worth a Whisper call
PAD_S = 0.1  # audio kept before a segment's first voiced window (onsets are soft)
QUEUE_BATCHES = 4
STEP_S = 1.0  # new speech between two hypotheses of an open window (whisper_streaming's minimum chunk)


@dataclass(frozen=True)
class SpeechSegment:
    person: int
    start_sample: int  # absolute index of audio[0]
    audio: np.ndarray  # float32 mono
    final: bool = True  # the speech closed here: commit everything after the committed words


class VadSegmenter:
    """Turns per-window VAD probabilities into closed speech spans (absolute samples) per person."""

    def __init__(self, people: int, window: int, min_silence: int, max_segment: int, min_speech: int) -> None:
        self.window = window
        self.min_silence = min_silence
        self.max_segment = max_segment
        self.min_speech = min_speech
        self._open: list[int | None] = [None] * people
        self._voiced_end = [0] * people
        self.too_short = 0

    def open_since(self, person: int) -> int | None:
        """First sample of the person's speech that is still open, or None."""
        return self._open[person]

    def push(self, starts: np.ndarray, probs: np.ndarray) -> list[tuple[int, int, int]]:
        """Feed windows in order; return (person, start, end) of every span that closed."""
        closed: list[tuple[int, int, int]] = []
        for start, row in zip(starts.tolist(), probs):
            end = start + self.window
            for person, p in enumerate(row.tolist()):
                self._step(person, start, end, p, closed)
        return closed

    def _step(self, person: int, start: int, end: int, p: float, closed: list) -> None:
        opened = self._open[person]
        if opened is None:
            if p >= SPEECH_ON:
                self._open[person], self._voiced_end[person] = start, end
            return
        if p >= SPEECH_OFF:
            self._voiced_end[person] = end
        if end - self._voiced_end[person] >= self.min_silence:
            self._close(person, opened, self._voiced_end[person], closed)
            self._open[person] = None
        elif end - opened >= self.max_segment:
            self._close(person, opened, end, closed)
            self._open[person], self._voiced_end[person] = end, end

    def _close(self, person: int, start: int, end: int, closed: list) -> None:
        if end - start >= self.min_speech:
            closed.append((person, start, end))
        else:
            self.too_short += 1


class AudioRing:
    """The last `capacity` samples of [n, people] audio, addressed by absolute sample index."""

    def __init__(self, capacity: int, people: int) -> None:
        self._data = np.zeros((capacity, people), np.float32)
        self.capacity = capacity
        self.end = 0  # absolute index one past the newest sample

    def push(self, samples: np.ndarray) -> None:
        samples = samples[-self.capacity :]
        slots = (self.end + np.arange(len(samples))) % self.capacity
        self._data[slots] = samples
        self.end += len(samples)

    def read(self, person: int, start: int, stop: int) -> np.ndarray:
        start = max(start, self.end - self.capacity, 0)
        stop = min(stop, self.end)
        if stop <= start:
            return np.zeros(0, np.float32)
        return self._data[np.arange(start, stop) % self.capacity, person].copy()


class WhisperASR(ExternalTranscriptASR):
    name = "whisper"

    def __init__(
        self,
        recognizer: WhisperWordRecognizer,
        stats: SessionStats,
        threaded: bool,
        min_silence_s: float,
        max_segment_s: float,
        vad_window: int,
        sample_rate: int = 16000,
        people: int = 2,
    ) -> None:
        super().__init__(stats, people)
        self.recognizer = recognizer
        self.rate = sample_rate
        seconds = lambda s: int(round(s * sample_rate))  # noqa: E731
        self.segmenter = VadSegmenter(people, vad_window, seconds(min_silence_s), seconds(max_segment_s), seconds(MIN_SPEECH_S))
        self.ring = AudioRing(seconds(max_segment_s + min_silence_s + 2 * PAD_S + 1.0), people)
        self._step = seconds(STEP_S)
        self._pad = seconds(PAD_S)
        self._policies = [LocalAgreement() for _ in range(people)]  # used only by the transcribing thread
        self._committed_end = [0] * people  # absolute sample; written by the transcribing thread, read here
        self._last_request = [0] * people  # audio end of each person's last window request
        self._batches: queue.Queue[list[SpeechSegment]] | None = None
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        if threaded:
            self._batches = queue.Queue(maxsize=QUEUE_BATCHES)
            self._worker = threading.Thread(target=self._work, name="whisper", daemon=True)
            self._worker.start()

    def warm_up(self) -> None:
        self.recognizer.transcribe([np.zeros(self.rate, np.float32)] * 2)

    def advance(self, separated: np.ndarray, vad_starts: np.ndarray, vad_probs: np.ndarray, audio_end_sample: int) -> None:
        self.ring.push(separated)
        spans = self.segmenter.push(vad_starts, vad_probs)
        batch = [self._window(p, a, b + self._pad, final=True) for p, a, b in spans]
        self.stats.count("asr_segments", len(spans))
        for person in range(len(self._policies)):
            opened = self.segmenter.open_since(person)
            if opened is not None and audio_end_sample - max(opened, self._last_request[person]) >= self._step:
                batch.append(self._window(person, opened, audio_end_sample, final=False))
        if not batch:
            return
        self.stats.count("asr_windows", len(batch))
        if self._batches is None:
            self._transcribe(batch)
            return
        try:
            self._batches.put_nowait(batch)
        except queue.Full:
            self.stats.count("asr_windows_dropped_busy", len(batch))

    def _window(self, person: int, speech_start: int, end: int, final: bool) -> SpeechSegment:
        """The audio from the later of speech start (padded) and the last committed word, up to `end`."""
        start = max(0, speech_start - self._pad, self._committed_end[person], end - self.ring.capacity)
        self._last_request[person] = end
        return SpeechSegment(person, start, self.ring.read(person, start, end), final)

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                batch = self._batches.get(timeout=0.1)
            except queue.Empty:
                continue
            self._transcribe(batch)

    def _transcribe(self, batch: list[SpeechSegment]) -> None:
        try:
            with self.stats.stage("asr.whisper"):
                results = self.recognizer.transcribe([s.audio for s in batch])
        except Exception as error:  # a recogniser failure costs these words, never the session
            self.stats.count("asr_errors")
            log.warning("Whisper failed on %d segment(s): %s", len(batch), error)
            return
        for segment, words in zip(batch, results):
            offset = segment.start_sample / self.rate
            hypothesis = []
            for word in words:
                text = clean_text(word.text)
                if text:
                    hypothesis.append(TimedWord(text, offset + word.start_s, offset + word.end_s))
            policy = self._policies[segment.person]
            if segment.final:
                timed = policy.finish(hypothesis)
            else:
                timed = policy.update(hypothesis, horizon_s=offset + len(segment.audio) / self.rate)
            if not timed:
                self.stats.count("asr_windows_without_new_words")
                continue
            self._committed_end[segment.person] = int(timed[-1].end_s * self.rate)
            self.accept_timed(TimedLine(segment.person, tuple(timed)), origin=f"whisper, person {segment.person}")

    def close(self) -> None:
        self._stop.set()
        if self._worker is not None:
            self._worker.join(5.0)
