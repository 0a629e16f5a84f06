"""The benchmark scripts produce their JSON and PNG (numbers are never asserted: CI does not fail on speed)."""

from __future__ import annotations

import pytest

import json

from dyad.runtime.config import TimingConfig
from dyad.benchmarks.latency_bench import main
from dyad.benchmarks.session_latency import device_name


@pytest.mark.slow
def test_session_latency_benchmark_writes_json_and_png(tmp_path):
    assert main(["--seconds", "3", "--offline", "--model", "procedural", "--no-words", "--results", str(tmp_path)]) == 0
    folder = tmp_path / device_name()
    report = json.loads((folder / "session_latency_offline.json").read_text())
    assert report["frames_per_person"] == 90
    assert report["mode"] == "offline"
    assert report["latency_ms"]["count"] == 90
    assert report["compute_per_hop_ms"]["count"] == 90 // TimingConfig().hop_frames  # one per hop
    assert set(report["stage_ms"]) >= {"separation", "vad", "mel", "animate.procedural"}
    png = (folder / "session_latency_offline.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
