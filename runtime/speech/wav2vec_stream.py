"""Streaming Wav2Vec2 for both people, on the absolute sample clock.

Encoder frame i covers samples [i*stride, i*stride + field) (stride 320, field
400: 50 frames per second). Each hop encodes one window
    [left context | new frames | lookahead]
for both people in one batched call, never the whole history: the context is
bounded (`wav2vec2_context_ms`), so the cost per hop is constant. Windows
start on the stride grid, so a frame's samples are the same whichever window
computes it; only what the transformer attends to differs (the bounded context
and the lookahead), which is what the streaming test measures.

Frames are final once computed and handed on in order. `FrameRateResampler`
turns them into animation-frame features by absolute time: animation frame j
takes the linear interpolation of the encoder frames at the centre time of its
sample span.
"""

from __future__ import annotations

import math

import numpy as np

from dyad.models.wav2vec2 import FrameGeometry, Wav2Vec2Encoder


class StreamingWav2Vec2:
    def __init__(self, encoder: Wav2Vec2Encoder, context_ms: float, lookahead_ms: float, sample_rate: int = 16000, people: int = 2) -> None:
        self.encoder = encoder
        self.geometry = encoder.geometry
        self.people = people
        self.context_frames = math.ceil(context_ms * sample_rate / 1000 / self.geometry.stride)
        self.lookahead = int(round(lookahead_ms * sample_rate / 1000))
        self._buffer = np.zeros((0, people), np.float32)
        self._buffer_start = 0  # absolute sample index of _buffer[0]
        self.next_frame = 0  # first encoder frame not computed yet

    @property
    def available_end(self) -> int:
        return self._buffer_start + len(self._buffer)

    def push(self, samples: np.ndarray) -> None:
        self._buffer = np.concatenate([self._buffer, samples.astype(np.float32, copy=False)])

    def samples_needed(self, frame_end: int) -> int:
        """Audio (absolute end) that frames [.., frame_end) need, lookahead included."""
        return (frame_end - 1) * self.geometry.stride + self.geometry.receptive_field + self.lookahead

    def can_encode(self, frame_end: int) -> bool:
        return frame_end > self.next_frame and self.available_end >= self.samples_needed(frame_end)

    def encode_until(self, frame_end: int, final: bool = False) -> tuple[int, np.ndarray]:
        """Compute frames [next_frame, frame_end): (first index, features [frames, people, dim]).

        `final` (input ended) pads missing audio with silence instead of waiting for it.
        """
        first = self.next_frame
        if frame_end <= first:
            return first, np.zeros((0, self.people, self.encoder.dim), np.float32)
        stride = self.geometry.stride
        window_first = max(first - self.context_frames, self._buffer_start // stride)
        start = window_first * stride
        stop = self.samples_needed(frame_end)
        window = self._buffer[start - self._buffer_start : stop - self._buffer_start]
        short = (stop - start) - len(window)
        if short > 0:
            if not final:
                raise ValueError(f"Wav2Vec2 window needs samples up to {stop}, have {self.available_end}")
            window = np.concatenate([window, np.zeros((short, self.people), np.float32)])
        features = self.encoder.encode(window.T)  # [people, frames, dim]
        chosen = features[:, first - window_first : frame_end - window_first]
        self.next_frame = frame_end
        self._trim()
        return first, np.ascontiguousarray(chosen.transpose(1, 0, 2))

    def window_samples(self, new_frames: int) -> int:
        """Samples in one steady-state window (context + new + lookahead): the warm-up size."""
        return (self.context_frames + new_frames - 1) * self.geometry.stride + self.geometry.receptive_field + self.lookahead

    def _trim(self) -> None:
        keep_from = max(0, (self.next_frame - self.context_frames) * self.geometry.stride)
        drop = min(len(self._buffer), keep_from - self._buffer_start)
        if drop > 0:
            self._buffer = self._buffer[drop:]
            self._buffer_start += drop


class FrameRateResampler:
    """Encoder frames (e.g. 50 Hz) -> animation frames (fps) by absolute time, linear interpolation."""

    def __init__(self, geometry: FrameGeometry, sample_rate: int, fps: int) -> None:
        self.geometry = geometry
        self.sample_rate = sample_rate
        self.fps = fps
        self._frames: list[np.ndarray] = []  # [people, dim] each
        self._first = 0  # encoder index of _frames[0]

    def _position(self, frame: int) -> tuple[int, float]:
        """(encoder frame i0, weight of i0 + 1) at the centre time of animation frame `frame`."""
        # Twice the centre sample, in integers: s_j + s_{j+1}; encoder frame i is centred at i*stride + field/2.
        double_centre = frame * self.sample_rate // self.fps + (frame + 1) * self.sample_rate // self.fps
        offset = double_centre - self.geometry.receptive_field
        if offset <= 0:
            return 0, 0.0
        step = 2 * self.geometry.stride
        return offset // step, (offset % step) / step

    def needed_end(self, frame: int) -> int:
        """Encoder frames [.., needed_end) must exist before animation frame `frame` is finished."""
        i0, _ = self._position(frame)
        return i0 + 2

    @property
    def end(self) -> int:
        return self._first + len(self._frames)

    def add(self, first: int, features: np.ndarray) -> None:
        if not self._frames:
            self._first = first
        elif first != self.end:
            raise ValueError(f"encoder frames must arrive contiguously: expected {self.end}, got {first}")
        self._frames.extend(features)

    def ready(self, frame: int) -> bool:
        return self.end >= self.needed_end(frame)

    def take(self, frame: int) -> np.ndarray:
        """[people, dim] for animation frame `frame`; frames before it are released."""
        i0, weight = self._position(frame)
        drop = min(max(0, i0 - self._first), len(self._frames))
        del self._frames[:drop]
        self._first += drop
        a = self._frames[i0 - self._first]
        b = self._frames[min(i0 + 1 - self._first, len(self._frames) - 1)]
        return ((1.0 - weight) * a + weight * b).astype(np.float32)
