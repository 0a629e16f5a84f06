"""The audio device disappears mid-session, a device will not reopen for a while, the input overflows.

Real PortAudio: an ALSA `file`-plugin capture device in a temporary HOME (as in
test_mic_source.py). The fault is injected under the source: the live PortAudio
stream is aborted (what a driver does when the device is unplugged) and the
device's backing file is renamed away, so every reopen fails in ALSA itself until
the file comes back. Then the consumer stops reading for half a second, so the
source's bounded queue overflows.

The session half uses replayed audio with an outage cut into it (no chunks for a
second, then audio resumes further along the sample clock, as MicrophoneSource
delivers after a reopen): fallback frames are sent meanwhile, the gap is counted
as dropped audio, and no frame index is lost.
"""

from __future__ import annotations

import pytest

import json
import os
import subprocess
import sys
import textwrap

import numpy as np

from dyad.runtime.config import SessionConfig
from dyad.runtime.session import Session
from dyad.runtime.audio.wav_source import WavReplaySource, open_wav_inputs
from session_fixtures import write_dialogue

pytestmark = pytest.mark.realtime  # real-time sessions or streams on the wall clock

ASOUNDRC = """
pcm.dyadfile_rc {{
  type file
  slave.pcm "null"
  file "/dev/null"
  infile "{infile}"
  format "raw"
}}
pcm.dyadrc {{
  type plug
  slave {{ pcm "dyadfile_rc"; format S16_LE; rate 16000; channels 2 }}
}}
"""

SCRIPT = r"""
import json, os, sys, time
from dyad.runtime.audio.mic_source import MicrophoneSource

infile = sys.argv[1]
src = MicrophoneSource("dyadrc", sample_rate=16000, latency=0.1, max_queue_ms=200)
src.start()
chunks = []

def pump(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        chunk = src.read(0.05)
        if chunk is not None:
            chunks.append((chunk.start_sample, chunk.end_sample, chunk.capture_ns))

pump(0.4)
os.rename(infile, infile + ".gone")      # the device cannot reopen ...
src._streams[0].abort()                  # ... and its stream dies under the source
pump(0.8)
during = src.stats()
os.rename(infile + ".gone", infile)      # the device is back
pump(1.0)
time.sleep(0.5)                          # a stalled consumer: the bounded queue overflows
pump(0.3)
src.close()
print(json.dumps({"during": during, "after": src.stats(), "chunks": chunks}))
"""


def run_on_alsa_file_device(tmp_path, script: str) -> tuple[dict, str]:
    """Run `script` in a child whose HOME holds an ALSA file device fed 4 s of noise: (its last stdout line as JSON, its stderr).

    The child gets the raw file's path as argv[1]; PortAudio there lists the device like any other.
    """
    infile = tmp_path / "in.raw"
    (np.random.default_rng(0).uniform(-0.3, 0.3, (16000 * 4, 2)) * 32767).astype("<i2").tofile(infile)
    (tmp_path / ".asoundrc").write_text(ASOUNDRC.format(infile=infile))
    (tmp_path / "script.py").write_text(textwrap.dedent(script))
    env = {k: v for k, v in os.environ.items() if k not in ("ALSA_CONFIG_PATH", "XDG_CONFIG_HOME")}
    env["HOME"] = str(tmp_path)
    run = subprocess.run([sys.executable, str(tmp_path / "script.py"), str(infile)], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1]), run.stderr


@pytest.mark.slow
def test_device_lost_and_reopened_with_backoff_on_a_real_portaudio_stream(tmp_path):
    result, _ = run_on_alsa_file_device(tmp_path, SCRIPT)
    during, after = result["during"], result["after"]
    assert during["stream_failures"] == 1 and during["reconnects"] == 0
    assert during["reopen_failures"] >= 3  # 0.1 + 0.2 + 0.4 s of backoff fit in the 0.8 s outage
    assert after["reconnects"] == 1 and after["stream_failures"] == 1
    assert after["outage_ms"] >= 700
    assert after["dropped_chunks"] > 0 and after["dropped_samples"] > 0  # the overflow, counted
    chunks = result["chunks"]
    starts = [c[0] for c in chunks]
    assert all(b[0] >= a[1] for a, b in zip(chunks, chunks[1:]))  # never overlapping, never backwards
    # The outage: the largest capture-time step. The sample clock jumped by at least the real time that passed.
    steps = [(b[2] - a[2], a, b) for a, b in zip(chunks, chunks[1:])]
    gap_ns, before, resumed = max(steps)
    assert gap_ns >= 0.7e9
    assert resumed[0] - before[1] >= int((gap_ns - 20e6) * 16000 / 1e9)
    assert len(starts) > 100


class OutageSource:
    """Real-time replay with an outage: chunks in [start_s, end_s) of audio never arrive, as when a
    device is gone; the first chunk after it starts further along the sample clock."""

    def __init__(self, inner: WavReplaySource, start_s: float, end_s: float) -> None:
        self.inner, self.cut = inner, (int(start_s * 16000), int(end_s * 16000))
        self.sample_rate, self.channels = inner.sample_rate, inner.channels

    def start(self) -> None:
        self.inner.start()

    def read(self, timeout_s: float):
        chunk = self.inner.read(timeout_s)
        if chunk is not None and self.cut[0] <= chunk.start_sample < self.cut[1]:
            return None
        return chunk

    @property
    def finished(self) -> bool:
        return self.inner.finished

    def close(self) -> None:
        self.inner.close()

    def stats(self) -> dict:
        return self.inner.stats()


def test_session_sends_fallback_frames_through_an_outage_and_resumes(tmp_path):
    wav = write_dialogue(tmp_path / "d.wav", seconds=3.0)
    source = OutageSource(WavReplaySource(open_wav_inputs([wav]), seconds=3.0, realtime=True), 1.0, 2.0)
    config = SessionConfig(seconds=3.0, status_interval_s=0.0)
    result = Session(config, source, keep_frames=True).run()
    assert [b.index for b in result.bundles] == list(range(90))
    fallback = {b.index for b in result.bundles if b.fallback}
    assert set(range(34, 54)) <= fallback  # the outage's frames (1.0-2.0 s, less pipeline slack) fell back
    assert not fallback & set(range(72, 88))  # real frames again after it
    assert result.summary["dropped_audio"]["seconds"] >= 0.99
