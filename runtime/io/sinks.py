"""Sink fan-out: every sink gets its own worker thread and a bounded queue.

The emitter only enqueues, so a slow or absent receiver never delays the
emitter or the other sinks. Drop rule (live sessions): when a sink's queue is
full the NEWEST frame is dropped for that sink and counted; the queue keeps
order. Offline sessions block instead, so every sink sees every frame and
runs stay bit-identical. A sink that raises is counted and keeps receiving.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from pathlib import Path
from dyad.models.skeleton import Skeleton
from dyad.runtime.errors import DyadError
from dyad.runtime.frames import FrameBundle, Sink

log = logging.getLogger("dyad.sinks")

NETWORK_DRAIN_S = 1.0  # how long a live network sink may take to send its backlog when the session ends


class SinkWorker:
    _STOP = object()

    def __init__(self, sink: Sink, capacity: int, block_when_full: bool) -> None:
        self.sink = sink
        self._queue: queue.Queue = queue.Queue(maxsize=capacity)
        self._block = block_when_full
        self.sent = 0
        self.dropped = 0
        self.errors = 0
        self.last_error: str | None = None
        self.key = sink.name  # its name in stats(); SinkSet makes it unique
        self._thread = threading.Thread(target=self._run, name=f"sink-{sink.name}", daemon=True)
        self._thread.start()

    def offer(self, bundle: FrameBundle) -> None:
        if self._block:
            self._queue.put(bundle)
            return
        try:
            self._queue.put_nowait(bundle)
        except queue.Full:
            self.dropped += 1

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is self._STOP:
                return
            try:
                self.sink.send(item)
                self.sent += 1
            except Exception as error:  # a sink failure is an event, never a crash
                self.errors += 1
                if self.last_error != str(error):
                    log.warning("sink %s: %s", self.sink.name, error)
                self.last_error = str(error)

    def close(self, timeout_s: float = 10.0) -> None:
        """Drain what is queued (up to `timeout_s`), then close the sink. A live network sink gets
        NETWORK_DRAIN_S to drain, then its backlog is dropped (counted): a slow receiver must not hold
        the session's end. Recorders, and every sink of an offline run, drain fully."""
        if not self._block and not self.sink.is_recorder:
            deadline = time.monotonic() + NETWORK_DRAIN_S
            while not self._queue.empty() and time.monotonic() < deadline:
                time.sleep(0.01)
            self._discard_backlog()
        self._queue.put(self._STOP)
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            log.warning("sink %s did not drain within %.0f s", self.sink.name, timeout_s)
        try:
            self.sink.close()
        except Exception as error:
            self.errors += 1
            self.last_error = str(error)

    def _discard_backlog(self) -> None:
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return
            self.dropped += 1

    def stats(self) -> dict:
        stats = {"sent": self.sent, "dropped": self.dropped, "errors": self.errors, "last_error": self.last_error}
        return {**stats, **self.sink.stats()}  # and the sink's own counters (datagrams, clients, ...)


class SinkSet:
    def __init__(self, sinks: list[Sink], fps: int, block_when_full: bool, queue_seconds: float = 2.0) -> None:
        self._keys: set[str] = set()
        self.workers = [self._worker(sink, fps, queue_seconds, block_when_full) for sink in sinks]
        self._block = block_when_full
        self._fps = fps
        self._queue_seconds = queue_seconds
        self._retired: list[SinkWorker] = []
        self._lock = threading.Lock()

    def _worker(self, sink: Sink, fps: int, queue_seconds: float, block: bool) -> SinkWorker:
        worker = SinkWorker(sink, self._capacity(sink, fps, queue_seconds), block)
        # Two sinks of one kind (two osc:// receivers) keep separate counters: osc, osc#2, ...
        key, number = sink.name, 1
        while key in self._keys:
            number += 1
            key = f"{sink.name}#{number}"
        self._keys.add(key)
        worker.key = key
        return worker

    @staticmethod
    def _capacity(sink: Sink, fps: int, queue_seconds: float) -> int:
        # Recorders get a deep queue (a disk stall must not lose frames); network sinks a short one
        # (a late pose is worth less than the next one).
        seconds = 30.0 if sink.is_recorder else queue_seconds
        return max(1, int(seconds * fps))

    def send(self, bundle: FrameBundle) -> None:
        for worker in self.workers:  # one read of the list: add/remove replace it whole
            worker.offer(bundle)

    def add(self, sink: Sink) -> None:
        """Start feeding `sink` from the next frame on (recordings started by a control message)."""
        self.add_all([sink])

    def add_all(self, sinks: list[Sink]) -> None:
        """Start feeding several sinks from the same next frame (one take's recorders stay in step)."""
        with self._lock:
            workers = [self._worker(sink, self._fps, self._queue_seconds, self._block) for sink in sinks]
            self.workers = self.workers + workers

    def remove(self, sink: Sink) -> None:
        """Stop feeding `sink`, drain what it was given, close it; its counters stay in `stats()`."""
        self.remove_all([sink])

    def remove_all(self, sinks: list[Sink]) -> None:
        """Stop feeding several sinks at the same frame, then drain and close each (one take ends whole)."""
        with self._lock:
            found = [w for w in self.workers if any(w.sink is sink for sink in sinks)]
            self.workers = [w for w in self.workers if w not in found]
            self._retired += found
        for worker in found:
            worker.close()

    def close(self) -> None:
        for worker in self.workers:
            worker.close()

    def stats(self) -> dict:
        return {worker.key: worker.stats() for worker in self._retired + self.workers}


def sink_from_url(url: str, skeleton: Skeleton, fps: int = 30, policy=None) -> Sink:
    """Build a network sink from a `--sink` URL (schemes and options: `dyad.runtime.io.endpoints`);
    `policy` (a NetworkPolicy) says whether server sinks may bind beyond loopback."""
    from dyad.runtime.io.endpoints import sink_from_endpoint

    try:
        return sink_from_endpoint(url, skeleton, fps, policy)
    except OSError as error:
        raise DyadError(f"sink '{url}': {error}") from error


def recorders_for(out_dir: Path, skeleton: Skeleton, fps: int) -> list[Sink]:
    """The file recorders written into `--out`: p0.bvh, p1.bvh, p0_face.csv, p1_face.csv, frames.csv."""
    from dyad.adapters.bvh_recorder import BvhRecorder
    from dyad.adapters.livelink_csv import LiveLinkCsvRecorder
    from dyad.adapters.timing_csv import TimingRecorder

    recorders: list[Sink] = []
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        recorders.append(BvhRecorder(out_dir, skeleton, fps))
        recorders.append(LiveLinkCsvRecorder(out_dir, fps))
        recorders.append(TimingRecorder(out_dir, fps))
    except OSError as error:
        for recorder in recorders:
            recorder.close()
        raise DyadError(f"output folder '{out_dir}': {error.strerror or error}") from error
    return recorders
