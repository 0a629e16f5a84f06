"""BERT word encoding off the processing thread, so a burst of long transcript lines never stalls a hop.

Live sessions hand each batch of arrived lines to one worker thread and go on;
the next audio blocks collect what it has finished and place those words from
the frame that is next at collection time (a finished frame is never
rewritten, so the time spent encoding is counted as word lateness, as any
other delay is). Offline sessions encode in place, so runs stay bit-identical.

Drop rule: at most MAX_BATCHES batches wait for the worker. When a new batch
finds the queue full, the OLDEST waiting batch is dropped: its words would
land later than anything newer, on frames that are already going out. Dropped
words are counted (`words_dropped_backlog`) and never placed.
"""

from __future__ import annotations

import threading
from collections import deque

from dyad.runtime.speech.word_features import WordFeatures
from dyad.runtime.speech.words import TimedLine

MAX_BATCHES = 4  # with LINES_PER_BLOCK lines each: a backlog of ~32 lines, seconds of speech


class WordEncodingThread:
    def __init__(self, words: WordFeatures) -> None:
        self.words = words
        self._waiting: deque[list[TimedLine]] = deque()
        self._done: deque[tuple[list[TimedLine], list]] = deque()  # appended by the worker, popped by the processing thread
        self._wake = threading.Condition()
        self._closing = False
        self.busy = False  # the worker is encoding right now
        self._thread = threading.Thread(target=self._run, name="bert-words", daemon=True)
        self._thread.start()

    def submit(self, lines: list[TimedLine]) -> None:
        """Queue a batch; never blocks. A full queue drops its oldest batch (counted)."""
        with self._wake:
            if len(self._waiting) >= MAX_BATCHES:
                dropped = self._waiting.popleft()
                self.words.stats.count("words_dropped_backlog", sum(len(line.words) for line in dropped))
                self.words.stats.count("word_lines_dropped_backlog", len(dropped))
            self._waiting.append(lines)
            self._wake.notify()

    def collect(self, arrival_frame: int) -> int:
        """Place every finished batch from `arrival_frame` on; returns the number of lines placed."""
        placed = 0
        while self._done:
            lines, encoded = self._done.popleft()
            self.words.place(lines, encoded, arrival_frame)
            placed += len(lines)
        return placed

    @property
    def pending(self) -> int:
        with self._wake:
            return len(self._waiting) + int(self.busy) + len(self._done)

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._waiting and not self._closing:
                    self._wake.wait()
                if self._closing:
                    return
                lines = self._waiting.popleft()
                self.busy = True
            try:
                encoded = self.words.encode(lines)
                self._done.append((lines, encoded))
            except Exception:  # an encoder failure loses these words, never the session
                self.words.stats.count("word_encoding_errors")
            finally:
                with self._wake:
                    self.busy = False

    def close(self) -> None:
        with self._wake:
            self._closing = True
            self._wake.notify()
        self._thread.join(5.0)
