"""`dyad serve` as a user runs it: a child process, its real HTTP API on loopback, Prometheus text read by
prometheus_client's own parser, sessions recording into their own folders."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from session_fixtures import write_dialogue


@pytest.fixture(scope="module")
def wav(tmp_path_factory) -> Path:
    return write_dialogue(tmp_path_factory.mktemp("audio") / "dialogue.wav", seconds=3.0)


def call(method: str, url: str, body: dict | None = None, headers: dict | None = None) -> tuple[int, dict | str]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read().decode()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


@pytest.fixture
def server(model_dir, tmp_path):
    args = ["serve", "--listen", "127.0.0.1:0", "--out", str(tmp_path / "out"), "--model", str(model_dir),
            "--face-animator", "learned", "--body-animator", "learned", "--capacity", "2"]  # fmt: skip
    child = subprocess.Popen([sys.executable, "-m", "dyad.runtime.cli", *args], stderr=subprocess.PIPE, text=True,
                             env=dict(os.environ, PYTHONUNBUFFERED="1"))  # fmt: skip
    url = None
    deadline = time.monotonic() + 120
    while url is None and time.monotonic() < deadline:
        line = child.stderr.readline()
        if not line:
            break
        if line.startswith("dyad: serving on "):
            url = line.split()[3]
    assert url is not None, "the server did not start"
    yield url, child, tmp_path / "out"
    if child.poll() is None:
        child.kill()
    child.wait(10)


def test_sessions_are_created_listed_measured_and_ended_over_the_api(server, wav):
    url, child, out = server
    status, first = call("POST", f"{url}/sessions", {"wav": [str(wav)], "seed": 1, "seconds": 3.0, "name": "room-a"})
    assert status == 201 and first["state"] == "running" and first["out_dir"] == str(out / first["id"])
    status, second = call("POST", f"{url}/sessions", {"wav": [str(wav)], "seed": 2, "seconds": 1.0})
    assert status == 201
    status, refused = call("POST", f"{url}/sessions", {"wav": [str(wav)]})
    assert status == 503 and refused["error"].startswith("dyad: error: the server is at its capacity of 2 sessions")
    status, bad = call("POST", f"{url}/sessions", {"wav": ["/nowhere.wav"]})
    assert status == 400 and bad["error"] == "dyad: error: session field 'wav': no such file '/nowhere.wav'"
    status, foreign = call("POST", f"{url}/sessions", {"wav": [str(wav)]}, headers={"Origin": "http://evil.example"})
    assert status == 403

    time.sleep(1.5)  # both sessions live, hops batched
    status, text = call("GET", f"{url}/metrics")
    families = {f.name: f for f in text_string_to_metric_families(text)}
    running = {s.labels["state"]: s.value for s in families["dyad_sessions"].samples}
    assert running["running"] + running["ended"] == 2
    assert families["dyad_sessions_refused"].samples[0].value == 1
    frames = {s.labels["session"]: s.value for s in families["dyad_frames"].samples if s.name == "dyad_frames_total"}
    assert frames[first["id"]] > 0
    batch_count = next(s.value for s in families["dyad_batch_dyads"].samples if s.name == "dyad_batch_dyads_count")
    assert batch_count > 0
    latency = [s for s in families["dyad_frame_latency_seconds"].samples if s.name.endswith("_bucket") and s.labels["session"] == first["id"]]
    assert latency[-1].labels["le"] == "+Inf" and latency[-1].value >= frames[first["id"]] - 1

    status, ended = call("DELETE", f"{url}/sessions/{first['id']}")
    assert status == 200 and ended["state"] == "ended"
    summary = json.loads((out / first["id"] / "session.json").read_text())
    assert summary["animator"] == "learned" and summary["frames"]["p0"] == ended["frames"] > 0
    status, listed = call("GET", f"{url}/sessions")
    assert {s["id"] for s in listed["sessions"]} == {first["id"], second["id"]} and listed["capacity"]["sessions"] == 2
    assert call("GET", f"{url}/sessions/nope")[0] == 404
    status, health = call("GET", f"{url}/health")
    assert f"{first['id']} ended t=" in health

    child.send_signal(signal.SIGINT)
    assert child.wait(30) == 0
    for session in (first["id"], second["id"]):
        assert (out / session / "p0.bvh").is_file() and (out / session / "session.json").is_file()


def test_a_bad_listen_address_is_one_error_line(model_dir):
    result = subprocess.run([sys.executable, "-m", "dyad.runtime.cli", "serve", "--listen", "0.0.0.0:8780", "--model", "procedural"],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("dyad: error: serve API '0.0.0.0:8780'")
