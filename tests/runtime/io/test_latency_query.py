"""A host asks a running session for D over OSC and hears it back (to delay its own audio by exactly D)."""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import sys
import time

import pytest


def _osc_string(data: bytes, at: int) -> tuple[str, int]:
    """An OSC string (NUL-terminated, padded to 4 bytes), read per the OSC 1.0 spec, not with our encoder."""
    end = data.index(b"\x00", at)
    return data[at:end].decode(), (end + 4) & ~3


def _decode(datagram: bytes) -> tuple[str, list]:
    address, at = _osc_string(datagram, 0)
    tags, at = _osc_string(datagram, at)
    values = []
    for tag in tags[1:]:
        kind = {"f": ">f", "i": ">i"}[tag]
        values.append(struct.unpack_from(kind, datagram, at)[0])
        at += 4
    return address, values


@pytest.mark.realtime
def test_a_running_demo_answers_a_latency_query_with_its_budget(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free now; the session binds it next
    command = [sys.executable, "-m", "dyad.runtime.cli", "demo", "--seconds", "8", "--quiet", "--budget-ms", "100",
               "--control", f"osc://127.0.0.1:{port}", "--out", str(tmp_path / "rec")]  # fmt: skip
    session = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    query = b"/dyad/latency\x00\x00\x00,\x00\x00\x00"  # no arguments
    reply = None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as host:
        host.settimeout(0.2)
        deadline = time.monotonic() + 60
        while reply is None and time.monotonic() < deadline and session.poll() is None:
            host.sendto(query, ("127.0.0.1", port))
            try:
                reply = host.recv(1024)
            except socket.timeout:
                pass
    session.terminate()
    _, err = session.communicate(timeout=60)
    assert reply is not None, err[-2000:]
    address, (budget_ms, floor_ms, fps) = _decode(reply)
    assert address == "/dyad/latency" and budget_ms == 100.0 and fps == 30
    assert 30.0 < floor_ms < budget_ms  # hop + audio buffering, under D
    summary = json.loads((tmp_path / "rec" / "session.json").read_text())
    assert summary["budget_ms"] == 100.0 and summary["minimum_budget_ms"] == pytest.approx(floor_ms, abs=1e-3)
    assert summary["control"]["applied"]["latency"] >= 1
