"""Streaming sample-rate conversion with libsoxr.

One `soxr.ResampleStream` carries its filter state from block to block, so a
stream cut into blocks resamples exactly like the whole signal at once, with
no edge artefacts per block and no FFT per chunk. soxr removes its own
algorithmic delay: output sample k is the signal at time k / out_rate, and
after `flush()` the total output is round(n_in * out_rate / in_rate) samples.
While streaming, soxr holds back up to a filter length of output (tens of ms
at "HQ"), released by later input or by `flush()`.
"""

from __future__ import annotations

import numpy as np

from dyad.runtime.audio.source import sanitize
from dyad.runtime.frames import AudioChunk

QUALITIES = ("QQ", "LQ", "MQ", "HQ", "VHQ")


def expected_length(n_in: int, in_rate: int, out_rate: int) -> int:
    """round(n_in * out_rate / in_rate) in integer arithmetic (ties round half up)."""
    return (2 * n_in * out_rate + in_rate) // (2 * in_rate)


class StreamResampler:
    """Resample [n, channels] float32 blocks from `in_rate` to `out_rate`.

    `process` may return fewer (even zero) samples than its input implies;
    they come out of later calls or `flush`. Equal rates pass blocks through
    untouched. After `flush` the resampler is ready for a new, unrelated signal.
    """

    def __init__(self, in_rate: int, out_rate: int, channels: int, quality: str = "HQ") -> None:
        if in_rate <= 0 or out_rate <= 0:
            raise ValueError(f"sample rates must be positive, got {in_rate} -> {out_rate}")
        if channels < 1:
            raise ValueError(f"channels must be >= 1, got {channels}")
        if quality not in QUALITIES:
            raise ValueError(f"quality must be one of {QUALITIES}, got {quality!r}")
        self.in_rate = int(in_rate)
        self.out_rate = int(out_rate)
        self.channels = int(channels)
        self.quality = quality
        self.samples_in = 0
        self.samples_out = 0
        self._stream = None
        if not self.passthrough:
            import soxr  # imported here so pass-through users need no libsoxr

            self._stream = soxr.ResampleStream(
                self.in_rate, self.out_rate, self.channels, dtype="float32", quality=quality
            )

    @property
    def passthrough(self) -> bool:
        return self.in_rate == self.out_rate

    def process(self, x: np.ndarray) -> np.ndarray:
        """Feed one block; return whatever output is ready (float32 [m, channels])."""
        block = self._as_block(x)
        self.samples_in += block.shape[0]
        y = block if self._stream is None else self._stream.resample_chunk(block, last=False)
        return self._count(y)

    def flush(self) -> np.ndarray:
        """Return the held-back tail and reset for a new signal."""
        if self._stream is None:
            y = np.zeros((0, self.channels), np.float32)
        else:
            y = self._stream.resample_chunk(np.zeros((0, self.channels), np.float32), last=True)
            self._stream.clear()
        out = self._count(y)
        self.samples_in = 0
        self.samples_out = 0
        return out

    def pending(self) -> int:
        """Output samples still owed for the input so far (what `flush` would return)."""
        return expected_length(self.samples_in, self.in_rate, self.out_rate) - self.samples_out

    def _as_block(self, x: np.ndarray) -> np.ndarray:
        block = np.asarray(x, dtype=np.float32)
        if block.ndim == 1 and self.channels == 1:
            block = block[:, None]
        if block.ndim != 2 or block.shape[1] != self.channels:
            raise ValueError(f"expected [n, {self.channels}] samples, got shape {block.shape}")
        return np.ascontiguousarray(block)

    def _count(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, dtype=np.float32).reshape(-1, self.channels)
        self.samples_out += y.shape[0]
        return y


def resample_all(x: np.ndarray, in_rate: int, out_rate: int, block: int = 65536, quality: str = "HQ") -> np.ndarray:
    """Resample a whole [n, channels] signal through the streaming path (bounded memory per step)."""
    rs = StreamResampler(in_rate, out_rate, x.shape[1], quality)
    if rs.passthrough:
        return np.asarray(x, dtype=np.float32)
    parts = [rs.process(x[i : i + block]) for i in range(0, x.shape[0], block)]
    parts.append(rs.flush())
    return np.concatenate(parts, axis=0)


class ChunkResampler:
    """Turns a device's chunk stream (device rate, device sample index) into session-rate chunks.

    Besides resampling it keeps the two things a chunk carries besides samples:
      * address: output sample k is input time k / out_rate, so a run of
        input starting at device index j0 starts at output index
        round(j0 * out / in). A gap in the input (a dropped chunk) ends the
        run: the held-back tail is flushed, the filter restarts, and the output
        shows the same gap (never shifting later audio).
      * capture time: extrapolated from the newest input chunk's capture_ns
        to each output chunk's first sample, in integer ns.
    Samples are sanitised first, because one NaN would poison the filter state
    for the rest of the stream; `sanitised` and `clipped` count the values.
    """

    def __init__(self, in_rate: int, out_rate: int, channels: int, quality: str = "HQ") -> None:
        self.in_rate = int(in_rate)
        self.out_rate = int(out_rate)
        self.channels = channels
        self._rs = StreamResampler(in_rate, out_rate, channels, quality)
        self._expected_in: int | None = None
        self._in_origin = 0
        self._out_origin = 0
        self._out_pos = 0
        self._anchor = (0, 0)  # (input index, capture_ns) of the newest input chunk
        self.sanitised = 0
        self.clipped = 0

    def to_out_samples(self, n_in: int) -> int:
        return expected_length(n_in, self.in_rate, self.out_rate)

    def push(self, chunk: AudioChunk) -> list[AudioChunk]:
        clean, n_bad, n_clipped = sanitize(chunk.samples)
        self.sanitised += n_bad
        self.clipped += n_clipped
        out: list[AudioChunk] = []
        if self._expected_in is None or chunk.start_sample != self._expected_in:
            out += self._emit(self._rs.flush())  # tail of the previous run (empty at first)
            self._restart(chunk.start_sample)
        self._anchor = (chunk.start_sample, chunk.capture_ns)
        self._expected_in = chunk.end_sample
        y = self._rs.process(clean)
        if not self._rs.passthrough:
            y, _, overshoot = sanitize(y)  # band-limited output can overshoot full scale
            self.clipped += overshoot
        out += self._emit(y)
        return out

    def _restart(self, in_start: int) -> None:
        self._in_origin = in_start
        self._out_origin = max(self._out_pos, self.to_out_samples(in_start))
        self._out_pos = self._out_origin

    def _emit(self, y: np.ndarray) -> list[AudioChunk]:
        if y.shape[0] == 0:
            return []
        chunk = AudioChunk(self._out_pos, y, self.out_rate, self._capture_of(self._out_pos))
        self._out_pos += y.shape[0]
        return [chunk]

    def _capture_of(self, k: int) -> int:
        """Capture ns of output sample k: its input time relative to the anchor chunk."""
        anchor_index, anchor_ns = self._anchor
        # input index of k, times out_rate: in_origin * out + (k - out_origin) * in
        scaled = (self._in_origin - anchor_index) * self.out_rate + (k - self._out_origin) * self.in_rate
        return anchor_ns + scaled * 1_000_000_000 // (self.in_rate * self.out_rate)
