"""`dyad bench latency` and `dyad bench report` produce their files; no number is asserted (CI never fails on speed)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from model_fixtures import tiny_model_dir

from dyad.benchmarks.report import END, START
from dyad.runtime.cli.main import main

PNG = b"\x89PNG\r\n\x1a\n"
LEGACY = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "cpu-amd-epyc-2cores"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return tiny_model_dir(tmp_path_factory.mktemp("model") / "tiny")


def _latency(tiny: Path, out: Path, *extra: str) -> dict:
    argv = ["bench", "latency", "--model", str(tiny), "--no-words", "--seconds", "2", "--no-profile", "--out", str(out), *extra]
    assert main(argv) == 0
    stem = "session_latency_offline" if "--offline" in extra else "session_latency"
    png = (out / f"{stem}.png").read_bytes()
    assert png[:8] == PNG and len(png) > 5000
    return json.loads((out / f"{stem}.json").read_text())


@pytest.mark.realtime
def test_realtime_latency_has_percentiles_and_per_stage_compute(tiny, tmp_path):
    report = _latency(tiny, tmp_path)
    assert report["mode"] == "realtime" and report["run"]["animator"] == "learned"
    assert set(report["latency_ms"]) >= {"p50", "p95", "p99", "max"}
    hop_stages = report["stage_per_hop_ms"]
    assert {"separation", "vad", "mel", "animate.lower", "animate.upper", "animate.face", "emit"} <= set(hop_stages)
    for stage in ("animate.lower", "animate.upper", "animate.face"):
        assert report["stage_ms"][stage]["count"] == report["stage_ms"]["animate.learned"]["count"]
    assert "animate.learned" not in hop_stages  # split into its parts + animate.rest, never counted twice
    assert report["compute_per_hop_ms"]["count"] == hop_stages["animate.lower"]["count"]
    assert report["compute_p99_over_hop"] == pytest.approx(report["compute_per_hop_ms"]["p99"] / report["hop_ms"], rel=1e-3)
    assert [set(t) >= {"target", "measured", "met", "margin"} for t in report["targets"]] == [True, True]


@pytest.mark.slow
def test_find_budget_runs_descending_and_refuses_under_the_floor(tiny, tmp_path):
    report = _latency(tiny, tmp_path, "--offline", "--find-budget", "--budgets", "120,150,50")
    search = report["budget_search"]
    assert search["candidates_ms"] == [150.0, 120.0, 50.0]
    assert 50 < search["floor_ms"] < 120  # the session's own minimum (hop + buffering)
    assert [r["budget_ms"] for r in search["runs"]] == [150.0, 120.0]
    assert [r["budget_ms"] for r in search["refused"]] == [50.0]
    assert search["misses_by_budget_ms"] == {"150": 0, "120": 0}  # every candidate above the floor ran
    assert search["smallest_zero_miss_budget_ms"] == 120.0  # offline: compute takes no simulated time
    assert report["budget_ms"] == 150.0


def test_profile_is_written_where_asked(tmp_path):
    from dyad.benchmarks.latency_bench import write_profile
    from dyad.benchmarks.session_latency import LatencyRun

    method = write_profile(LatencyRun(offline=True, model=None, words=False), 1.0, tmp_path / "profile.txt")
    text = (tmp_path / "profile.txt").read_text()
    assert method in text and "function, self" in text


def _results(root: Path) -> Path:
    """The legacy folder as committed, plus model-bench results in the shapes `model_benches` writes."""
    legacy = root / "cpu-amd-epyc-2cores"
    shutil.copytree(LEGACY, legacy, ignore=shutil.ignore_patterns("*.png"))
    (legacy / "broken.json").write_text("{not json")
    plain = json.loads((legacy / "session_latency.json").read_text())
    plain.pop("budget_search", None)  # one run without a budget search, whatever the committed results hold
    (legacy / "session_latency.json").write_text(json.dumps(plain))
    common = {"device": "cpu-amd-epyc-2cores", "machine": {}, "not_measured": []}
    steps = {"benchmark": "steps", "rows": [{"steps": 1, "hop_ms_p50": 2.0, "hop_ms_p99": 3.0}],
             "summary": {"steps_within_allowance_p99": [1], "table": "| steps |\n|---|"}, **common}  # fmt: skip
    (legacy / "steps.json").write_text(json.dumps(steps))
    gpu = {"benchmark": "concurrency", "rows": [{"dyads": 8, "hop_ms_p99": 5.0}], "summary": {"sessions_per_device": 8, "limit_ms": 44.8},
           **common, "device": "gpu-test", "torch_device": "cuda"}  # fmt: skip
    (root / "gpu-test").mkdir()
    (root / "gpu-test" / "concurrency.json").write_text(json.dumps(gpu))
    (legacy / "widgets.json").write_text(json.dumps({"benchmark": "widgets", "rows": [{"n": 2, "x_p99": 1.5}], "summary": {"best": 4}}))
    search = {"smallest_zero_miss_budget_ms": 120.0, "floor_ms": 105.167, "candidates_ms": [150, 120]}
    latency = json.loads((legacy / "session_latency.json").read_text()) | {"budget_search": search, "mode": "offline"}
    (legacy / "session_latency_offline.json").write_text(json.dumps(latency))
    return root


def test_report_rewrites_only_between_markers(tmp_path):
    readme = tmp_path / "README.md"
    before, after = "# title\n\nintro text\n\n", "\n\n## Next section\n\nkept as it was\n"
    readme.write_text(f"{before}{START}\n| stale | table |\n{END}{after}")
    assert main(["bench", "report", "--results", str(_results(tmp_path / "results")), "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith(before + START) and text.endswith(END + after)
    table = text[text.index(START) : text.index(END)]
    assert "stale" not in table
    assert "cpu-amd-epyc-2cores" in table and "120 ms (floor 105.2 ms)" in table and "not searched" in table
    assert "1: 2.0/3.0" in table and "soak" in table and "animator_steps" in table
    assert "n 2: x_p99 1.5; best: 4" in table  # an unknown benchmark: rows and short summary items
    assert "| GPU | not measured" in table  # no latency result from a GPU
    assert "| GPU | steps, backends, anchors | not measured |" in table  # concurrency was measured on one
    assert "dyads per device: 8" in table
    assert main(["bench", "report", "--results", str(tmp_path / "results"), "--readme", str(readme)]) == 0
    assert readme.read_text() == text  # regenerating is idempotent


@pytest.mark.parametrize(
    "argv",
    [
        ["bench", "latency", "--find-budget", "--budgets", "abc"],
        ["bench", "latency", "--model", "/nonexistent/model"],
        ["bench", "latency", "--model", "procedural", "--budget-ms", "50"],
        ["bench", "report", "--readme", "/nonexistent/README.md"],
        ["bench", "steps", "--steps", "abc"],  # a model bench's own options, parsed when it runs
    ],
)
def test_bad_input_is_one_line_and_nonzero(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("dyad: error: ") and "\n" not in err


def test_report_refuses_a_readme_without_markers(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("# no markers\n")
    assert main(["bench", "report", "--results", str(tmp_path), "--readme", str(readme)]) == 2
    assert "markers" in capsys.readouterr().err
    assert readme.read_text() == "# no markers\n"
