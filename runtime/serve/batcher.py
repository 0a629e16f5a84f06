"""One model call per denoising step for every session whose hop is due.

Each session's animator (`BatchedLearnedAnimator`) builds its window's model inputs and
decodes its poses itself, on its own thread; only the sampling goes through the shared
`DenoiseBatcher`. The batcher's thread takes the first request, then waits until every
registered session has one pending or `gather_ms` has passed, and runs the gathered
windows through `DyadGenerator.generate_batch`: per denoiser per step one call, body batch
N, face batch 2N. Windows of another length or step count (a cold start, a session whose
steps adapted) go in their own call.

Noise is drawn per session from its own seed, so a session's result does not depend on who
shares its batch. With the ONNX Runtime denoisers the frames are bit-identical to the
session run alone (tested); torch's batched kernels differ in float summation order
(measured: at most ~1e-7 on the tiny test model).

A failed batch is retried one window at a time, so a window that breaks the call costs
only its own session a hop.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import torch

from dyad.models.generator import DyadGenerator, DyadInputs, DyadOutputs

log = logging.getLogger("dyad.serve")


@dataclass
class _Request:
    inputs: DyadInputs
    steps: int
    seed: int
    done: threading.Event = field(default_factory=threading.Event)
    result: DyadOutputs | None = None
    error: BaseException | None = None

    @property
    def key(self) -> tuple[int, int]:
        return self.inputs.mel.shape[1], self.steps


@dataclass(frozen=True)
class BatchRecord:
    """One generate_batch call: what metrics and the benchmark read."""

    dyads: int
    steps: int
    compute_ms: float


class DenoiseBatcher:
    def __init__(self, generator: DyadGenerator, cpu_threads: int = 1, gather_ms: float = 2.0) -> None:
        self.generator = generator
        self.gather_s = gather_ms / 1000.0
        self._cpu_threads = cpu_threads
        self._cond = threading.Condition()
        self._pending: list[_Request] = []
        self._lanes = 0
        self._closed = False
        self.records: list[BatchRecord] = []  # bounded: the last RECORDS_KEPT calls
        self.totals = {"calls": 0, "windows": 0, "compute_ms": 0.0}
        self._listeners: list = []  # callables(BatchRecord): the metrics' histograms
        self._thread = threading.Thread(target=self._run, name="dyad-batcher", daemon=True)
        self._thread.start()

    RECORDS_KEPT = 4096

    # -- sessions -----------------------------------------------------------
    def register(self) -> None:
        """A session whose hops the batcher should wait for (within `gather_ms`)."""
        with self._cond:
            self._lanes += 1

    def unregister(self) -> None:
        with self._cond:
            self._lanes = max(0, self._lanes - 1)
            self._cond.notify_all()

    def add_listener(self, listener) -> None:
        self._listeners.append(listener)

    def generate(self, inputs: DyadInputs, steps: int, seed: int) -> DyadOutputs:
        """From a session's thread: its window sampled in the next batch; blocks until done."""
        request = _Request(inputs, steps, seed)
        with self._cond:
            if self._closed:
                raise RuntimeError("the server's animator is shut down")
            self._pending.append(request)
            self._cond.notify_all()
        request.done.wait()
        if request.error is not None:
            raise request.error
        assert request.result is not None
        return request.result

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(5.0)

    # -- the batching thread --------------------------------------------------
    def _gather(self) -> list[_Request] | None:
        with self._cond:
            while not self._pending and not self._closed:
                self._cond.wait()
            if self._closed and not self._pending:
                return None
            deadline = time.monotonic() + self.gather_s
            while len(self._pending) < self._lanes and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            batch, self._pending = self._pending, []
            return batch

    def _run(self) -> None:
        torch.set_num_threads(self._cpu_threads)  # per thread: the front ends keep their own
        while (batch := self._gather()) is not None:
            groups: dict[tuple[int, int], list[_Request]] = {}
            for request in batch:
                groups.setdefault(request.key, []).append(request)
            for group in groups.values():
                self._serve(group)
        with self._cond:  # shut down: nobody waits forever
            for request in self._pending:
                request.error = RuntimeError("the server's animator is shut down")
                request.done.set()

    def _serve(self, group: list[_Request]) -> None:
        began = time.perf_counter()
        try:
            outputs = self.generator.generate_batch([r.inputs for r in group], group[0].steps, [r.seed for r in group])
        except Exception as error:
            if len(group) == 1:
                group[0].error = error
                group[0].done.set()
                return
            log.warning("a batch of %d windows failed (%s): each runs alone", len(group), type(error).__name__)
            for request in group:
                self._serve([request])
            return
        self._record(BatchRecord(len(group), group[0].steps, (time.perf_counter() - began) * 1000.0))
        for request, output in zip(group, outputs):
            request.result = output
            request.done.set()

    def _record(self, record: BatchRecord) -> None:
        self.records.append(record)
        if len(self.records) > self.RECORDS_KEPT:
            del self.records[: len(self.records) - self.RECORDS_KEPT]
        self.totals["calls"] += 1
        self.totals["windows"] += record.dyads
        self.totals["compute_ms"] += record.compute_ms
        for listener in self._listeners:
            listener(record)
