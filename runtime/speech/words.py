"""Timed words from any source, behind one interface (`WordSource`).

Three sources feed word features:
  ExternalTranscriptASR  a host app with its own speech recognition sends
                         `TranscriptLine`s live (OSC / ZeroMQ receivers call `submit`),
  TranscriptFileASR      a timed transcript file, replayed on the audio clock,
  WhisperASR             a local Whisper checkpoint on VAD-closed segments (whisper_words.py).
Every source accepts `submit(line)` from any thread, so host transcripts mix
with the local ones. The processing thread calls `advance` with each block
of separated audio and `drain` to collect the lines that arrived.

Bad lines never stop a session: an unknown person, empty or non-UTF-8 text,
impossible times, or a line out of order / overlapping the previous line of
the same person is rejected, logged and counted (`transcript_rejected.<why>`).
"""

from __future__ import annotations

import logging
import math
import operator
import re
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from dyad.runtime.errors import DyadError
from dyad.runtime.frames import TranscriptLine
from dyad.runtime.stats import SessionStats

log = logging.getLogger("dyad.words")

OVERLAP_SLACK_S = 0.05  # neighbouring recognisers disagree by a few tens of ms at line boundaries
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_LOGGED_PER_REASON = 10  # then rejections are only counted, so a flood cannot flood the log


@dataclass(frozen=True)
class TimedWord:
    text: str
    start_s: float  # on the session audio clock (seconds since sample 0)
    end_s: float


@dataclass(frozen=True)
class TimedLine:
    """One accepted line of one person: words with their own times."""

    person: int
    words: tuple[TimedWord, ...]

    @property
    def start_s(self) -> float:
        return self.words[0].start_s

    @property
    def end_s(self) -> float:
        return self.words[-1].end_s


def clean_text(text: str | bytes) -> str | None:
    """UTF-8 text with control characters removed and spaces collapsed; None if it is not UTF-8 text."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            return None
    if not isinstance(text, str):
        return None
    try:
        text.encode("utf-8")  # lone surrogates (from surrogateescape decoding) are not text
    except UnicodeEncodeError:
        return None
    return " ".join(_CONTROL.sub(" ", text).split())


def spread_words(person: int, text: str, start_s: float, end_s: float) -> TimedLine:
    """Split a line into words timed over [start_s, end_s) in proportion to their characters."""
    words = text.split()
    weights = np.array([len(w) for w in words], np.float64)
    edges = start_s + (end_s - start_s) * np.concatenate([[0.0], np.cumsum(weights) / weights.sum()])
    return TimedLine(person, tuple(TimedWord(w, float(a), float(b)) for w, a, b in zip(words, edges[:-1], edges[1:])))


class LineChecker:
    """Validates lines per person: known person, UTF-8, non-empty, sane times, in order, not overlapping."""

    def __init__(self, stats: SessionStats, people: int = 2) -> None:
        self.stats = stats
        self.people = people
        self._last_start = [-math.inf] * people
        self._last_end = [-math.inf] * people
        self._logged: dict[str, int] = {}

    def check(self, person: object, text: str | bytes, start_s: float, end_s: float, origin: str) -> str | None:
        """The cleaned text if the line is acceptable, else None (logged and counted)."""
        try:
            index = -1 if isinstance(person, bool) else operator.index(person)  # ints of any kind, not 1.0 or True
        except TypeError:
            index = -1
        if not 0 <= index < self.people:
            return self.reject("unknown_person", f"{origin}: person {person!r} is not 0..{self.people - 1}")
        person = index
        cleaned = clean_text(text)
        if cleaned is None:
            return self.reject("not_utf8", f"{origin}: text is not valid UTF-8")
        if not cleaned:
            return self.reject("empty", f"{origin}: empty text")
        try:
            start, end = float(start_s), float(end_s)
        except (TypeError, ValueError):
            return self.reject("bad_times", f"{origin}: times {start_s!r}..{end_s!r} are not numbers")
        if not (math.isfinite(start) and math.isfinite(end) and 0 <= start < end):
            return self.reject("bad_times", f"{origin}: times {start_s!r}..{end_s!r} must satisfy 0 <= start < end")
        if start < self._last_start[person]:
            return self.reject("out_of_order", f"{origin}: starts at {start:.3f} s, before the previous line of person {person} ({self._last_start[person]:.3f} s)")
        if start < self._last_end[person] - OVERLAP_SLACK_S:
            return self.reject("overlapping", f"{origin}: starts at {start:.3f} s, inside the previous line of person {person} (ends {self._last_end[person]:.3f} s)")
        self._last_start[person], self._last_end[person] = start, end
        return cleaned

    def reject(self, reason: str, message: str) -> None:
        self.stats.count(f"transcript_rejected.{reason}")
        seen = self._logged.get(reason, 0)
        self._logged[reason] = seen + 1
        if seen < _LOGGED_PER_REASON:
            log.warning("transcript line rejected (%s): %s", reason, message)
        return None


class WordSource(Protocol):
    name: str

    def submit(self, line: TranscriptLine) -> bool: ...

    def advance(self, separated: np.ndarray, vad_starts: np.ndarray, vad_probs: np.ndarray, audio_end_sample: int) -> None: ...

    def drain(self, limit: int) -> list[TimedLine]: ...

    def close(self) -> None: ...


class ExternalTranscriptASR:
    """Lines from a host app's recogniser; `submit` is thread-safe and never blocks."""

    name = "external"
    MAX_PENDING = 256  # lines not yet drained; beyond this the oldest are dropped (counted)

    def __init__(self, stats: SessionStats, people: int = 2) -> None:
        self.stats = stats
        self._checker = LineChecker(stats, people)
        self._pending: deque[TimedLine] = deque()
        self._lock = threading.Lock()

    def submit(self, line: TranscriptLine) -> bool:
        """Accept one line (True) or reject it with a logged, counted reason (False)."""
        return self.accept_line(line.person, line.text, line.start_s, line.end_s, origin=f"transcript from person {line.person}")

    def accept_line(self, person: int, text: str | bytes, start_s: float, end_s: float, origin: str) -> bool:
        with self._lock:
            cleaned = self._checker.check(person, text, start_s, end_s, origin)
            if cleaned is None:
                return False
            self._queue(spread_words(operator.index(person), cleaned, float(start_s), float(end_s)))
            return True

    def accept_timed(self, line: TimedLine, origin: str) -> bool:
        """A line whose words carry their own times (Whisper): checked as a whole, words kept as timed."""
        with self._lock:
            text = " ".join(w.text for w in line.words)
            if self._checker.check(line.person, text, line.start_s, line.end_s, origin) is None:
                return False
            self._queue(line)
            return True

    def _queue(self, line: TimedLine) -> None:
        self._pending.append(line)
        self.stats.count("transcript_lines_accepted")
        if len(self._pending) > self.MAX_PENDING:
            self._pending.popleft()
            self.stats.count("transcript_lines_dropped_backlog")

    def advance(self, separated: np.ndarray, vad_starts: np.ndarray, vad_probs: np.ndarray, audio_end_sample: int) -> None:
        """Host transcripts need no audio."""

    def drain(self, limit: int) -> list[TimedLine]:
        with self._lock:
            count = min(limit, len(self._pending))
            return [self._pending.popleft() for _ in range(count)]

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class FileRow:
    number: int  # line number in the file, from 1
    person: int
    text: bytes  # kept as bytes: a non-UTF-8 line is rejected alone, not the file
    start_s: float
    end_s: float
    problem: str | None = None  # why the row could not be parsed


def read_transcript_file(path: Path) -> list[FileRow]:
    """Parse `person<TAB>start_s<TAB>end_s<TAB>text` lines; blank lines and '#' comments are skipped."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DyadError(f"transcript file not found: {path}") from None
    except OSError as error:
        raise DyadError(f"cannot read transcript file {path}: {error.strerror or error}") from None
    rows = []
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith(b"#"):
            continue
        fields = line.split(b"\t", 3)
        try:
            person, start, end = int(fields[0]), float(fields[1]), float(fields[2])
            rows.append(FileRow(number, person, fields[3], start, end))
        except (ValueError, IndexError):
            rows.append(FileRow(number, -1, line, math.nan, math.nan, "expected person<TAB>start_s<TAB>end_s<TAB>text"))
    return rows


class TranscriptFileASR(ExternalTranscriptASR):
    """Replays a timed transcript file: each line arrives when the audio clock reaches its start (or end).

    The file is checked once, in file order, when it is opened: lines out of
    order or overlapping for their person, unknown people, empty or non-UTF-8
    text are rejected (logged with file:line, counted) and the rest replayed.
    `release="start"` is a perfect prompter (words known as they begin, as in
    the demo); `release="end"` behaves like a live recogniser that emits a
    line once it is finished, so every word arrives late. Release follows the
    audio clock, so offline replays stay deterministic.
    """

    name = "file"

    def __init__(self, path: Path, stats: SessionStats, people: int = 2, release: str = "start", sample_rate: int = 16000) -> None:
        super().__init__(stats, people)
        if release not in ("start", "end"):
            raise DyadError(f"transcript release must be 'start' or 'end', got '{release}'")
        self.path = path
        self._rate = sample_rate
        rows = read_transcript_file(path)
        checker = LineChecker(stats, people)
        lines = []
        for row in rows:
            origin = f"{path.name}:{row.number}"
            if row.problem is not None:
                checker.reject("malformed", f"{origin}: {row.problem}")
                continue
            cleaned = checker.check(row.person, row.text, row.start_s, row.end_s, origin)
            if cleaned is not None:
                lines.append(spread_words(row.person, cleaned, row.start_s, row.end_s))
        if not lines:
            raise DyadError(f"transcript file {path} has no valid lines (expected person<TAB>start_s<TAB>end_s<TAB>text)")
        release_time = (lambda line: line.start_s) if release == "start" else (lambda line: line.end_s)
        self._schedule = deque(sorted(((release_time(line), i, line) for i, line in enumerate(lines)), key=lambda item: item[:2]))

    def advance(self, separated: np.ndarray, vad_starts: np.ndarray, vad_probs: np.ndarray, audio_end_sample: int) -> None:
        now_s = audio_end_sample / self._rate
        with self._lock:
            while self._schedule and self._schedule[0][0] <= now_s:
                self._queue(self._schedule.popleft()[2])
