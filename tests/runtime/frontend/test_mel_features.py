"""Streaming mel and frame features: absolute-time addressing, chunking independence."""

from __future__ import annotations

import numpy as np
import torch
import torchaudio

from dyad.runtime.config import MelConfig, SessionConfig, TimingConfig
from dyad.runtime.frontend.features import FeatureTimeline, FrameFeatureBuilder, frame_start_sample
from dyad.runtime.frontend.mel import LOG_FLOOR, StreamingMel

RATE = 16000


def _noise(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.1 * rng.standard_normal((int(seconds * RATE), 2))).astype(np.float32)


def _push_in_chunks(mel: StreamingMel, audio: np.ndarray, sizes: list[int]) -> tuple[list[int], np.ndarray]:
    firsts, frames, pos = [], [], 0
    for size in sizes:
        first, out = mel.push(audio[pos : pos + size])
        pos += size
        if len(out):
            firsts.append(first)
            frames.append(out)
    return firsts, np.concatenate(frames)


def test_streaming_mel_matches_whole_utterance_for_any_chunking():
    config = MelConfig()
    audio = _noise(2.0)
    reference = torchaudio.transforms.MelSpectrogram(
        sample_rate=RATE, n_fft=config.n_fft, hop_length=config.hop_length, n_mels=config.n_mels, center=False, power=2.0
    )(torch.from_numpy(audio.T.copy()))
    reference = torch.log(reference.clamp_min(LOG_FLOOR)).permute(2, 0, 1).numpy()
    rng = np.random.default_rng(1)
    sizes = list(rng.integers(1, 700, size=200))
    firsts, streamed = _push_in_chunks(StreamingMel(config, RATE), audio, sizes)
    covered = sum(sizes)
    expected_frames = (min(covered, len(audio)) - config.n_fft) // config.hop_length + 1
    assert streamed.shape == (expected_frames, 2, config.n_mels)
    # frame indices are contiguous across pushes
    assert firsts[0] == 0
    np.testing.assert_allclose(streamed, reference[:expected_frames], atol=2e-4, rtol=1e-4)


def test_frame_grid_is_integer_and_never_drifts():
    # 16000 / 30 is not an integer: the grid is exact in integer arithmetic for any frame index
    assert frame_start_sample(30, RATE, 30) == RATE
    assert frame_start_sample(30 * 3600 * 2, RATE, 30) == RATE * 3600 * 2
    spans = np.diff([frame_start_sample(k, RATE, 30) for k in range(301)])
    assert set(spans.tolist()) <= {533, 534}
    assert spans.sum() == 10 * RATE


def _build_features(audio: np.ndarray, vad_probs: np.ndarray, chunk: int) -> FeatureTimeline:
    config = MelConfig()
    timeline = FeatureTimeline(config.n_mels, capacity_frames=1000)
    builder = FrameFeatureBuilder(timeline, RATE, 30, config.hop_length, config.n_fft, vad_window=512)
    mel = StreamingMel(config, RATE)
    for pos in range(0, len(audio), chunk):
        part = audio[pos : pos + chunk]
        builder.add_samples(part)
        first, frames = mel.push(part)
        builder.add_mel(first, frames)
        # feed VAD windows that are complete after this chunk
        done = (pos + len(part)) // 512
        given = pos // 512
        if done > given:
            builder.add_vad(given, vad_probs[given:done])
        builder.advance()
    return timeline


def test_frame_features_are_chunking_independent_and_causal():
    audio = _noise(1.0)
    audio[: RATE // 2, 1] = 0.0  # person 1 silent for the first half
    vad = np.linspace(0, 1, len(audio) // 512 + 1, dtype=np.float32)[:, None].repeat(2, axis=1)
    a = _build_features(audio, vad, chunk=160)
    b = _build_features(audio, vad, chunk=1024)
    assert a.ready_until == b.ready_until > 25
    fa, fb = a.window(0, a.ready_until), b.window(0, b.ready_until)
    for pa, pb in zip(fa, fb):
        np.testing.assert_array_equal(pa.rms_db, pb.rms_db)
        np.testing.assert_array_equal(pa.vad, pb.vad)
        np.testing.assert_allclose(pa.mel, pb.mel, atol=1e-4)
    # silence reads as very low level for person 1, noise at about -20 dBFS for person 0
    assert np.all(fa[1].rms_db[:10] < -90)
    assert np.all(np.abs(fa[0].rms_db[:10] + 20) < 2)
    # VAD of frame j is the last window ending at or before the frame's end (causal)
    j = 20
    end = frame_start_sample(j + 1, RATE, 30)
    assert fa[0].vad[j] == vad[end // 512 - 1, 0]


def test_timeline_ring_is_bounded_and_pads_past_the_end():
    timeline = FeatureTimeline(n_mels=4, capacity_frames=8)
    for k in range(20):
        timeline.append(np.full((2, 4), k, np.float32), np.full(2, -k, np.float32), np.full(2, 0.5, np.float32))
    window = timeline.window(15, 8)  # 5 finished frames, 3 past the end
    np.testing.assert_array_equal(window[0].rms_db[:5], -np.arange(15, 20))
    assert np.all(window[0].vad[5:] == 0.0) and np.all(window[0].rms_db[5:] == -100.0)
    try:
        timeline.window(5, 2)
    except IndexError as error:
        assert "left the feature ring" in str(error)
    else:
        raise AssertionError("old frames must not be readable after the ring wrapped")


def test_numpy_mel_matches_torchaudio_for_other_sizes_rates_and_silence():
    # The live path's numpy mel against torchaudio's MelSpectrogram (what the models were trained on).
    for rate, config in ((16000, MelConfig(n_fft=512, hop_length=128, n_mels=40)), (48000, MelConfig(n_fft=1200, hop_length=480, n_mels=64))):
        audio = _noise(1.0)[: rate // 2]
        audio[: rate // 8] = 0.0  # silence: the log floor, not -inf
        reference = torchaudio.transforms.MelSpectrogram(
            sample_rate=rate, n_fft=config.n_fft, hop_length=config.hop_length, n_mels=config.n_mels, center=False, power=2.0
        )(torch.from_numpy(audio.T.copy()))
        reference = torch.log(reference.clamp_min(LOG_FLOOR)).permute(2, 0, 1).numpy()
        _, ours = StreamingMel(config, rate).push(audio)
        assert ours.shape == reference.shape
        np.testing.assert_allclose(ours, reference, atol=2e-4, rtol=1e-4)
        assert ours[0].min() == np.float32(np.log(LOG_FLOOR))


def test_end_anchored_mel_finishes_a_frame_without_audio_past_it_and_centre_waits_half_a_window():
    config = MelConfig()
    audio = _noise(1.0)
    frame = 10
    span_end = frame_start_sample(frame + 1, RATE, 30)
    ready = {}
    for anchor in ("end", "centre"):
        timeline = FeatureTimeline(config.n_mels, capacity_frames=100)
        offset = MelConfig(anchor=anchor).anchor_offset
        builder = FrameFeatureBuilder(timeline, RATE, 30, config.hop_length, config.n_fft, vad_window=512, mel_anchor_offset=offset)
        mel = StreamingMel(config, RATE)
        part = audio[:span_end]  # exactly up to the frame's last sample, as a live source delivers it
        builder.add_samples(part)
        builder.add_mel(*mel.push(part))
        builder.add_vad(0, np.full((span_end // 512, 2), 0.5, np.float32))
        builder.advance()
        ready[anchor] = timeline.ready_until
        if anchor == "end":  # each frame's mel is the mean of the frames whose window ends inside it
            got = timeline.window(frame, 1)[0].mel[0]
            _, log_mel = StreamingMel(config, RATE).push(audio[:span_end])
            ends = np.arange(len(log_mel)) * config.hop_length + config.n_fft
            members = (ends >= frame_start_sample(frame, RATE, 30)) & (ends < span_end)
            np.testing.assert_allclose(got, log_mel[members, 0].mean(axis=0), atol=1e-5)
    assert ready["end"] == frame + 1  # no lookahead: the frame is finished as soon as its audio is in
    assert ready["centre"] < frame + 1  # the centre anchor waits 12.5 ms more for the window's right half
    assert MelConfig().anchor == "end" and SessionConfig().pipeline_delay_ms() == TimingConfig().block_ms + 16.0
