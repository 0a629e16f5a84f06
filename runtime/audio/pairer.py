"""Pairing two microphones' mono streams into the session's [n, 2] chunks (two devices, two crystals)."""

from __future__ import annotations

import numpy as np

from dyad.runtime.frames import AudioChunk


class Pairer:
    """Pairs two mono session-rate chunk streams sample by sample into [n, 2] chunks.

    Each side keeps its unpaired samples; a gap in a side's start_sample (a
    dropped chunk) is filled with zeros there, so the other person's audio
    stays aligned. When one side leads by more than `max_skew` samples (its
    device clock runs fast, or the other device stalled), the leading side's
    oldest unpaired samples are dropped until both sides are level again.
    Output is contiguous from start_sample 0; capture_ns is the later of the
    two sides' capture times, i.e. when both samples existed.
    """

    def __init__(self, rate: int, max_skew: int) -> None:
        self.rate = rate
        self.max_skew = max_skew
        self.skew_dropped = 0
        self._buf = [np.zeros(0, np.float32), np.zeros(0, np.float32)]
        self._end = [0, 0]  # next expected start_sample per side
        self._anchor = [(0, 0), (0, 0)]  # (start_sample, capture_ns) of each side's newest chunk
        self._out_pos = 0

    def pending(self, side: int) -> int:
        return int(self._buf[side].shape[0])

    def push(self, side: int, chunk: AudioChunk) -> None:
        gap = max(0, chunk.start_sample - self._end[side])
        parts = [self._buf[side], np.zeros(gap, np.float32), chunk.samples[:, 0]]
        self._buf[side] = np.concatenate(parts)
        self._end[side] = chunk.end_sample
        self._anchor[side] = (chunk.start_sample, chunk.capture_ns)
        lead = self.pending(side) - self.pending(1 - side)
        if lead > self.max_skew:
            self._buf[side] = self._buf[side][lead:]
            self.skew_dropped += lead

    def pop(self) -> AudioChunk | None:
        n = min(self.pending(0), self.pending(1))
        if n == 0:
            return None
        capture = max(self._head_capture(0), self._head_capture(1))
        samples = np.stack([self._buf[0][:n], self._buf[1][:n]], axis=1)
        self._buf = [self._buf[0][n:], self._buf[1][n:]]
        chunk = AudioChunk(self._out_pos, samples, self.rate, capture)
        self._out_pos += n
        return chunk

    def _head_capture(self, side: int) -> int:
        head_index = self._end[side] - self.pending(side)
        anchor_index, anchor_ns = self._anchor[side]
        return anchor_ns + (head_index - anchor_index) * 1_000_000_000 // self.rate
