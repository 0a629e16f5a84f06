"""WAV replay: recorded conversations as an audio source.

`open_wav_inputs` validates and loads one stereo file or two mono files into
a two-column float32 signal at the session rate (any input rate is
resampled, NaN/inf sanitised). `WavReplaySource` cuts it into fixed blocks
addressed in absolute samples and delivers them either in real time (a
producer thread paced by the clock, like a microphone) or offline (a
generator on a simulated timeline). Both modes build their chunks in the
same function, so they hand out identical chunks; only arrival differs.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dyad.runtime.audio.source import SESSION_CHANNELS, ChunkQueue, samples_to_ns, sanitize
from dyad.runtime.clock import Clock, MonotonicClock, SimulatedClock
from dyad.runtime.errors import DyadError
from dyad.runtime.frames import AudioChunk
from dyad.runtime.audio.resample import StreamResampler

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WavInput:
    """Two people's audio, loaded and validated: `samples` is float32 [n, 2] at `sample_rate`."""

    paths: tuple[Path, ...]
    samples: np.ndarray
    sample_rate: int
    source_rates: tuple[int, ...]
    sanitised_samples: int = 0
    clipped_samples: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def frames(self) -> int:
        return int(self.samples.shape[0])

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate

    @property
    def resampled_from(self) -> tuple[int, ...] | None:
        rates = tuple(r for r in self.source_rates if r != self.sample_rate)
        return rates or None


@dataclass
class _Loaded:
    """One file's chosen channels at its native rate, plus what was fixed on the way."""

    path: Path
    samples: np.ndarray  # float32 [n, c], c = 1 or 2
    rate: int
    sanitised: int
    clipped: int


def open_wav_inputs(paths: Sequence[Path | str], session_rate: int = 16000, max_seconds: float | None = None) -> WavInput:
    """Load one stereo file or two mono files as the two people's audio.

    Files are read in blocks of READ_BLOCK_S and resampled as they are read, so memory
    follows the audio actually used: with `max_seconds` (`--seconds`) only that much is
    read, however long the file is or claims to be in its header.
    Raises DyadError with a one-line message naming the file and the problem.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise DyadError("no audio input given; give one stereo file or two mono files")
    if len(paths) > 2:
        named = ", ".join(f"'{p}'" for p in paths)
        raise DyadError(f"{len(paths)} audio inputs given ({named}); give one stereo file or two mono files")
    notes: list[str] = []
    want = 2 if len(paths) == 1 else 1
    loaded = [_load(p, want, notes, session_rate, max_seconds) for p in paths]
    samples = _join_columns([item.samples for item in loaded], paths, notes)
    samples.setflags(write=False)
    for note in notes:
        log.info(note)
    return WavInput(
        paths=tuple(paths),
        samples=samples,
        sample_rate=session_rate,
        source_rates=tuple(item.rate for item in loaded),
        sanitised_samples=sum(item.sanitised for item in loaded),
        clipped_samples=sum(item.clipped for item in loaded),
        notes=tuple(notes),
    )


READ_BLOCK_S = 1.0  # one read: a second of audio, whatever the file's length or header says


def _load(path: Path, want_channels: int, notes: list[str], session_rate: int, max_seconds: float | None) -> _Loaded:
    import soundfile as sf

    if not path.exists():
        raise DyadError(f"input '{path}' does not exist")
    if path.is_dir():
        raise DyadError(f"input '{path}' is a directory, not an audio file")
    try:
        info = sf.info(str(path))
    except (sf.SoundFileError, RuntimeError, TypeError) as exc:
        reason = _one_line(getattr(exc, "error_string", None) or str(exc))
        raise DyadError(f"input '{path}' is not a WAV file (or any format libsndfile reads): {reason}") from None
    if info.frames == 0:
        raise DyadError(f"input '{path}' is empty (0 audio frames)")
    if info.channels < want_channels:
        raise DyadError(f"input '{path}' is mono; two people need a stereo file or two mono files")
    rate = int(info.samplerate)
    limit = None if max_seconds is None else math.ceil(max_seconds * rate) + rate // 10  # + resampler run-out
    blocks, sanitised, clipped = [], 0, 0
    resampler = StreamResampler(rate, session_rate, want_channels)
    try:
        with sf.SoundFile(str(path)) as handle:
            read = 0
            for block in handle.blocks(blocksize=max(1, int(rate * READ_BLOCK_S)), dtype="float32", always_2d=True):
                if limit is not None:
                    block = block[: limit - read]
                read += block.shape[0]
                clean, n_bad, n_clipped = sanitize(block[:, :want_channels])
                sanitised, clipped = sanitised + n_bad, clipped + n_clipped
                blocks.append(clean if resampler.passthrough else resampler.process(clean))
                if limit is not None and read >= limit:
                    break
    except (sf.SoundFileError, RuntimeError) as exc:
        raise DyadError(f"input '{path}' could not be read: {_one_line(str(exc))}") from None
    if read == 0:
        raise DyadError(f"input '{path}' is empty (0 audio frames)")
    if not resampler.passthrough:
        blocks.append(resampler.flush())
    samples = np.concatenate(blocks, axis=0) if blocks else np.zeros((0, want_channels), np.float32)
    if not resampler.passthrough:  # band-limited output can overshoot full scale a little: clip it and count it too
        samples, _, overshoot = sanitize(samples)
        clipped += overshoot
    if info.channels > want_channels:
        which = "the first two channels" if want_channels == 2 else "its first channel"
        notes.append(f"input '{path}' has {info.channels} channels; using {which}")
    if sanitised:
        notes.append(f"input '{path}' had {sanitised} NaN/inf values; replaced with 0")
    return _Loaded(path, samples, rate, sanitised, clipped)


def _join_columns(columns: list[np.ndarray], paths: list[Path], notes: list[str]) -> np.ndarray:
    if len(columns) == 1:
        return np.ascontiguousarray(columns[0], dtype=np.float32)
    n = max(c.shape[0] for c in columns)
    out = np.zeros((n, SESSION_CHANNELS), np.float32)
    for i, column in enumerate(columns):
        out[: column.shape[0], i] = column[:, 0]
        if column.shape[0] < n:
            notes.append(f"input '{paths[i]}' is {n - column.shape[0]} samples shorter; padded with silence")
    return out


def _one_line(text: str) -> str:
    return " ".join(text.split())


class WavReplaySource:
    """Replays a `WavInput` in blocks of `block_ms`, in real time or offline.

    Chunk i covers absolute samples [i * block, (i + 1) * block) (the last one
    may be shorter); its capture_ns is t0 + start / rate exactly (integer ns)
    and it becomes available at t0 + end / rate, when a microphone would have
    delivered it. `seconds` truncates (or, with `loop`, sets the length of) the
    replay; `loop` without `seconds` repeats forever and never finishes.

    Real time (`realtime=True`): `start()` takes t0 from the clock and starts a
    producer thread that sleeps until each chunk's arrival and puts it in a
    bounded ChunkQueue (full queue: the newest chunk is dropped and counted).
    Offline (`realtime=False`): no thread; `read()` returns the next chunk at
    once and moves the (simulated) clock to its arrival time. `iter_chunks`
    gives the same chunks as a plain generator.
    """

    channels = SESSION_CHANNELS

    def __init__(
        self,
        wav: WavInput,
        *,
        block_ms: float = 10.0,
        seconds: float | None = None,
        loop: bool = False,
        realtime: bool = True,
        clock: Clock | None = None,
        t0_ns: int | None = None,
        max_queue_ms: float = 2000.0,
    ) -> None:
        self.wav = wav
        self.sample_rate = wav.sample_rate
        self.block = max(1, round(wav.sample_rate * block_ms / 1000))
        if seconds is not None and seconds <= 0:
            raise DyadError(f"replay length must be positive seconds, got {seconds}")
        self.loop = loop
        self.total_samples = self._total(seconds)
        self.realtime = realtime
        self.clock: Clock = clock or (MonotonicClock() if realtime else SimulatedClock(t0_ns or 0))
        self.t0_ns = t0_ns
        self._queue = ChunkQueue(max(1, round(max_queue_ms / block_ms)))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._offline: Iterator[tuple[AudioChunk, int]] | None = None
        self._produced_all = False
        self._delivered = 0

    def _total(self, seconds: float | None) -> int | None:
        limit = None if seconds is None else round(seconds * self.sample_rate)
        if self.loop:
            return limit
        return self.wav.frames if limit is None else min(limit, self.wav.frames)

    # --- the one place chunks are made -------------------------------------------------

    def _samples(self, start: int, end: int) -> np.ndarray:
        """Absolute samples [start, end); with `loop`, positions wrap around the file."""
        n = self.wav.frames
        if not self.loop or end <= n and start < n:
            return self.wav.samples[start:end]
        idx = np.arange(start, end) % n
        return self.wav.samples[idx]

    def _schedule(self, t0_ns: int) -> Iterator[tuple[AudioChunk, int]]:
        """(chunk, arrival_ns) pairs; shared by real-time, offline read and iter_chunks."""
        start = 0
        while self.total_samples is None or start < self.total_samples:
            end = start + self.block
            if self.total_samples is not None:
                end = min(end, self.total_samples)
            chunk = AudioChunk(
                start_sample=start,
                samples=self._samples(start, end),
                sample_rate=self.sample_rate,
                capture_ns=t0_ns + samples_to_ns(start, self.sample_rate),
            )
            yield chunk, t0_ns + samples_to_ns(end, self.sample_rate)
            start = end

    def iter_chunks(self, t0_ns: int | None = None) -> Iterator[AudioChunk]:
        """All chunks on a simulated timeline starting at t0_ns (no thread, no sleep)."""
        t0 = t0_ns if t0_ns is not None else (self.t0_ns or 0)
        for chunk, _ in self._schedule(t0):
            yield chunk

    # --- AudioSource -------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None or self._offline is not None:
            return
        t0 = self.t0_ns if self.t0_ns is not None else self.clock.now_ns()
        self.t0_ns = t0
        if not self.realtime:
            self._offline = self._schedule(t0)
            return
        self._thread = threading.Thread(target=self._produce, args=(t0,), name="dyad-wav-replay", daemon=True)
        self._thread.start()

    def _produce(self, t0_ns: int) -> None:
        for chunk, arrival_ns in self._schedule(t0_ns):
            self.clock.sleep_until(arrival_ns, self._stop)
            if self._stop.is_set():
                return
            self._queue.put(chunk)
        self._produced_all = True

    def read(self, timeout_s: float) -> AudioChunk | None:
        if self._offline is not None:
            return self._read_offline()
        if self._thread is None:
            raise RuntimeError("WavReplaySource.read() before start()")
        chunk = self._queue.get(timeout_s)
        if chunk is not None:
            self._delivered += chunk.frames
        return chunk

    def _read_offline(self) -> AudioChunk | None:
        try:
            chunk, arrival_ns = next(self._offline)
        except StopIteration:
            self._produced_all = True
            return None
        self.clock.sleep_until(arrival_ns)
        self._delivered += chunk.frames
        return chunk

    @property
    def finished(self) -> bool:
        if self.total_samples is None:
            return False
        if self._offline is not None:
            return self._delivered + self._queue.dropped_samples >= self.total_samples
        return self._produced_all and self._queue.empty()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)

    def stats(self) -> dict:
        return {
            "dropped_samples": self._queue.dropped_samples,
            "dropped_chunks": self._queue.dropped_chunks,
            "sanitised_samples": self.wav.sanitised_samples,
            "clipped_samples": self.wav.clipped_samples,
            "overflows": 0,
            "resampled_from": self.wav.resampled_from,
            "delivered_samples": self._delivered,
            "total_samples": self.total_samples,
        }
