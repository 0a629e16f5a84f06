"""BERT word features on the animation frames, from each word's arrival on.

Each arrived line goes through the BERT encoder once (lines of both people that
arrive together share one batch); every word gets the mean of its wordpiece
embeddings. A word's own frames are those whose centre time (j + 0.5) / fps lies
in its span (a word too short to contain any frame centre gets the frame of its
midpoint); frames without a word carry zeros and `no_text` = 1.

Words arrive late: a line is only known once its source delivers it, and frames
are finished in order and never rewritten. Two placements:
  arrival (default)  causal: a word conditions as many frames as it spans, starting
                     at its own first frame or, when it arrives later, at the frame
                     that is next when it arrives, and never before the end of the
                     same person's previous word. Lateness costs timing, not the word:
                     a live recogniser's words all reach the frames.
  exact              only the frames the word spans, from its arrival on: a word
                     that arrives after its span is lost (`words_late_dropped`).
                     For transcript files and host transcripts that arrive in time.
For every word the placer records how late it arrived (arrival minus word start,
and arrival minus word end, on the audio clock), counts words on time, partly
late and wholly late, and counts the words that reach at least one frame.
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
    def __init__(self, encoder: BertWordEncoder | OnnxWordEncoder, fps: int, stats: SessionStats, people: int = 2, placement: str = "arrival") -> None:
        if placement not in ("arrival", "exact"):
            raise ValueError(f"word placement must be arrival or exact, got {placement!r}")
        self.encoder = encoder
        self.fps = fps
        self.stats = stats
        self.people = people
        self.placement = placement
        self.dim = encoder.dim
        self.lateness = Series()  # ns, arrival minus word start
        self.lateness_after_end = Series()  # ns, arrival minus word end: what the recogniser costs
        self._pending: list[deque[PlacedWord]] = [deque() for _ in range(people)]
        self._placed_until = [0] * people  # end frame of each person's last placed word (arrival placement)
        self._shown: list[PlacedWord | None] = [None] * people  # the word on each person's last taken frame
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
                    first, end = self._frames_from(line.person, word, arrival_frame)
                    self._pending[line.person].append(PlacedWord(word.text, first, end, vector))
                    self.placed_log.append(
                        {"person": line.person, "text": word.text, "start_s": round(word.start_s, 3), "end_s": round(word.end_s, 3),
                         "from_frame": arrival_frame, "first_frame": first, "end_frame": end}
                    )  # fmt: skip
                elif not ok:
                    self.stats.count("words_without_tokens")

    def _frames_from(self, person: int, word: TimedWord, arrival_frame: int) -> tuple[int, int]:
        """[first, end) frames the word will condition, given when it arrived."""
        first, end = self.frames_of(word)
        if self.placement == "exact":
            return max(first, arrival_frame), end
        start = max(first, arrival_frame, self._placed_until[person])  # late words queue behind the previous one
        end = start + (end - first)
        self._placed_until[person] = end
        return start, end

    def _account(self, word: TimedWord, arrival_frame: int) -> bool:
        """Record lateness; False if the word is entirely in frames already finished."""
        self.stats.count("words_received")
        self.lateness.add((arrival_frame / self.fps - word.start_s) * 1e9)
        self.lateness_after_end.add((arrival_frame / self.fps - word.end_s) * 1e9)
        first, end = self.frames_of(word)
        if end <= arrival_frame:
            self.stats.count("words_late_wholly")
            if self.placement == "exact":
                self.stats.count("words_late_dropped")
                self.stats.count("word_frames_lost", end - first)
                return False
        elif first < arrival_frame:
            self.stats.count("words_late_partly")
            if self.placement == "exact":
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
                if self._shown[person] is not word:  # a word's frames are contiguous: the first one counts it
                    self._shown[person] = word
                    self.stats.count("words_reached_frames")
                break
        return vectors, no_text

    def summary(self) -> dict:
        counters = self.stats.counters
        received = counters.get("words_received", 0)
        reached = counters.get("words_reached_frames", 0)
        return {
            "dim": self.dim,
            "checkpoint": str(self.encoder.folder),
            "placement": self.placement,
            "word_lateness_ms": self.lateness.summary_ms(),
            "word_lateness_after_end_ms": self.lateness_after_end.summary_ms(),
            "words_received": received,
            "words_reached_frames": reached,
            "reached_fraction": round(reached / received, 4) if received else None,
        }
