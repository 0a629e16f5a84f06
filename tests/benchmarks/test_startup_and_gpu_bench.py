"""`dyad bench startup` and `dyad bench gpu`: what they launch, record and write (no speed is asserted)."""

from __future__ import annotations

import json
import sys
from dataclasses import replace

import pytest
from realvoice_fixtures import REALVOICE, needs_realvoice

from dyad.benchmarks.gpu_bench import Part, plan, probe_cuda, run_parts
from dyad.benchmarks.startup_bench import launch_once, targets
from dyad.runtime.cli.main import main

PNG = b"\x89PNG\r\n\x1a\n"


def test_a_launch_reports_its_first_frame_and_its_own_peak_rss():
    launch = launch_once([], seconds=1.0)
    assert launch["exit_status"] == 0 and launch["error"] is None
    assert 0.05 < launch["first_frame_s"] < 60  # the first frame is due D after the first audio, never before
    assert 50 < launch["peak_rss_mb"] < 4000


def test_a_launch_that_fails_says_why_and_has_no_first_frame():
    launch = launch_once(["--budget-ms", "20"], seconds=1.0)  # under the session's floor: refused at start-up
    assert launch["exit_status"] == 2 and launch["first_frame_s"] is None
    assert launch["error"].startswith("dyad: error:") and "budget" in launch["error"]


def test_startup_targets_use_the_slowest_and_largest_launch():
    row = {"variant": "v", "first_frame_s_max": 2.5, "peak_rss_mb_max": 300.0}
    first, rss = targets(row)
    assert (first["met"], rss["met"]) == (False, True) and first["measured"] == 2.5
    assert not targets({**row, "first_frame_s_max": None})[0]["met"]  # a launch without a frame misses the target


def test_startup_bench_writes_json_and_png(tmp_path):
    assert main(["bench", "startup", "--runs", "1", "--seconds", "1", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "startup.json").read_text())
    assert report["benchmark"] == "startup" and [r["variant"] for r in report["variants"]] == ["default animators"]
    assert {t["unit"] for t in report["targets"]} == {"s", "MB"}
    assert (tmp_path / "startup.png").read_bytes()[:8] == PNG


def test_gpu_plan_covers_tests_and_every_gpu_bench_within_eight_minutes(tmp_path):
    parts = plan(tmp_path)
    assert [p.name for p in parts] == ["cuda_tests", "latency", "steps", "backends", "concurrency"]
    assert sum(p.share_s for p in parts) <= 480
    for part in parts[1:]:
        assert "cuda" in part.argv and str(tmp_path) in part.argv
    assert [p.name for p in plan(tmp_path, tests_dir=tmp_path / "absent")][0] == "latency"  # an install without tests/


def test_gpu_parts_run_in_turn_and_a_failure_or_timeout_does_not_stop_the_rest():
    py = sys.executable
    parts = [
        Part("ok", (py, "-c", "print('measured 3 ms')"), 30.0),
        Part("fails", (py, "-c", "import sys; sys.exit('no TensorRT here')"), 30.0),
        Part("hangs", (py, "-c", "import time; time.sleep(30)"), 1.0),
        Part("after", (py, "-c", "print('still ran')"), 30.0),
    ]
    results = {r["part"]: r for r in run_parts(parts, total_s=120.0)}
    assert results["ok"]["status"] == "ok" and results["ok"]["last_line"] == "measured 3 ms"
    assert results["fails"]["status"] == "failed (exit status 1)" and results["fails"]["last_line"] == "no TensorRT here"
    assert results["hangs"]["status"] == "timed out after 1 s"
    assert results["after"]["status"] == "ok"


def test_gpu_parts_past_the_time_limit_are_not_measured():
    ticks = iter([0.0, 0.0, 0.0, 9.0, 9.0, 9.0])  # the first part ends at 9 s of a 10 s run
    parts = [Part("first", (sys.executable, "-c", "pass"), 30.0), Part("second", (sys.executable, "-c", "pass"), 30.0)]
    results = run_parts(parts, total_s=10.0, clock=lambda: next(ticks))
    assert results[0]["status"] == "ok"
    assert results[1] == {"part": "second", "status": "not measured", "reason": "the run's 10 s were spent"}


@pytest.mark.skipif(probe_cuda()[0] is not None, reason="this machine has a CUDA device: the bench would run for minutes")
def test_without_a_gpu_the_bench_writes_not_measured_and_exits_cleanly(tmp_path):
    assert main(["bench", "gpu", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "gpu.json").read_text())
    assert report["gpu"] is None and report["summary"]["gpu"] == "not measured" and report["summary"]["why"].startswith("no CUDA device")
    assert {r["status"] for r in report["parts"]} == {"not measured"} and len(report["parts"]) == 5
    assert (tmp_path / "gpu.png").read_bytes()[:8] == PNG


def test_unknown_gpu_parts_are_one_clear_error(tmp_path, capsys):
    assert main(["bench", "gpu", "--parts", "latency,warp", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == "dyad: error: --parts: unknown part(s) warp; known: cuda_tests, latency, steps, backends, concurrency"


def test_budget_quality_compares_the_earlier_timing_with_the_default():
    from dyad.benchmarks.budget_quality_bench import timings
    from dyad.runtime.config import SessionConfig

    floors = {}
    for name, changes in timings().items():
        config = replace(SessionConfig(), **changes).validate()
        floors[name] = (config.timing.budget_ms, round(config.minimum_budget_ms(), 1))
    assert floors == {"D = 150 ms (hop 2, centred mel)": (150.0, 105.2), "D = 90 ms (default)": (90.0, 54.3)}


@needs_realvoice
@pytest.mark.slow
def test_budget_quality_bench_scores_real_voices_under_both_timings(tmp_path):
    argv = ["bench", "budget-quality", "--real", str(REALVOICE), "--dialogues", "1", "--out", str(tmp_path)]
    assert main(argv) == 0
    report = json.loads((tmp_path / "budget_quality.json").read_text())
    assert [r["timing"] for r in report["results"]] == ["D = 150 ms (hop 2, centred mel)", "D = 90 ms (default)"]
    assert all(0.0 < r["jaw_corr"] <= 1.0 and r["dialogues"] == 1 for r in report["results"])
    assert (tmp_path / "budget_quality.png").read_bytes()[:8] == PNG
