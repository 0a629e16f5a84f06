"""Streaming log-mel features on the absolute sample clock (torchaudio).

Mel frame m covers samples [m * hop, m * hop + n_fft) (no centre padding), so
a frame depends only on samples already captured and streaming output equals
whole-utterance output for any chunking.
"""

from __future__ import annotations

import numpy as np
import torch
import torchaudio

from dyad.runtime.config import MelConfig

LOG_FLOOR = 1e-10


class StreamingMel:
    def __init__(self, config: MelConfig, sample_rate: int, channels: int = 2) -> None:
        self.config = config
        self.channels = channels
        self._transform = torchaudio.transforms.MelSpectrogram(
            sample_rate=sample_rate,
            n_fft=config.n_fft,
            hop_length=config.hop_length,
            n_mels=config.n_mels,
            center=False,
            power=2.0,
        )
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
        stop = (first + count - 1) * hop + n_fft - self._buffer_start
        segment = torch.from_numpy(np.ascontiguousarray(self._buffer[start:stop].T))
        with torch.inference_mode():
            power = self._transform(segment)  # [channels, n_mels, count]
        log_mel = torch.log(power.clamp_min(LOG_FLOOR)).permute(2, 0, 1).numpy().astype(np.float32)
        self.next_frame = first + count
        keep_from = self.next_frame * hop - self._buffer_start
        self._buffer = self._buffer[keep_from:]
        self._buffer_start += keep_from
        return first, log_mel
