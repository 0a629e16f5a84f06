"""`dyad bench gpu`: the CUDA tests and every GPU benchmark in one run, inside a time limit.

    dyad bench gpu                      # all parts, 8 minutes at most
    dyad bench gpu --parts latency,concurrency --total-s 300

Parts, each a child process with its own share of the time (a part that fails or
runs out of time is recorded and the next one starts; nothing is retried):
  cuda_tests   pytest -k "cuda or gpu" over the checkout's tests/ (skipped in an install without them)
  latency      `dyad bench latency --device cuda --animators learned --find-budget` at 90, 75, 60, 45 ms
  steps        `dyad bench steps --device cuda`
  backends     `dyad bench backends --device cuda` (torch, torch.compile with CUDA graphs, ORT CUDA, TensorRT)
  concurrency  `dyad bench concurrency --device cuda` doubling the dyads up to 256 (covers 200)
Every bench writes its own JSON + PNG into the GPU's results folder; this one adds
`gpu.json` (each part: status, seconds, last output line). Without a CUDA device
(torch absent, or it sees none) nothing runs and `gpu.json` under the CPU's folder
says "not measured" for every part; the command exits 0.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from dyad.runtime.errors import DyadError

TOTAL_S = 480.0  # the whole run fits in 8 minutes
TESTS_DIR = Path(__file__).resolve().parents[1] / "tests"
PROBE = "import torch; n = torch.cuda.device_count(); print(n); print(torch.cuda.get_device_name(0) if n else '')"


@dataclass(frozen=True)
class Part:
    name: str
    argv: tuple[str, ...]
    share_s: float  # the most this part may take; less when the run's time is nearly spent


def plan(out: Path, tests_dir: Path = TESTS_DIR) -> list[Part]:
    bench = (sys.executable, "-m", "dyad.runtime.cli", "bench")
    where = ("--out", str(out))
    parts = [
        Part("latency", (*bench, "latency", "--device", "cuda", "--animators", "learned", "--find-budget", "--budgets", "90,75,60,45",
                         "--seconds", "30", "--no-profile", *where), 150.0),  # fmt: skip
        Part("steps", (*bench, "steps", "--device", "cuda", "--hops", "100", *where), 60.0),
        Part("backends", (*bench, "backends", "--device", "cuda", "--hops", "100", *where), 90.0),
        Part("concurrency", (*bench, "concurrency", "--device", "cuda", "--max-dyads", "256", "--hops", "20", *where), 60.0),
    ]
    if tests_dir.is_dir():
        tests = (sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "cuda or gpu", str(tests_dir))
        parts.insert(0, Part("cuda_tests", tests, 90.0))
    return parts


def run_parts(parts: list[Part], total_s: float, clock=time.monotonic) -> list[dict]:
    """Run each part in turn within its share and the run's remaining time; record what happened."""
    deadline = clock() + total_s
    results = []
    for part in parts:
        left = deadline - clock()
        if left < 5.0:
            results.append({"part": part.name, "status": "not measured", "reason": f"the run's {total_s:g} s were spent"})
            continue
        limit = min(part.share_s, left)
        start = clock()
        try:
            done = subprocess.run(part.argv, capture_output=True, text=True, timeout=limit)
            lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
            status = "ok" if done.returncode == 0 else f"failed (exit status {done.returncode})"
            last = lines[-1] if lines else ""
        except subprocess.TimeoutExpired:
            status, last = f"timed out after {limit:.0f} s", ""
        except OSError as error:
            status, last = "failed to start", str(error)
        results.append({"part": part.name, "status": status, "seconds": round(clock() - start, 2), "last_line": last[-300:],
                        "command": " ".join(part.argv)})  # fmt: skip
    return results


def probe_cuda(timeout_s: float = 120.0) -> tuple[str | None, str]:
    """(GPU name, "") when torch sees a CUDA device, else (None, why not); run in a child so a broken driver cannot hang us."""
    try:
        done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return None, f"probing CUDA took over {timeout_s:g} s"
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        return None, f"torch cannot probe CUDA: {lines[-1] if lines else done.returncode}"
    count, _, name = done.stdout.partition("\n")
    if not count.strip().isdigit() or int(count) == 0:
        return None, "no CUDA device (torch.cuda.device_count() is 0)"
    return name.strip() or "cuda", ""


def add_gpu_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--total-s", type=float, default=TOTAL_S, help=f"time limit of the whole run (default {TOTAL_S:g} s)")
    parser.add_argument("--parts", default=None, metavar="NAME,...", help="only these parts (cuda_tests, latency, steps, backends, concurrency)")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR", help="write here instead of benchmarks/results/<device>/")


def run_gpu(args: argparse.Namespace) -> int:
    from dyad.benchmarks.session_latency import DEFAULT_RESULTS, _slug, device_name

    if args.total_s <= 0:
        raise DyadError(f"--total-s must be > 0, got {args.total_s:g}")
    gpu, why = probe_cuda()
    folder = args.out or DEFAULT_RESULTS / (f"gpu-{_slug(gpu)}" if gpu else device_name("cpu"))
    parts = plan(folder)
    if args.parts:
        wanted = [name.strip() for name in args.parts.split(",") if name.strip()]
        unknown = sorted(set(wanted) - {p.name for p in parts})
        if unknown:
            raise DyadError(f"--parts: unknown part(s) {', '.join(unknown)}; known: {', '.join(p.name for p in parts)}")
        parts = [p for p in parts if p.name in wanted]
    start = time.monotonic()
    if gpu:
        results = run_parts(parts, args.total_s)
    else:
        results = [{"part": p.name, "status": "not measured", "reason": why} for p in parts]
    report = {
        "benchmark": "gpu",
        "device": folder.name,
        "gpu": gpu,
        "rows": [{"part": r["part"], "status": r["status"]} for r in results],
        "summary": {"gpu": gpu or "not measured", "why": why or None, "seconds": round(time.monotonic() - start, 1), "limit s": args.total_s},
        "parts": results,
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "gpu.json").write_text(json.dumps(report, indent=2))
    _plot(results, folder / "gpu.png")
    print(json.dumps(report["rows"], indent=2))
    print(f"dyad bench: {'results' if gpu else 'not measured (' + why + '); a note'} in {folder / 'gpu.json'}")
    return 0 if all(r["status"] in ("ok", "not measured") for r in results) else 1


def _plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3))
    names = [r["part"] for r in results]
    seconds = [r.get("seconds", 0.0) for r in results]
    bars = ax.barh(names, seconds, color=["tab:green" if r["status"] == "ok" else "tab:gray" for r in results])
    for bar, r in zip(bars, results):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {r['status']}", va="center", fontsize=8)
    ax.set_xlabel("seconds per part")
    ax.set_title("dyad bench gpu")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
