"""Streaming log-mel features on the absolute sample clock (numpy, no torch).

Mel frame m covers samples [m * hop, m * hop + n_fft) (no centre padding), so
a frame depends only on samples already captured and streaming output equals
whole-utterance output for any chunking.

The transform is the one torchaudio's MelSpectrogram computes with our
settings (periodic Hann window, power 2, HTK mel scale, no filter-bank
normalisation, f_min 0, f_max Nyquist): the models were trained on it, and a
parity test holds this version to it. numpy keeps the live path free of torch
(seconds of import and hundreds of MB of memory at start-up).
"""

from __future__ import annotations

import numpy as np

from dyad.runtime.config import MelConfig

LOG_FLOOR = 1e-10


def _hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(hz, np.float64) / 700.0)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def mel_filter_bank(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """[n_fft // 2 + 1, n_mels] triangular HTK filters over the rfft bins, unnormalised."""
    bin_hz = np.linspace(0.0, sample_rate // 2, n_fft // 2 + 1)
    edges_hz = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sample_rate / 2), n_mels + 2))
    widths = np.diff(edges_hz)
    distance = edges_hz[None, :] - bin_hz[:, None]  # [bins, n_mels + 2]
    rising = -distance[:, :-2] / widths[:-1]
    falling = distance[:, 2:] / widths[1:]
    return np.maximum(0.0, np.minimum(rising, falling))


class StreamingMel:
    def __init__(self, config: MelConfig, sample_rate: int, channels: int = 2) -> None:
        self.config = config
        self.channels = channels
        n = config.n_fft
        self._window = (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)).astype(np.float32)  # periodic Hann
        self._filters = mel_filter_bank(sample_rate, n, config.n_mels).astype(np.float32)
        self._buffer = np.zeros((0, channels), dtype=np.float32)
        self._buffer_start = 0  # absolute sample index of _buffer[0]
        self.next_frame = 0  # index of the next mel frame to compute

    def centre_sample(self, frame: int) -> int:
        return frame * self.config.hop_length + self.config.n_fft // 2

    def push(self, samples: np.ndarray) -> tuple[int, np.ndarray]:
        """Append [n, channels] samples; return (first frame index, log-mel [m, channels, n_mels])."""
        self._buffer = np.concatenate([self._buffer, samples.astype(np.float32, copy=False)])
        hop, n_fft = self.config.hop_length, self.config.n_fft
        available_end = self._buffer_start + len(self._buffer)
        count = max(0, (available_end - n_fft) // hop + 1 - self.next_frame)
        first = self.next_frame
        if count == 0:
            return first, np.zeros((0, self.channels, self.config.n_mels), dtype=np.float32)
        start = first * hop - self._buffer_start
        offsets = start + np.arange(count)[:, None] * hop + np.arange(n_fft)[None, :]  # [count, n_fft]
        frames = self._buffer[offsets] * self._window[None, :, None]  # [count, n_fft, channels]
        spectrum = np.fft.rfft(frames, axis=1)
        power = (spectrum.real**2 + spectrum.imag**2).astype(np.float32)  # [count, bins, channels]
        mel = np.einsum("fbc,bm->fcm", power, self._filters)  # [count, channels, n_mels]
        log_mel = np.log(np.maximum(mel, LOG_FLOOR)).astype(np.float32)
        self.next_frame = first + count
        keep_from = self.next_frame * hop - self._buffer_start
        self._buffer = self._buffer[keep_from:]
        self._buffer_start += keep_from
        return first, log_mel
