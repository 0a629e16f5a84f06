"""The sessions of one `dyad serve` process: created, listed and ended by id, each on its own thread.

Every session is a whole `Session` (sources, front end, scheduler, emitter, sinks, recordings,
session.json in its own out folder) built from a `SessionSpec`; only the learned model is shared
(`SharedModel`). A session that ends or raises is recorded as ended/failed and leaves the others
running: its exception stays on its own thread. Admission refuses a session beyond the measured
capacity (`Capacity`) before anything of it opens.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from dyad.runtime.errors import DyadError
from dyad.runtime.io.out_folder import choose_out_dir
from dyad.runtime.serve.capacity import Capacity
from dyad.runtime.serve.session_spec import SessionSpec
from dyad.runtime.serve.shared_model import SharedModel

log = logging.getLogger("dyad.serve")

ENDED_KEPT = 256  # finished sessions still listed (their summary); older ones are forgotten


class AdmissionRefused(DyadError):
    """The server is at its measured capacity: one more session would make every session miss."""


@dataclass
class HostedSession:
    id: str
    spec: SessionSpec
    session: object  # dyad.runtime.session.Session
    inputs: dict
    out_dir: Path | None
    created_s: float = field(default_factory=time.time)
    state: str = "starting"  # starting -> running -> ended | failed
    error: str | None = None
    summary: dict | None = None
    thread: threading.Thread | None = None

    def describe(self) -> dict:
        report = self.session.report()
        return {
            "id": self.id,
            "name": self.spec.name,
            "state": self.state,
            "error": self.error,
            "inputs": self.inputs,
            "out_dir": None if self.out_dir is None else str(self.out_dir),
            "sinks": list(self.spec.config.sinks),
            "control": list(self.spec.config.control_urls),
            "bound": {w.sink.name: w.sink.bound_endpoint for w in self.session.sinks.workers if w.sink.bound_endpoint},
            "animator": self.session.animator.name,
            "frames": report.frames,
            "deadline_misses": report.deadline_misses,
            "health": report.status_line(),
        }


class SessionHost:
    def __init__(self, model: SharedModel | None, capacity: Capacity, out_root: Path | None = None,
                 playout_ms: float = 40.0, idle_s: float = 10.0) -> None:  # fmt: skip
        self.model = model
        self.capacity = capacity
        self.out_root = out_root
        self.playout_ms, self.idle_s = playout_ms, idle_s
        self._lock = threading.Lock()
        self._sessions: dict[str, HostedSession] = {}
        self._ids = itertools.count(1)
        self.refused = 0

    # -- the API's verbs ------------------------------------------------------
    def create(self, spec: SessionSpec) -> HostedSession:
        with self._lock:
            live = self._live_count()
            if live >= self.capacity.sessions:
                self.refused += 1
                raise AdmissionRefused(f"the server is at its capacity of {self.capacity.sessions} sessions ({self.capacity.source}); "
                                       "one more would make every session miss its deadlines")  # fmt: skip
            session_id = f"s{next(self._ids)}"
            self._sessions[session_id] = HostedSession(session_id, spec, None, {}, None)  # holds the slot while it opens
        try:
            hosted = self._build(session_id, spec)
        except BaseException:
            with self._lock:
                self._sessions.pop(session_id, None)
            raise
        with self._lock:
            self._sessions[session_id] = hosted
        hosted.thread = threading.Thread(target=self._run, args=(hosted,), name=f"session-{session_id}", daemon=True)
        hosted.state = "running"
        hosted.thread.start()
        return hosted

    def get(self, session_id: str) -> HostedSession:
        with self._lock:
            hosted = self._sessions.get(session_id)
        if hosted is None or hosted.session is None:
            raise KeyError(session_id)
        return hosted

    def sessions(self) -> list[HostedSession]:
        with self._lock:
            return [h for h in self._sessions.values() if h.session is not None]

    def end(self, session_id: str, wait_s: float = 10.0) -> HostedSession:
        """Stop one session; its files are closed and session.json written before this returns (or `wait_s` passes)."""
        hosted = self.get(session_id)
        hosted.session.stop()
        if hosted.thread is not None:
            hosted.thread.join(wait_s)
        return hosted

    def wait(self, session_id: str, timeout_s: float | None = None) -> HostedSession:
        hosted = self.get(session_id)
        if hosted.thread is not None:
            hosted.thread.join(timeout_s)
        return hosted

    def close(self) -> None:
        for hosted in self.sessions():
            hosted.session.stop()
        for hosted in self.sessions():
            if hosted.thread is not None:
                hosted.thread.join(10.0)
        if self.model is not None:
            self.model.close()

    # -- inside -----------------------------------------------------------------
    def _live_count(self) -> int:
        return sum(1 for h in self._sessions.values() if h.state in ("starting", "running"))

    def _forget_old(self) -> None:
        ended = [k for k, h in self._sessions.items() if h.state in ("ended", "failed")]
        for key in ended[: max(0, len(ended) - ENDED_KEPT)]:
            del self._sessions[key]

    def _build(self, session_id: str, spec: SessionSpec) -> HostedSession:
        from dyad.runtime.session import Session

        config = spec.config
        out_dir = None
        if self.out_root is not None:
            out_dir, _ = choose_out_dir(self.out_root / session_id)
            config = replace(config, out_dir=out_dir)
        source, inputs, extra = self._open_input(spec, config)
        try:
            animator = None
            if self.model is not None and not spec.procedural:
                animator = self.model.animator_for(config, spec.steps, spec.adapt)
            session = Session(config, source, animator=animator, extra_sinks=extra, inputs=inputs)
        except BaseException:
            source.close()
            for sink in extra:
                sink.close()
            raise
        return HostedSession(session_id, replace(spec, config=config), session, inputs, out_dir)

    def _open_input(self, spec: SessionSpec, config):
        if spec.network_voices:
            from dyad.models.skeleton import load_default_skeleton
            from dyad.runtime.audio.net_source import NetworkAudioSource
            from dyad.runtime.io.voice_server import VoiceServer

            source = NetworkAudioSource(sample_rate=config.audio.sample_rate, block_ms=config.timing.block_ms, playout_ms=self.playout_ms)
            try:  # its own port: the peer's voices and frames back belong to this session alone
                server = VoiceServer("127.0.0.1", 0, source, load_default_skeleton(), config.audio.sample_rate, config.network, idle_s=self.idle_s)
            except OSError as error:
                source.close()
                raise DyadError(str(error).splitlines()[0]) from None
            inputs = {"network": server.url, "whip": f"{server.url}/whip", "websocket": f"ws://127.0.0.1:{server.port}/audio"}
            return source, inputs, [server]
        from dyad.runtime.audio.wav_source import WavReplaySource, open_wav_inputs

        wav = open_wav_inputs(list(spec.wav), config.audio.sample_rate, max_seconds=config.seconds)
        source = WavReplaySource(wav, block_ms=config.timing.block_ms, seconds=config.seconds, realtime=not config.offline)
        return source, {"wav": [str(p) for p in spec.wav], "source_rates": list(wav.source_rates), "notes": list(wav.notes)}, []

    def _run(self, hosted: HostedSession) -> None:
        batcher = self.model.batcher if self.model is not None and not hosted.spec.procedural else None
        if batcher is not None:
            batcher.register()
        try:
            if not hosted.spec.config.offline and not hosted.spec.network_voices:
                _align_to_hop(hosted.spec.config)
            result = hosted.session.run()
            hosted.summary = result.summary
            hosted.state = "ended"
            log.info("session %s ended: %s", hosted.id, result.report.closing_line(hosted.out_dir))
        except BaseException as error:  # this session's failure, never the server's
            hosted.state = "failed"
            hosted.error = f"{type(error).__name__}: {str(error)[:300]}"
            log.error("session %s failed: %s", hosted.id, hosted.error)
        finally:
            if batcher is not None:
                batcher.unregister()
            with self._lock:
                self._forget_old()


def _align_to_hop(config) -> None:
    """Start a replayed session on a hop boundary of the server's monotonic clock: sessions created at
    different moments then have their hops due together, and share the batched calls. (A network
    session's phase is its sender's.)"""
    hop_ns = config.timing.hop_frames * 1_000_000_000 // config.timing.fps
    time.sleep((hop_ns - time.monotonic_ns() % hop_ns) / 1e9)
