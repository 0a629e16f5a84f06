"""Word encoding never blocks the hop, and its queue is bounded with a written drop rule (real packaged MiniLM-L6).

The report: sixteen 4096-character transcript lines took BERT 1.5 s inside the hop. Here
the same lines go through a live SpeechFeatures: `push` returns while the encoder is
still busy, and the words reach the frames after it finishes. A flood of batches keeps
at most MAX_BATCHES waiting, dropping the oldest and counting its words.
"""

from __future__ import annotations

import time

import numpy as np

from dyad.models.bert_words import BertWordEncoder, packaged_minilm_folder
from dyad.runtime.config import SessionConfig
from dyad.runtime.frames import TranscriptLine
from dyad.runtime.speech.speech_features import SpeechFeatures
from dyad.runtime.config import DEFAULT_BERT, SpeechFeaturesConfig
from dyad.runtime.stats import SessionStats
from dyad.runtime.speech.word_encoding_thread import MAX_BATCHES, WordEncodingThread
from dyad.runtime.speech.word_features import WordFeatures
from dyad.runtime.speech.words import spread_words

NO_AUDIO = (np.zeros((0, 2), np.float32), np.zeros(0, np.int64), np.zeros((0, 2), np.float32))
LONG = " ".join(["conversation"] * 315)[:4096]  # a 4096-character line


def wait_until(condition, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_long_lines_do_not_block_push_and_still_arrive():
    speech = SpeechFeatures(SessionConfig(speech=SpeechFeaturesConfig(bert=DEFAULT_BERT)), SessionStats(), threaded_asr=True)
    try:
        for k in range(16):
            assert speech.submit(TranscriptLine(k % 2, LONG, 2.0 * k, 2.0 * k + 1.9))
        speech.push(*NO_AUDIO, next_frame=0)  # hands the first 8 lines over and returns
        assert speech.encoding.pending >= 1  # ...while BERT is still working on them
        assert speech.stats.counters.get("words_received", 0) == 0
        for frame in range(1, 1200):  # later blocks collect what finished and hand over the rest
            speech.push(*NO_AUDIO, next_frame=frame)
            if speech.encoding.pending == 0 and speech.stats.counters.get("words_received", 0) == 16 * 315:
                break
            time.sleep(0.05)
        assert speech.stats.counters["words_received"] == 16 * 315
        vectors, no_text = speech.words.take(60)  # frame 60 = 2.0 s: inside line 1's words
        assert no_text[1] == 0.0 and np.abs(vectors[1]).sum() > 0
    finally:
        speech.close()


def test_a_full_queue_drops_the_oldest_batch_and_counts_its_words():
    stats = SessionStats()
    words = WordFeatures(BertWordEncoder.load(packaged_minilm_folder()), 30, stats)
    encoding = WordEncodingThread(words)
    try:
        batches = [[spread_words(0, LONG, 10.0 * k, 10.0 * k + 9.0)] for k in range(3 * MAX_BATCHES)]
        for batch in batches:
            encoding.submit(batch)  # never blocks
        assert encoding.pending <= MAX_BATCHES + 1  # waiting + the one being encoded
        wait_until(lambda: encoding.collect(0) >= 0 and encoding.pending == 0)  # collect places what is done
        dropped = stats.counters["words_dropped_backlog"]
        assert dropped > 0 and dropped % 315 == 0
        assert stats.counters["words_received"] + dropped == len(batches) * 315
    finally:
        encoding.close()
