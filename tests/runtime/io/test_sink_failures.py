"""Receivers absent or ports closed: the session runs on and counts send errors; bad URLs fail with one line."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from dyad.models.skeleton import load_default_skeleton
from dyad.runtime.config import SessionConfig, TimingConfig
from dyad.runtime.errors import DyadError
from dyad.runtime.session import Session
from dyad.runtime.io.sinks import sink_from_url
from dyad.runtime.audio.wav_source import WavReplaySource, open_wav_inputs
from engine_receivers import free_port
from session_fixtures import write_dialogue


def test_closed_ports_are_counted_and_the_session_runs_on(tmp_path):
    wav = write_dialogue(tmp_path / "d.wav", seconds=2.0)
    closed = [free_port() for _ in range(4)]  # nothing listens on these
    sinks = (
        f"livelink://127.0.0.1:{closed[0]}",
        f"vmc://127.0.0.1:{closed[1]},{closed[2]}",
        f"osc://127.0.0.1:{closed[3]}",
        f"bvhstream://127.0.0.1:{free_port(socket.SOCK_STREAM)}",  # a server nobody connects to
    )
    config = SessionConfig(timing=TimingConfig(), offline=True, seconds=2.0, out_dir=tmp_path / "out", sinks=sinks)
    result = Session(config, WavReplaySource(open_wav_inputs([wav]), seconds=2.0, realtime=False), keep_frames=True).run()
    assert [b.index for b in result.bundles] == list(range(60))
    stats = json.loads((tmp_path / "out" / "session.json").read_text())["sinks"]
    assert stats["bvh"]["sent"] == 60 and stats["bvh"]["errors"] == 0  # the recorders never noticed
    assert stats[f"livelink:{closed[0]}"]["send_errors"] > 0
    assert stats[f"osc:{closed[3]}"]["send_errors"] > 0
    assert all(port["send_errors"] > 0 for port in stats[f"vmc:{closed[1]},{closed[2]}"]["ports"])
    assert "refused" in stats[f"livelink:{closed[0]}"]["last_send_error"].lower()
    stream = next(s for name, s in stats.items() if name.startswith("bvhstream"))
    assert stream["sent"] == 60 and stream["clients_seen"] == 0


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("pigeon://127.0.0.1:1", "unknown scheme 'pigeon'"),
        ("vmc://127.0.0.1:39539", "one port per person"),
        ("osc://127.0.0.1", "needs a port"),
        ("osc://127.0.0.1:99999", "needs a port"),
        ("livelink://127.0.0.1:11111?subject=A,B", "unknown option 'subject'"),
        ("vmc://127.0.0.1:1,2?mtu=big", "option 'mtu'"),
        ("vmc://127.0.0.1:1,2?mtu=100", "mtu must be 576..65535"),
        ("vmc://127.0.0.1:1,2?retarget=/nonexistent/map.json", "map.json"),
        ("livelink://127.0.0.1:11111?subjects=A,A", "distinct"),
        ("osc://127.0.0.1:9000?prefix=/a b", "prefix"),
    ],
)
def test_bad_sink_urls_name_the_url_and_the_problem(url, needle):
    with pytest.raises(DyadError) as error:
        sink_from_url(url, load_default_skeleton())
    assert url in str(error.value) and needle in str(error.value) and "\n" not in str(error.value)


def test_default_host_is_loopback_and_several_sinks_build():
    skeleton = load_default_skeleton()
    sinks = [sink_from_url(f"osc://:{free_port()}", skeleton), sink_from_url(f"bvhstream://:{free_port(socket.SOCK_STREAM)}", skeleton)]
    try:
        assert sinks[1]._listener.getsockname()[0] == "127.0.0.1"
        assert sinks[0]._udp.socket.getpeername()[0] == "127.0.0.1"
    finally:
        for sink in sinks:
            sink.close()


@pytest.mark.slow
def test_cli_bad_control_url_is_one_line(tmp_path):
    wav = write_dialogue(tmp_path / "d.wav", seconds=1.0)
    taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    taken.bind(("127.0.0.1", 0))
    port = taken.getsockname()[1]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    run = subprocess.run(
        [sys.executable, "-m", "dyad.runtime.cli", "run", "--wav", str(wav), "--offline", "--quiet", "--control", f"osc://127.0.0.1:{port}"],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    taken.close()
    assert run.returncode == 2 and "Traceback" not in run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("dyad: error:")]
    assert len(errors) == 1 and f"osc://127.0.0.1:{port}" in errors[0] and "cannot listen" in errors[0]
