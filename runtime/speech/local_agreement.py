"""When a streaming recogniser's words are final: the prefix two consecutive hypotheses agree on.

A streaming recogniser revises its tail as more audio comes in ("excuse main" becomes
"excuse me in"). A word is committed once two consecutive hypotheses of the same
utterance agree on it and on every word before it (the LocalAgreement-2 policy of
whisper_streaming), and, where a `horizon_s` is given, once it ended at least
`settle_s` before the audio the hypothesis has heard: a word still being spoken is
never final. Committed words are never taken back; the next hypotheses only
extend them. When the utterance ends, `finish` commits the final hypothesis's
words after what was already committed.

Words are compared by their normalised text (lower case, no punctuation); a
committed word keeps the times of the newer hypothesis. All times are absolute
seconds on the session's audio clock.
"""

from __future__ import annotations

import re
from typing import Sequence

from dyad.runtime.speech.words import TimedWord

SLACK_S = 0.04  # a word starting this much before the last committed end is a boundary jitter, not a re-hearing
MIN_WORD_S = 0.01
_NOT_WORD = re.compile(r"[^\w']+")


def normalised(text: str) -> str:
    return _NOT_WORD.sub("", text.lower())


class LocalAgreement:
    def __init__(self, settle_s: float = 0.0) -> None:
        self.settle_s = settle_s
        self.committed_end_s = float("-inf")
        self._committed_tail: list[str] = []  # the last few committed words, to skip a hypothesis's repeat of them
        self._previous: list[TimedWord] = []

    def _uncommitted(self, hypothesis: Sequence[TimedWord]) -> list[TimedWord]:
        words = [w for w in hypothesis if normalised(w.text) and w.start_s >= self.committed_end_s - SLACK_S]
        # A window that re-hears committed audio may repeat its last words: drop the longest such repeat (up to 5 words).
        for n in range(min(5, len(self._committed_tail), len(words)), 0, -1):
            if [normalised(w.text) for w in words[:n]] == self._committed_tail[-n:]:
                return words[n:]
        return words

    def update(self, hypothesis: Sequence[TimedWord], horizon_s: float | None = None) -> list[TimedWord]:
        """Feed the newest hypothesis of the utterance; returns the words committed by it, in order."""
        current = self._uncommitted(hypothesis)
        agreed = 0
        for old, new in zip(self._previous, current):
            if normalised(old.text) != normalised(new.text):
                break
            if horizon_s is not None and new.end_s > horizon_s - self.settle_s:
                break
            agreed += 1
        self._previous = current[agreed:]
        return self._commit(current[:agreed])

    def finish(self, final: Sequence[TimedWord] | None = None) -> list[TimedWord]:
        """The utterance ended: commit the rest of `final` (default: the last hypothesis) and start afresh."""
        rest = self._uncommitted(final) if final is not None else self._previous
        self._previous = []
        return self._commit(rest)

    def _commit(self, words: list[TimedWord]) -> list[TimedWord]:
        """Committed words never overlap each other: a start inside the previous word moves to its end."""
        out = []
        for word in words:
            start = max(word.start_s, self.committed_end_s)
            word = TimedWord(word.text, start, max(word.end_s, start + MIN_WORD_S))
            out.append(word)
            self.committed_end_s = word.end_s
            self._committed_tail = (self._committed_tail + [normalised(word.text)])[-5:]
        return out
