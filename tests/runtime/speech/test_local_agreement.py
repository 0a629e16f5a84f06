"""The local-agreement commit policy on fixed hypothesis sequences, and the word error rate it is judged by."""

from __future__ import annotations

import pytest

from dyad.runtime.offline.word_error import word_errors
from dyad.runtime.speech.local_agreement import LocalAgreement
from dyad.runtime.speech.words import TimedWord


def hyp(*words: tuple[str, float, float]) -> list[TimedWord]:
    return [TimedWord(text, start, end) for text, start, end in words]


def texts(words: list[TimedWord]) -> list[str]:
    return [w.text for w in words]


def test_commits_only_the_prefix_two_consecutive_hypotheses_agree_on():
    policy = LocalAgreement()
    assert policy.update(hyp(("if", 0.4, 0.6), ("they", 0.6, 0.7))) == []  # nothing to agree with yet
    assert texts(policy.update(hyp(("if", 0.4, 0.6), ("the", 0.6, 0.7), ("reader", 0.7, 1.0)))) == ["if"]
    # "the reader" now agrees; "will" is new; times come from the newer hypothesis
    committed = policy.update(hyp(("if", 0.41, 0.6), ("the", 0.61, 0.7), ("reader", 0.7, 1.02), ("will", 1.05, 1.2)))
    assert texts(committed) == ["the", "reader"] and committed[1].end_s == pytest.approx(1.02)
    # a revision of committed words is never taken back ("in" for "if"); "will" agrees now, "excuse" needs a second hearing
    assert texts(policy.update(hyp(("in", 0.4, 0.6), ("the", 0.6, 0.7), ("reader", 0.7, 1.02), ("will", 1.05, 1.2), ("excuse", 1.2, 1.6)))) == ["will"]
    assert texts(policy.update(hyp(("will", 1.05, 1.2), ("excuse", 1.2, 1.6), ("me", 1.6, 1.8)))) == ["excuse"]
    assert texts(policy.finish()) == ["me"]  # the utterance ended: its unagreed tail is committed
    assert policy.finish() == []


def test_case_and_punctuation_do_not_break_agreement():
    policy = LocalAgreement()
    policy.update(hyp(("Ask", 0.0, 0.3), ("not,", 0.3, 0.6)))
    assert texts(policy.update(hyp(("ask", 0.0, 0.3), ("not", 0.3, 0.6), ("what", 0.6, 0.9)))) == ["ask", "not"]


def test_a_word_still_being_heard_is_not_committed():
    policy = LocalAgreement(settle_s=0.3)
    policy.update(hyp(("my", 0.0, 0.2), ("native", 0.2, 0.6)), horizon_s=0.7)
    # both agree, but "native" ended only 0.1 s before what the hypothesis heard
    assert texts(policy.update(hyp(("my", 0.0, 0.2), ("native", 0.2, 0.6)), horizon_s=0.7)) == ["my"]
    assert texts(policy.update(hyp(("native", 0.2, 0.6), ("country", 0.7, 1.1)), horizon_s=1.0)) == ["native"]


def test_final_hypothesis_commits_only_what_follows_the_committed_words():
    policy = LocalAgreement()
    policy.update(hyp(("he", 0.0, 0.2), ("began", 0.2, 0.5)))
    assert texts(policy.update(hyp(("he", 0.0, 0.2), ("began", 0.2, 0.5), ("a", 0.5, 0.6)))) == ["he", "began"]
    # a sliding window re-hears the committed "began" and revises the tail: only the new words count
    final = policy.finish(hyp(("began", 0.49, 0.5), ("a", 0.5, 0.6), ("confused", 0.6, 1.0)))
    assert texts(final) == ["a", "confused"]


def test_committed_words_never_overlap_even_when_boundaries_move():
    policy = LocalAgreement()
    policy.update(hyp(("one", 0.0, 0.5)))
    policy.update(hyp(("one", 0.0, 0.5), ("two", 0.6, 0.9)))
    later = policy.finish(hyp(("two", 0.47, 0.9)))  # a final pass puts the next word 30 ms inside the last one
    assert texts(later) == ["two"] and later[0].start_s == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("reference", "hypothesis", "subs", "dels", "ins"),
    [
        ("the cat sat on the mat", "the cat sat on the mat", 0, 0, 0),
        ("the cat sat on the mat", "the cat sat on mat", 0, 1, 0),
        ("the cat sat on the mat", "a cat sat on the the mat", 1, 0, 1),
        ("And so, my fellow Americans", "and so my fellow americans", 0, 0, 0),
        ("hello world", "", 0, 2, 0),
        ("", "noise", 0, 0, 1),
    ],
)
def test_word_error_counts(reference, hypothesis, subs, dels, ins):
    errors = word_errors(reference, hypothesis)
    assert (errors.substitutions, errors.deletions, errors.insertions) == (subs, dels, ins)


def test_word_error_rate_matches_the_textbook_example():
    # Jurafsky & Martin's alignment example: 6 substitutions, 3 insertions, 1 deletion over 13 reference words
    reference = "i UM the PHONE IS i LEFT THE portable **** PHONE UPSTAIRS last night"
    hypothesis = "i GOT IT TO the ***** FULLEST i LOVE TO portable FORM OF STORES last night"
    errors = word_errors(reference.replace("*", ""), hypothesis.replace("*", ""))
    assert errors.reference_words == 13 and errors.errors == 10
    assert errors.wer == pytest.approx(10 / 13)
