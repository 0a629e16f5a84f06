"""The audio source contract and the pieces every source shares.

A source delivers `AudioChunk`s on the session's absolute sample clock:
`start_sample` counts samples at the session rate since the source started,
`samples` is float32 [n, 2] (column 0 = person 0's mic, column 1 = person 1's),
`capture_ns` is the capture time of `samples[0]` on the monotonic ns clock.

Chunks from one source never overlap and never go back in time. They may
leave a gap (start_sample jumps forward) when audio was dropped; the session
fills a gap with zeros, so a gap is never hidden and never shifts later audio.

Counts in `stats()`:
  dropped_samples    sample frames (time steps at the session rate) lost
  sanitised_samples  individual values that were NaN or +-inf, replaced by 0
  clipped_samples    individual values outside [-1, 1], clipped
  overflows          times the driver reported an input overflow
  resampled_from     the native rate(s) resampled to the session rate, or None
"""

from __future__ import annotations

import queue
import threading
from typing import Protocol, runtime_checkable

import numpy as np

from dyad.runtime.frames import AudioChunk

SESSION_CHANNELS = 2


@runtime_checkable
class AudioSource(Protocol):
    """What the session reads audio from: microphones, WAV replay, network audio."""

    sample_rate: int
    channels: int

    def start(self) -> None:
        """Begin producing audio (open devices, start the replay thread)."""
        ...

    def read(self, timeout_s: float) -> AudioChunk | None:
        """The next chunk, or None when nothing arrived within `timeout_s`."""
        ...

    @property
    def finished(self) -> bool:
        """True once a finite source has handed out everything it had."""
        ...

    def close(self) -> None:
        """Stop producing and release devices and threads; safe to call twice."""
        ...

    def stats(self) -> dict:
        """Counters described in this module's docstring, plus source-specific ones."""
        ...


class ChunkQueue:
    """Bounded hand-off of chunks from a producer (audio callback or thread) to one consumer.

    Drop rule: when the queue already holds `max_chunks` chunks, `put` drops
    the NEWEST chunk (the one being put) and adds its frames to
    `dropped_samples`. What is already queued is never touched, so the
    consumer keeps receiving audio in order and then sees a forward jump in
    `start_sample` where the dropped chunk was; the session fills that gap
    with zeros. Dropping the newest (rather than the oldest) keeps `put`
    constant-time and lock-light, which matters because it runs inside the
    PortAudio callback: the callback only copies its buffer into a chunk
    and calls `put`, nothing else.

    `wakeup`, when given, is set after every successful put so a consumer
    can wait on several queues at once (one per microphone).
    """

    def __init__(self, max_chunks: int, wakeup: threading.Event | None = None) -> None:
        if max_chunks < 1:
            raise ValueError(f"ChunkQueue needs max_chunks >= 1, got {max_chunks}")
        self.max_chunks = max_chunks
        self._queue: queue.Queue[AudioChunk] = queue.Queue(maxsize=max_chunks)
        self._wakeup = wakeup
        self.dropped_chunks = 0
        self.dropped_samples = 0

    def put(self, chunk: AudioChunk) -> bool:
        """Hand `chunk` on; False (and counted) when the queue was full."""
        try:
            self._queue.put_nowait(chunk)
        except queue.Full:
            self.dropped_chunks += 1
            self.dropped_samples += chunk.frames
            return False
        if self._wakeup is not None:
            self._wakeup.set()
        return True

    def get(self, timeout_s: float | None = None) -> AudioChunk | None:
        """The oldest queued chunk; None after `timeout_s` (0 or None = don't wait)."""
        try:
            if not timeout_s or timeout_s <= 0:
                return self._queue.get_nowait()
            return self._queue.get(timeout=timeout_s)
        except queue.Empty:
            return None

    def __len__(self) -> int:
        return self._queue.qsize()

    def empty(self) -> bool:
        return self._queue.empty()


def sanitize(samples: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Return (clean float32 copy, values that were NaN/inf, values clipped to [-1, 1]).

    NaN and +-inf become 0 (not +-1: a burst of full-scale clicks would read
    as loud speech downstream). Counts are of individual values, not frames.
    """
    clean = np.array(samples, dtype=np.float32, copy=True)
    bad = ~np.isfinite(clean)
    n_bad = int(np.count_nonzero(bad))
    if n_bad:
        clean[bad] = 0.0
    over = np.abs(clean) > 1.0
    n_clipped = int(np.count_nonzero(over))
    if n_clipped:
        np.clip(clean, -1.0, 1.0, out=clean)
    return clean, n_bad, n_clipped


def samples_to_ns(n_samples: int, rate: int) -> int:
    """Duration of `n_samples` at `rate` in integer ns (floor; exact integer math, no drift)."""
    return n_samples * 1_000_000_000 // rate
