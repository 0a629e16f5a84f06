"""Live words from PocketSphinx (`--asr sphinx`): the recogniser that works offline out of the box.

pocketsphinx's wheel ships an English acoustic model, dictionary and language model,
so this needs no checkpoint (`--asr sphinx:DIR` takes a folder laid out as its own
model folder, e.g. for another language). Each person's separated audio is decoded
as it arrives (`sphinx_stream.py`: VAD-gated utterances, a partial hypothesis every
hop, local agreement), word times on the session's absolute sample clock.

Live sessions decode in a separate process (`sphinx_worker.py`), because the decoder
holds the interpreter lock while it works: the processing thread only converts each
block to int16 and appends it to a queue. One I/O thread sends everything queued as
one batch while the process is idle and reads back its words.

Drop rule: at most `max_backlog_s` of audio waits for the process. When a new block
would exceed that, the OLDEST waiting blocks are dropped (`asr_audio_dropped_samples`,
`asr_audio_dropped_blocks`): their words could only arrive later than anything newer.
The decoder sees the gap in the sample clock and ends its utterance there. Offline
sessions decode inline, so replays stay deterministic. A recogniser that cannot start
(no pocketsphinx, a model folder that lacks a file) is one DyadError line.
"""

from __future__ import annotations

import logging
import pickle
import select
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque

import numpy as np

from dyad.runtime.errors import DyadError
from dyad.runtime.stats import SessionStats
from dyad.runtime.speech.sphinx_stream import SpeechBlock, SphinxSettings, SphinxStream
from dyad.runtime.speech.words import ExternalTranscriptASR, TimedLine, TimedWord

log = logging.getLogger("dyad.asr")

START_TIMEOUT_S = 30.0  # loading two decoders takes about half a second; a busy machine gets plenty of slack
CPU_PER_HOP = "asr.sphinx_cpu_per_hop"  # decoder CPU time per hop of audio (both people), ms in session.json


def to_int16(audio: np.ndarray) -> np.ndarray:
    return (np.clip(np.nan_to_num(audio), -1.0, 1.0) * 32767.0).astype(np.int16)


class SphinxASR(ExternalTranscriptASR):
    name = "sphinx"

    def __init__(self, settings: SphinxSettings, stats: SessionStats, threaded: bool, people: int = 2) -> None:
        super().__init__(stats, people)
        self.settings = settings
        self._hop_samples = settings.partial_every_s * settings.sample_rate
        self._capacity = int(settings.max_backlog_s * settings.sample_rate)
        self._queued: deque[SpeechBlock] = deque()
        self._queued_samples = 0
        self._wake = threading.Condition()
        self._closing = False
        self._streams: list[SphinxStream] = []
        self._process: subprocess.Popen | None = None
        self._io: threading.Thread | None = None
        if threaded:
            self._process = _start_worker(settings, people)
            self._io = threading.Thread(target=self._run, name="sphinx-io", daemon=True)
            self._io.start()
        else:
            try:
                self._streams = [SphinxStream(p, settings) for p in range(people)]
            except Exception as error:
                raise DyadError(f"speech recogniser sphinx cannot start: {' '.join(str(error).split())}") from None

    # -- processing thread ---------------------------------------------------------------
    def advance(self, separated: np.ndarray, vad_starts: np.ndarray, vad_probs: np.ndarray, audio_end_sample: int) -> None:
        chunk = SpeechBlock(audio_end_sample - len(separated), to_int16(separated), np.array(vad_starts, np.int64), np.array(vad_probs, np.float32))
        if self._process is None:
            self._decode_inline(chunk)
            return
        with self._wake:
            self._queued.append(chunk)
            self._queued_samples += len(chunk.audio)
            while self._queued_samples > self._capacity:
                oldest = self._queued.popleft()
                self._queued_samples -= len(oldest.audio)
                self.stats.count("asr_audio_dropped_samples", len(oldest.audio))
                self.stats.count("asr_audio_dropped_blocks")
            self._wake.notify()

    def _decode_inline(self, chunk: SpeechBlock) -> None:
        cpu = time.thread_time_ns()
        found = [(s.person, s.feed(chunk.start_sample, chunk.audio[:, s.person], chunk.vad_starts, chunk.vad_probs[:, s.person])) for s in self._streams]
        self._record(time.thread_time_ns() - cpu, len(chunk.audio), [(p, [(w.text, w.start_s, w.end_s) for w in words]) for p, words in found if words])

    # -- I/O thread ---------------------------------------------------------------------
    def _run(self) -> None:
        stdin, stdout = self._process.stdin, self._process.stdout
        while True:
            with self._wake:
                while not self._queued and not self._closing:
                    self._wake.wait()
                if self._closing:
                    return
                batch = list(self._queued)
                self._queued.clear()
                self._queued_samples = 0
            try:
                pickle.dump(batch, stdin)
                stdin.flush()
                kind, cpu_ns, samples, words = pickle.load(stdout)
            except (OSError, EOFError, pickle.UnpicklingError, ValueError) as error:
                if not self._closing:
                    self.stats.count("asr_errors")
                    log.warning("the sphinx recogniser process stopped (%s): no more recognised words this session", error or type(error).__name__)
                return
            self._record(cpu_ns, samples, words)

    def _record(self, cpu_ns: int, samples: int, words: list) -> None:
        if samples:
            self.stats.series(CPU_PER_HOP).add(cpu_ns * self._hop_samples / samples)
            self.stats.count("asr_samples_decoded", samples)
        for person, timed in words:
            line = TimedLine(person, tuple(TimedWord(text, start, end) for text, start, end in timed))
            self.accept_timed(line, origin=f"sphinx, person {person}")

    def close(self) -> None:
        with self._wake:
            self._closing = True
            self._wake.notify()
        if self._process is None:
            return
        try:
            self._process.stdin.close()  # the worker reads end-of-file and exits
        except OSError:
            pass
        if self._io is not None:
            self._io.join(5.0)
        try:
            self._process.wait(5.0)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


def _start_worker(settings: SphinxSettings, people: int) -> subprocess.Popen:
    """The recogniser process, loaded and ready; DyadError with its one-line reason when it cannot start."""
    errors = tempfile.TemporaryFile()
    process = subprocess.Popen(
        [sys.executable, "-m", "dyad.runtime.speech.sphinx_worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors
    )

    def fail(reason: str) -> DyadError:
        process.kill()
        process.wait()
        errors.seek(0)
        lines = [line for line in errors.read().decode("utf-8", "replace").splitlines() if line.strip()]
        errors.close()
        detail = reason if reason or not lines else lines[-1].strip()
        return DyadError(f"speech recogniser sphinx cannot start: {detail or 'its process exited'}")

    try:
        pickle.dump((settings, people), process.stdin)
        process.stdin.flush()
        ready, _, _ = select.select([process.stdout], [], [], START_TIMEOUT_S)
        if not ready:
            raise fail(f"no answer within {START_TIMEOUT_S:g} s")
        kind, detail = pickle.load(process.stdout)
    except (OSError, EOFError, pickle.UnpicklingError):
        raise fail("") from None
    if kind != "ready":
        raise fail(str(detail))
    errors.close()
    return process
