"""`dyad bench serve` on the tiny model: its result's fields agree with each other, and `dyad serve` reads it
as a capacity file only for the model and steps it was measured with."""

from __future__ import annotations

import json
import math

import pytest

from dyad.runtime.cli.main import main
from dyad.runtime.errors import DyadError
from dyad.runtime.serve.capacity import capacity_from_file


def test_bench_serve_writes_a_result_that_serve_takes_as_its_capacity(model_dir, tmp_path, capsys):
    out = tmp_path / "results"
    assert main(["bench", "serve", "--model", str(model_dir), "--steps", "1", "--seconds", "1", "--max-sessions", "2", "--out", str(out)]) == 0
    report = json.loads((out / "serve.json").read_text())
    assert (out / "serve.png").stat().st_size > 0
    rows = report["rows"]
    assert [r["sessions"] for r in rows][:1] == [1] and report["steps"] == 1
    for row in rows:
        assert row["frames"] == 30 * row["sessions"]  # one second of audio, every session, every frame sent
        assert row["deadline_misses"] == sum(row["misses_per_session"])
        assert 1 <= row["dyads_per_call_mean"] <= row["dyads_per_call_max"] <= row["sessions"]
        assert row["batch_ms_p50"] <= row["batch_ms_p99"]
    clean = [r["sessions"] for r in rows if r["deadline_misses"] == 0]
    assert report["summary"]["sessions_at_zero_misses"] == max(clean, default=0)
    capacity = capacity_from_file(out / "serve.json", report["model"], 1)
    assert capacity.sessions == report["summary"]["sessions_at_zero_misses"] and "dyad bench serve" in capacity.source
    with pytest.raises(DyadError, match="measured for model .* at 1 steps, this server runs .* at 4 steps"):
        capacity_from_file(out / "serve.json", report["model"], 4)
    (tmp_path / "not.json").write_text("{}")
    with pytest.raises(DyadError, match="not a `dyad bench serve` result"):
        capacity_from_file(tmp_path / "not.json", report["model"], 1)
    assert not math.isinf(capacity.sessions)
