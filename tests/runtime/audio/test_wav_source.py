"""WAV inputs and replay, with real files written by soundfile in a temp folder."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from dyad.runtime.audio.source import AudioSource, ChunkQueue, sanitize
from dyad.runtime.clock import SimulatedClock
from dyad.runtime.errors import DyadError
from dyad.runtime.frames import AudioChunk
from dyad.runtime.audio.resample import ChunkResampler, StreamResampler, expected_length
from dyad.runtime.audio.wav_source import WavReplaySource, open_wav_inputs

RATE = 16000


def tone(freq: float, seconds: float, rate: int, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def write(path: Path, data: np.ndarray, rate: int, subtype: str | None = None) -> Path:
    sf.write(str(path), data, rate, subtype=subtype)
    return path


def peak_hz(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum) * rate / len(x))


# --- validation -------------------------------------------------------------------------


def test_stereo_file_loads_as_two_columns(tmp_path):
    data = np.stack([tone(440, 0.5, RATE), tone(880, 0.5, RATE, 0.25)], axis=1)
    wav = open_wav_inputs([write(tmp_path / "s.wav", data, RATE, "FLOAT")], RATE)
    assert wav.samples.shape == (8000, 2) and wav.samples.dtype == np.float32
    np.testing.assert_array_equal(wav.samples, data)
    assert wav.resampled_from is None and not wav.samples.flags.writeable


def test_four_channel_file_uses_first_two_with_a_note(tmp_path):
    data = np.stack([tone(f, 0.2, RATE) for f in (300, 600, 900, 1200)], axis=1)
    wav = open_wav_inputs([write(tmp_path / "quad.wav", data, RATE, "FLOAT")], RATE)
    np.testing.assert_array_equal(wav.samples, data[:, :2])
    assert any("4 channels" in n and "quad.wav" in n for n in wav.notes)


def test_two_mono_files_pad_the_shorter(tmp_path):
    a = write(tmp_path / "a.wav", tone(440, 1.0, RATE), RATE, "FLOAT")
    b = write(tmp_path / "b.wav", tone(660, 0.5, RATE), RATE, "FLOAT")
    wav = open_wav_inputs([a, b], RATE)
    assert wav.samples.shape == (16000, 2)
    np.testing.assert_array_equal(wav.samples[:, 0], tone(440, 1.0, RATE))
    np.testing.assert_array_equal(wav.samples[:8000, 1], tone(660, 0.5, RATE))
    assert not wav.samples[8000:, 1].any()
    assert any("b.wav" in n and "padded" in n for n in wav.notes)


@pytest.mark.parametrize("rate", [8000, 48000])
def test_other_rates_are_resampled_not_rejected(tmp_path, rate):
    data = np.stack([tone(440, 1.0, rate), tone(1000, 1.0, rate)], axis=1)
    wav = open_wav_inputs([write(tmp_path / f"r{rate}.wav", data, rate, "FLOAT")], RATE)
    assert wav.frames == expected_length(rate, rate, RATE) == RATE
    assert wav.resampled_from == (rate,)
    mid = wav.samples[2000:14000]  # away from the edges
    assert abs(peak_hz(mid[:, 0], RATE) - 440) < 2
    assert abs(peak_hz(mid[:, 1], RATE) - 1000) < 2
    ref = tone(440, 1.0, RATE)[2000:14000]  # same phase: soxr removes its delay
    assert np.max(np.abs(mid[:, 0] - ref)) < 0.01


def test_two_mono_files_at_different_rates(tmp_path):
    a = write(tmp_path / "a8.wav", tone(300, 1.0, 8000), 8000)
    b = write(tmp_path / "b48.wav", tone(500, 1.0, 48000), 48000)
    wav = open_wav_inputs([a, b], RATE)
    assert wav.samples.shape == (RATE, 2) and wav.source_rates == (8000, 48000)


def test_nan_and_inf_are_sanitised_and_counted(tmp_path):
    data = np.stack([tone(440, 0.1, RATE), tone(440, 0.1, RATE)], axis=1)
    data[10, 0], data[20, 1], data[30, 1] = np.nan, np.inf, -np.inf
    data[40, 0], data[41, 1] = 1.5, -3.0
    wav = open_wav_inputs([write(tmp_path / "bad.wav", data, RATE, "FLOAT")], RATE)
    assert wav.sanitised_samples == 3 and wav.clipped_samples == 2
    assert np.isfinite(wav.samples).all() and np.abs(wav.samples).max() <= 1.0
    assert wav.samples[10, 0] == 0 and wav.samples[40, 0] == 1.0 and wav.samples[41, 1] == -1.0
    src = WavReplaySource(wav, realtime=False)
    assert src.stats()["sanitised_samples"] == 3 and src.stats()["clipped_samples"] == 2


def one_line_error(paths, match: str) -> str:
    with pytest.raises(DyadError) as info:
        open_wav_inputs(paths, RATE)
    message = str(info.value)
    assert "\n" not in message and match in message, message
    return message


def test_error_messages_name_the_file_and_problem(tmp_path):
    mono = write(tmp_path / "mono.wav", tone(440, 0.1, RATE), RATE)
    empty = write(tmp_path / "empty.wav", np.zeros((0, 2), np.float32), RATE)
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio\n")
    msg = one_line_error([mono], "mono")
    assert "mono.wav" in msg and "stereo file or two mono files" in msg
    assert "empty.wav" in one_line_error([empty], "empty")
    assert "notes.wav" in one_line_error([text], "not a WAV file")
    assert "missing.wav" in one_line_error([tmp_path / "missing.wav"], "does not exist")
    assert str(tmp_path) in one_line_error([tmp_path], "directory")
    one_line_error([mono, mono, mono], "3 audio inputs")
    one_line_error([], "no audio input")
    # the second of two files is checked too
    assert "empty.wav" in one_line_error([mono, empty], "empty")


# --- replay -----------------------------------------------------------------------------


def stereo_wav(tmp_path, seconds: float = 1.0):
    rng = np.random.default_rng(1)
    data = (rng.standard_normal((round(seconds * RATE), 2)) * 0.1).astype(np.float32)
    return open_wav_inputs([write(tmp_path / "n.wav", data, RATE, "FLOAT")], RATE), data


def test_offline_chunks_are_exact_and_contiguous(tmp_path):
    wav, data = stereo_wav(tmp_path, 1.005)  # 16080 samples: the last block is short
    t0 = 1_234_567_891
    chunks = list(WavReplaySource(wav, block_ms=10, realtime=False).iter_chunks(t0_ns=t0))
    assert [c.frames for c in chunks] == [160] * 100 + [80]
    assert chunks[0].start_sample == 0
    for prev, cur in zip(chunks, chunks[1:]):
        assert cur.start_sample == prev.end_sample
    for c in chunks:
        assert c.capture_ns == t0 + c.start_sample * 10**9 // RATE  # 62500 ns per sample, exact
        assert c.sample_rate == RATE and c.samples.shape[1] == 2
    np.testing.assert_array_equal(np.concatenate([c.samples for c in chunks]), data)


def test_offline_read_moves_a_simulated_clock(tmp_path):
    wav, _ = stereo_wav(tmp_path, 0.5)
    clock = SimulatedClock(5_000_000_000)
    src = WavReplaySource(wav, realtime=False, clock=clock)
    assert isinstance(src, AudioSource)
    src.start()
    got = []
    while not src.finished:
        chunk = src.read(0.0)
        got.append(chunk)
        assert clock.now_ns() == 5_000_000_000 + chunk.end_sample * 10**9 // RATE
    assert src.read(0.0) is None and len(got) == 50
    assert src.stats()["delivered_samples"] == 8000 and src.stats()["dropped_samples"] == 0


def test_seconds_limit_and_loop(tmp_path):
    wav, data = stereo_wav(tmp_path, 0.3)
    short = list(WavReplaySource(wav, seconds=0.1, realtime=False).iter_chunks())
    assert sum(c.frames for c in short) == 1600
    looped = list(WavReplaySource(wav, seconds=0.75, loop=True, realtime=False).iter_chunks())
    audio = np.concatenate([c.samples for c in looped])
    assert audio.shape[0] == 12000 and looped[-1].end_sample == 12000
    np.testing.assert_array_equal(audio, np.concatenate([data, data, data[:2400]]))
    forever = WavReplaySource(wav, loop=True, realtime=False).iter_chunks()
    assert sum(next(forever).frames for _ in range(200)) == 32000  # past 6 file lengths
    with pytest.raises(DyadError):
        WavReplaySource(wav, seconds=0)


def test_realtime_replay_is_paced_and_identical_to_offline(tmp_path):
    wav, _ = stereo_wav(tmp_path, 1.0)
    src = WavReplaySource(wav, block_ms=10)
    src.start()
    arrivals, chunks = [], []
    began = time.monotonic_ns()
    while not src.finished:
        chunk = src.read(0.5)
        if chunk is not None:
            arrivals.append(time.monotonic_ns())
            chunks.append(chunk)
    elapsed = (time.monotonic_ns() - began) / 1e9
    src.close()
    offline = list(src.iter_chunks(t0_ns=src.t0_ns))
    assert len(chunks) == len(offline) == 100
    for live, off in zip(chunks, offline):
        assert live.start_sample == off.start_sample and live.capture_ns == off.capture_ns
        np.testing.assert_array_equal(live.samples, off.samples)
    assert 0.9 < elapsed < 1.6  # paced like a microphone, loosely
    # no chunk shows up before its last sample could have been captured
    for arrival, chunk in zip(arrivals, chunks):
        assert arrival >= src.t0_ns + chunk.end_sample * 10**9 // RATE
    assert src.stats()["dropped_samples"] == 0


def test_realtime_replay_drops_newest_when_consumer_stalls(tmp_path):
    wav, _ = stereo_wav(tmp_path, 0.3)
    src = WavReplaySource(wav, block_ms=10, max_queue_ms=50)  # room for 5 chunks
    src.start()
    time.sleep(0.45)  # consumer asleep while 30 chunks arrive
    got = [c for c in iter(lambda: src.read(0.0), None)]
    src.close()
    assert [c.start_sample for c in got] == [i * 160 for i in range(5)]  # the oldest are kept
    stats = src.stats()
    assert stats["dropped_chunks"] == 25 and stats["dropped_samples"] == 25 * 160
    assert src.finished


# --- building blocks --------------------------------------------------------------------


def test_chunk_queue_drops_newest_and_counts():
    q = ChunkQueue(2)
    chunks = [AudioChunk(i * 10, np.zeros((10, 2)), RATE, i) for i in range(4)]
    assert [q.put(c) for c in chunks] == [True, True, False, False]
    assert q.dropped_chunks == 2 and q.dropped_samples == 20
    assert q.get(0).start_sample == 0 and q.get(0.01).start_sample == 10 and q.get(0.01) is None


def test_sanitize_counts():
    clean, bad, clipped = sanitize(np.array([[np.nan, 2.0], [-np.inf, 0.5]]))
    assert (bad, clipped) == (2, 1)
    np.testing.assert_array_equal(clean, [[0.0, 1.0], [0.0, 0.5]])


def test_stream_resampler_length_tracks_round_exactly():
    rng = np.random.default_rng(0)
    for in_rate, out_rate in [(48000, 16000), (44100, 16000), (8000, 16000), (16000, 16000)]:
        rs = StreamResampler(in_rate, out_rate, 2)
        n_in = n_out = 0
        for _ in range(50):
            x = rng.standard_normal((int(rng.integers(0, 900)), 2)).astype(np.float32) * 0.1
            n_in += len(x)
            n_out += len(rs.process(x))
            assert n_out <= expected_length(n_in, in_rate, out_rate)
        n_out += len(rs.flush())
        assert n_out == expected_length(n_in, in_rate, out_rate) == round(n_in * out_rate / in_rate)


def test_chunk_resampler_keeps_addresses_gaps_and_capture_times():
    cr = ChunkResampler(48000, RATE, 1)
    x = tone(440, 1.0, 48000)[:, None]
    outs = []
    for i in range(0, 48000, 480):
        if i // 480 == 50:
            continue  # a dropped chunk: device samples [24000, 24480)
        outs += cr.push(AudioChunk(i, x[i : i + 480], 48000, 10**9 + i * 10**9 // 48000))
    before = [c for c in outs if c.start_sample < 8000]
    after = [c for c in outs if c.start_sample >= 8000]
    assert before[-1].end_sample == 8000 and after[0].start_sample == 8160  # the gap, at session rate
    for prev, cur in zip(outs, outs[1:]):
        assert cur.start_sample >= prev.end_sample
    for c in outs:  # capture time of sample k is its input time, within rounding
        assert abs(c.capture_ns - (10**9 + c.start_sample * 10**9 // RATE)) <= 1
