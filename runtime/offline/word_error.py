"""Word error rate: (substitutions + deletions + insertions) / reference words, by Levenshtein alignment over words.

Both texts are normalised the same way first (lower case; punctuation other than
apostrophes removed; digits kept), so "Americans," matches "americans".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NOT_WORD = re.compile(r"[^a-z0-9' ]+")


def normalise_words(text: str) -> list[str]:
    return [w for w in _NOT_WORD.sub(" ", text.lower()).split() if w.strip("'")]


@dataclass(frozen=True)
class WordErrors:
    substitutions: int
    deletions: int
    insertions: int
    reference_words: int

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def wer(self) -> float:
        return self.errors / self.reference_words if self.reference_words else float(self.errors > 0)


def word_errors(reference: str, hypothesis: str) -> WordErrors:
    """The minimum-edit alignment of hypothesis words to reference words, with its edit counts."""
    ref, hyp = normalise_words(reference), normalise_words(hypothesis)
    # cost[i][j]: (edits, subs, dels, ins) aligning ref[:i] with hyp[:j]; ties prefer fewer substitutions
    previous = [(j, 0, 0, j) for j in range(len(hyp) + 1)]
    for i in range(1, len(ref) + 1):
        current = [(i, 0, i, 0)]
        for j in range(1, len(hyp) + 1):
            diag = previous[j - 1]
            match = ref[i - 1] == hyp[j - 1]
            options = (
                (diag[0] + (not match), diag[1] + (not match), diag[2], diag[3]),
                (previous[j][0] + 1, previous[j][1], previous[j][2] + 1, previous[j][3]),  # deletion
                (current[j - 1][0] + 1, current[j - 1][1], current[j - 1][2], current[j - 1][3] + 1),  # insertion
            )
            current.append(min(options))
        previous = current
    _, subs, dels, ins = previous[-1]
    return WordErrors(subs, dels, ins, len(ref))
