"""One dyad session: source -> front end -> scheduler -> emitter -> sinks, on one clock.

Offline and real-time runs share every component; only the driver differs.
Offline is a discrete-event simulation on a simulated clock: each chunk is
processed at its arrival time (capture time of its last sample), and before
that every frame whose send time has come is emitted with what was ready.
Compute takes no simulated time, so identical input and seed give
bit-identical frames. Real time runs the same steps on two threads: the
processing thread (audio -> frames) and the emitter thread (frames -> sinks,
paced by the monotonic clock), so a slow hop can never delay a send.
"""

from __future__ import annotations

import logging
import platform
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np

from dyad.models.skeleton import Skeleton, load_default_skeleton
from dyad.runtime.animate.animator import Animator
from dyad.runtime.audio.source import AudioSource
from dyad.runtime.clock import Clock, MonotonicClock, SimulatedClock
from dyad.runtime.config import SessionConfig
from dyad.runtime.io.control_hub import ControlHub
from dyad.runtime.emitter import Emitter
from dyad.runtime.animate.fallback import Fallback
from dyad.runtime.frontend.features import FeatureTimeline
from dyad.runtime.frame_store import FrameStore
from dyad.runtime.frames import AudioChunk, FrameBundle, TranscriptLine
from dyad.runtime.frontend.front_end import AudioFrontEnd
from dyad.runtime.logs import HealthReporter
from dyad.runtime.animate.procedural import ProceduralAnimator
from dyad.runtime.io.recording import Recording
from dyad.runtime.io.out_folder import write_session_json
from dyad.runtime.priority import session_priority
from dyad.runtime.scheduler import Scheduler
from dyad.runtime.session_controls import SessionControls
from dyad.runtime.session_report import SessionReport
from dyad.runtime.speech.speech_features import SpeechFeatures
from dyad.runtime.io.sinks import Sink, SinkSet, sink_from_url
from dyad.runtime.stats import SessionStats

log = logging.getLogger("dyad.session")

FEATURE_RING_SECONDS = 30


@dataclass
class SessionResult:
    frames: int
    summary: dict  # what session.json holds
    report: SessionReport  # the final snapshot (the CLI prints its closing line)
    bundles: list[FrameBundle] = field(default_factory=list)  # kept only when asked (tests, benchmarks)


class Session:
    def __init__(
        self,
        config: SessionConfig,
        source: AudioSource,
        animator: Animator | None = None,
        extra_sinks: list[Sink] | None = None,
        skeleton: Skeleton | None = None,
        keep_frames: bool = False,
        status: Callable[[str], None] | None = None,
        inputs: dict | None = None,
        keep_timings: bool = False,
    ) -> None:
        self.config = config.validate()
        timing = config.timing
        self.source = source
        self.inputs = inputs or {}
        self.skeleton = skeleton or load_default_skeleton()
        self.stats = SessionStats(keep_values=keep_timings)  # every timing value only for benchmarks: memory grows
        self.procedural = ProceduralAnimator(self.skeleton, fps=timing.fps, seed=config.seed)
        self.animator = animator or self.procedural
        self.animator.attach_stats(self.stats)  # a learned animator times its parts (lower, upper, face) here
        ring = max(FEATURE_RING_SECONDS * timing.fps, 4 * (timing.context_frames + timing.hop_frames + timing.lookahead_frames))
        # Learned speech features (off unless configured): encoders load and warm up here, before going live.
        self.speech = SpeechFeatures(config, self.stats, threaded_asr=not config.offline) if config.speech.enabled else None
        dims = {} if self.speech is None else {"wav2vec_dim": self.speech.wav2vec_dim, "words_dim": self.speech.words_dim}
        if dims:  # a learned animator refuses other feature sizes now, not mid-session
            try:
                self.animator.check_features(**dims)
            except BaseException:
                self.speech.close()
                raise
        self.timeline = FeatureTimeline(config.mel.n_mels, ring, **dims)
        self.frontend = AudioFrontEnd(config, self.timeline, self.stats, speech=self.speech)
        self.store = FrameStore(history_frames=timing.context_frames + 4 * timing.hop_frames + timing.fps)
        self.scheduler = Scheduler(timing, self.animator, self.timeline, self.store, self.stats, fallback_animator=self.procedural,
                                   controls=config.controls)  # fmt: skip
        self.clock: Clock = SimulatedClock() if config.offline else MonotonicClock()
        self.recording = Recording(config.out_dir, self.skeleton, timing.fps, at_start=config.record_at_start)
        sinks = self._build_sinks(extra_sinks or [])  # network sinks first: a bad URL fails before any file exists
        self.sinks = SinkSet(sinks, timing.fps, block_when_full=config.offline)
        self.recording.attach(self.sinks)
        self._kept: list[FrameBundle] | None = [] if keep_frames else None
        self.emitter = Emitter(timing.fps, timing.budget_ns, self.store, Fallback(self._neutral_frame), self._send, self.clock, self.stats)
        self._status = status
        self.health = HealthReporter(self.report, config.health_interval_s)  # periodic summary to the log
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self.priority: dict = {"applied": False, "why": "offline: simulated clock"}
        try:
            self.controls = SessionControls(self.scheduler, self.emitter, self.recording, self.clock, self.stop, config.minimum_budget_ms(),
                                            self.animator)  # fmt: skip
            # listeners start now: a port clash fails here
            self.control = ControlHub(self.controls.bindings(), config.control_urls, config.wait_start, config.network)
            try:
                self.sinks.add_all(self.recording.first_take())  # files last: everything else has been validated
            except BaseException:
                self.control.close()
                raise
        except BaseException:
            self.sinks.close()
            if self.speech is not None:
                self.speech.close()
            raise
        if self.speech is not None:  # host transcripts from OSC / ZeroMQ become word features
            self.speech.add_feed(self.control.transcripts.drain)

    # -- wiring ---------------------------------------------------------------
    def _build_sinks(self, extra: list[Sink]) -> list[Sink]:
        sinks: list[Sink] = []
        try:
            sinks += [sink_from_url(url, self.skeleton, self.config.timing.fps, self.config.network) for url in self.config.sinks]
        except BaseException:
            for sink in sinks:
                sink.close()
            raise
        return sinks + extra

    def _send(self, bundle: FrameBundle) -> None:
        self.sinks.send(bundle)
        if self._kept is not None:
            self._kept.append(bundle)

    def _neutral_frame(self, index: int):
        """A silent procedural frame: the fallback's target when no hint exists for `index`."""
        return self.procedural.neutral(index)

    def submit_transcript(self, line: TranscriptLine) -> bool:
        """A host app's transcript line, from any thread: False if rejected (counted) or word features are off."""
        if self.speech is None:
            self.stats.count("transcripts_ignored_no_word_features")
            return False
        return self.speech.submit(line)

    def stop(self) -> None:
        """Ask a running session to end (SIGINT, a control message): recordings are closed cleanly."""
        self._stop.set()

    # -- shared steps ---------------------------------------------------------
    def _ingest(self, chunk: AudioChunk) -> None:
        self.frontend.process(chunk)
        if self.frontend.first_capture_ns is not None:
            self.emitter.start(self.frontend.first_capture_ns)
        self.scheduler.poll()

    def _finish_input(self) -> int:
        end = self.frontend.finish()
        self.emitter.set_end(end)
        self.scheduler.poll(end_frame=end)
        return end

    def _sample_limit(self) -> int | None:
        seconds = self.config.seconds
        return None if seconds is None else int(round(seconds * self.config.audio.sample_rate))

    def _limited(self, chunk: AudioChunk) -> AudioChunk | None:
        """Trim a chunk to the `--seconds` limit; None once the limit is reached."""
        limit = self._sample_limit()
        if limit is None or chunk.end_sample <= limit:
            return chunk
        keep = limit - chunk.start_sample
        if keep <= 0:
            return None
        return AudioChunk(chunk.start_sample, chunk.samples[:keep], chunk.sample_rate, chunk.capture_ns)

    # -- drivers --------------------------------------------------------------
    def run(self) -> SessionResult:
        wall_start = time.monotonic()
        try:
            self.control.wait_for_start(self._stop)
            frames = self._run_offline() if self.config.offline else self._run_realtime()
        finally:
            self.control.close()
            if self.speech is not None:
                self.speech.close()
            self.sinks.close()
            self.source.close()
        report = self.report()
        summary = self._summary(report, time.monotonic() - wall_start)
        if self.config.out_dir is not None:
            write_session_json(self.config.out_dir, summary)
        return SessionResult(frames=frames, summary=summary, report=report, bundles=self._kept or [])

    def _offline_chunks(self) -> Iterator[AudioChunk]:
        for chunk in self.source.iter_chunks():
            limited = self._limited(chunk)
            if limited is None or self._stop.is_set():
                return
            yield limited

    def _run_offline(self) -> int:
        clock = self.clock
        assert isinstance(clock, SimulatedClock)
        for chunk in self._offline_chunks():
            arrival = chunk.capture_ns + chunk.frames * 1_000_000_000 // chunk.sample_rate
            self.emitter.emit_until(arrival, advance=clock.advance_to)
            clock.advance_to(arrival)
            self._ingest(chunk)
            self.health.maybe_report(arrival)
        self._finish_input()
        self.emitter.emit_until(2**62, advance=clock.advance_to)
        return self.emitter.next_index

    def _run_realtime(self) -> int:
        with session_priority(self.config.timing.nice) as self.priority:  # threads started inside inherit it
            return self._run_threads()

    def _run_threads(self) -> int:
        emitter_thread = threading.Thread(target=self.emitter.run, args=(self._stop,), name="emitter", daemon=True)
        processing = threading.Thread(target=self._process_loop, name="processing", daemon=True)
        # When the input's length is known up front (--seconds, a WAV), the emitter knows its last frame now:
        # a hop stalled at the very end must not let it send fallback frames past the input.
        known = [n for n in (self._sample_limit(), getattr(self.source, "total_samples", None)) if n is not None]
        if known:
            self.emitter.set_end(min(known) * self.config.timing.fps // self.config.audio.sample_rate)
        self.source.start()
        emitter_thread.start()
        processing.start()
        try:
            self._wait(emitter_thread)
        finally:
            self._stop.set()
            processing.join(5.0)
            emitter_thread.join(5.0)
        if self._error is not None:
            raise self._error
        return self.emitter.next_index

    def _wait(self, emitter_thread: threading.Thread) -> None:
        next_status = time.monotonic() + self.config.status_interval_s
        while emitter_thread.is_alive():
            emitter_thread.join(0.1)
            self.health.maybe_report(time.monotonic_ns())
            if self._status and self.config.status_interval_s > 0 and time.monotonic() >= next_status:
                self._status(self.status_line())
                next_status += self.config.status_interval_s

    def _process_loop(self) -> None:
        limit = self._sample_limit()
        try:
            while not self._stop.is_set():
                chunk = self.source.read(timeout_s=0.05)
                if chunk is None:
                    if self.source.finished:
                        break
                    continue
                limited = self._limited(chunk)
                if limited is not None:
                    self._ingest(limited)
                if limit is not None and self.frontend.next_sample >= limit:
                    break
            if not self.emitter.started.is_set():
                self._stop.set()  # no audio at all: nothing to pace
                return
            self._finish_input()
        except BaseException as error:  # surfaced by run(); the emitter stops with it
            self._error = error
            self._stop.set()

    # -- reporting ------------------------------------------------------------
    def report(self) -> SessionReport:
        """A snapshot of where the session stands, from any thread."""
        return SessionReport(
            fps=self.config.timing.fps,
            sample_rate=self.config.audio.sample_rate,
            frames=self.emitter.next_index,
            latency=self.stats.latency.histogram.copy(),
            counters=dict(self.stats.counters),
            late_frames=self.store.late_frames,
            sinks=self.sinks.stats(),
            speaking=tuple(self._speaking_now()),
        )

    def status_line(self) -> str:
        return self.report().status_line()

    def _speaking_now(self) -> list[float]:
        ready = self.timeline.ready_until
        if ready == 0:
            return [0.0, 0.0]
        features = self.timeline.window(ready - 1, 1)
        return [float(f.vad[0]) for f in features]

    def _summary(self, report: SessionReport, wall_s: float) -> dict:
        stats = self.stats.summary()
        rate = self.config.audio.sample_rate
        return {
            "dyad_session": 1,
            "config": self.config.to_dict(),
            "inputs": self.inputs,
            "animator": self.animator.name,
            "animator_report": self.animator.report(),  # learned: steps decisions
            "skeleton_joints": len(self.skeleton.joint_names),
            "fps": self.config.timing.fps,
            "frames": {"p0": report.frames, "p1": report.frames},
            "audio_seconds": self.frontend.next_sample / rate,
            "wall_seconds": round(wall_s, 3),
            "budget_ms": self.config.timing.budget_ms,  # D: a host that plays the voice delays it by this much
            "priority": self.priority,
            "minimum_budget_ms": round(self.config.minimum_budget_ms(), 3),
            "deadline_misses": report.deadline_misses,
            "dropped_audio": {"samples": report.dropped_audio_samples, "seconds": report.dropped_audio_s},
            "latency_ms": report.latency_summary(),
            "stage_ms": stats["stage_ms"],
            "counters": stats["counters"],
            "late_frames": report.late_frames,
            "source": self.source.stats(),
            "sinks": report.sinks,
            "control": {
                **self.control.summary(),
                "recording": self.recording.summary(),
                "budget_ms_at_end": self.emitter.budget_ns / 1e6,  # differs from config after a budget message
            },
            "speech_features": None if self.speech is None else self.speech.summary(),
            "machine": {
                "platform": platform.platform(),
                "processor": platform.machine(),
                "cpus": _cpu_count(),
                **_package_versions("numpy", "onnxruntime", "torch"),  # read from metadata: the live path never imports torch
            },
        }


def _package_versions(*names: str) -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str | None] = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
