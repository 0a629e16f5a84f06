"""BERT word features on the animation frames each word spans, written only from the word's arrival on.

Each arrived line goes through the BERT encoder once (lines of both people that
arrive together share one batch); every word gets the mean of its wordpiece
embeddings. Frame j carries the word whose span contains the frame's centre
time (j + 0.5) / fps (a word too short to contain any frame centre gets the
frame of its midpoint); frames without a word carry zeros and `no_text` = 1.

Words arrive late: a line is only known once its source delivers it. Frames
are finished in order and never rewritten, so a word can only appear on
frames finished after it arrived; the part of it before that is lost. For
every word the placer records how late it arrived (arrival minus word start,
on the audio clock) and counts words on time, partly late and wholly late.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from dyad.runtime.stats import SessionStats, Series
from dyad.runtime.speech.words import TimedLine, TimedWord

if TYPE_CHECKING:  # either encoder: models.bert_words (torch) or models.onnx_words (the live path's)
    from dyad.models.bert_words import BertWordEncoder
    from dyad.models.onnx_words import OnnxWordEncoder

PLACED_LOG_WORDS = 100_000  # about 9 hours of fast speech: bounded so a live session holds constant memory


@dataclass(frozen=True)
class PlacedWord:
    text: str
    first_frame: int
    end_frame: int
    vector: np.ndarray  # [dim]


class WordFeatures:
    def __init__(self, encoder: BertWordEncoder | OnnxWordEncoder, fps: int, stats: SessionStats, people: int = 2) -> None:
        self.encoder = encoder
        self.fps = fps
        self.stats = stats
        self.people = people
        self.dim = encoder.dim
        self.lateness = Series()  # ns, arrival minus word start
        self._pending: list[deque[PlacedWord]] = [deque() for _ in range(people)]
        self.placed_log: deque[dict] = deque(maxlen=PLACED_LOG_WORDS)  # words that reached the frames (dyad features)

    def warm_up(self) -> None:
        self.encoder.encode([["warm", "up"], ["both", "people"]])

    def frames_of(self, word: TimedWord) -> tuple[int, int]:
        """[first, end) frames whose centre lies in the word; a word shorter than that gets the frame of its midpoint."""
        first = math.ceil(word.start_s * self.fps - 0.5)
        end = math.ceil(word.end_s * self.fps - 0.5)
        if end <= first:
            first = math.floor((word.start_s + word.end_s) / 2 * self.fps)
            end = first + 1
        return max(first, 0), max(end, 0)

    def add(self, lines: list[TimedLine], arrival_frame: int) -> None:
        """Encode lines that arrived while frame `arrival_frame` was the next to be finished."""
        if not lines:
            return
        self.place(lines, self.encode(lines), arrival_frame)

    def encode(self, lines: list[TimedLine]) -> list:
        """The slow part (BERT), safe on another thread: per line, (vectors, has_tokens)."""
        with self.stats.stage("bert"):
            return self.encoder.encode([[w.text for w in line.words] for line in lines])

    def place(self, lines: list[TimedLine], encoded: list, arrival_frame: int) -> None:
        """Put encoded words on the frames from `arrival_frame` on (the processing thread)."""
        for line, (vectors, has_tokens) in zip(lines, encoded):
            for word, vector, ok in zip(line.words, vectors, has_tokens):
                if self._account(word, arrival_frame) and ok:
                    first, end = self.frames_of(word)
                    self._pending[line.person].append(PlacedWord(word.text, max(first, arrival_frame), end, vector))
                    self.placed_log.append(
                        {"person": line.person, "text": word.text, "start_s": round(word.start_s, 3), "end_s": round(word.end_s, 3), "from_frame": arrival_frame}
                    )
                elif not ok:
                    self.stats.count("words_without_tokens")

    def _account(self, word: TimedWord, arrival_frame: int) -> bool:
        """Record lateness; False if the word is entirely in frames already finished."""
        self.stats.count("words_received")
        self.lateness.add((arrival_frame / self.fps - word.start_s) * 1e9)
        first, end = self.frames_of(word)
        if end <= arrival_frame:
            self.stats.count("words_late_dropped")
            self.stats.count("word_frames_lost", end - first)
            return False
        if first < arrival_frame:
            self.stats.count("words_late_partly")
            self.stats.count("word_frames_lost", arrival_frame - first)
        else:
            self.stats.count("words_on_time")
        return True

    def take(self, frame: int) -> tuple[np.ndarray, np.ndarray]:
        """(words [people, dim], no_text [people]) for frame `frame`, finished now."""
        vectors = np.zeros((self.people, self.dim), np.float32)
        no_text = np.ones(self.people, np.float32)
        for person, pending in enumerate(self._pending):
            while pending and pending[0].end_frame <= frame:
                pending.popleft()
            for word in pending:  # in time order; where two overlap, the earlier one keeps the frame
                if word.first_frame > frame:
                    break
                vectors[person] = word.vector
                no_text[person] = 0.0
                break
        return vectors, no_text

    def summary(self) -> dict:
        return {"dim": self.dim, "checkpoint": str(self.encoder.folder), "word_lateness_ms": self.lateness.summary_ms()}
