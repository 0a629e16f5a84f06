"""`dyad bench netaudio` writes its JSON and PNG from a real loopback run, and refuses bad options in one line."""

from __future__ import annotations

import argparse
import json

import pytest

from dyad.benchmarks.netaudio_bench import add_netaudio_args, run_netaudio
from dyad.runtime.errors import DyadError


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_netaudio_args(parser)
    return parser.parse_args(list(argv))


@pytest.mark.realtime
def test_netaudio_measures_sender_capture_to_pose_back(tmp_path):
    assert run_netaudio(_args("--seconds", "2", "--transports", "websocket", "--out", str(tmp_path))) == 0
    report = json.loads((tmp_path / "netaudio.json").read_text())
    assert (tmp_path / "netaudio.png").stat().st_size > 1000
    row = report["rows"][0]
    assert row["transport"] == "websocket" and row["frames_back"] >= 50 and len(row["latency_ms"]) == row["frames_back"]
    # Every frame comes back at least D after its audio was captured (the emitter never sends early).
    assert row["budget_ms"] <= row["e2e_ms_p50"] <= row["e2e_ms_p95"] <= row["e2e_ms_p99"]
    assert report["device"] and report["machine"]["cpus"] >= 1


@pytest.mark.parametrize("argv", [["--transports", "carrier-pigeon"], ["--seconds", "0"]])
def test_bad_options_are_one_line_errors(argv, tmp_path):
    with pytest.raises(DyadError):
        run_netaudio(_args(*argv, "--out", str(tmp_path)))
