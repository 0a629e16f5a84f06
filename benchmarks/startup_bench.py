"""`dyad bench startup`: time from launch to the first frame on the wire, and peak resident memory.

    dyad bench startup                 # 3 launches of `dyad demo --seconds 2` (its default animators)
    dyad bench startup --runs 5 --learned

Each launch is a fresh process, as a user starts it: `python -m dyad.runtime.cli demo`
in real time with an OSC sink on a loopback port this bench listens on. First frame
= arrival of the first datagram minus the moment before the process was spawned (so
interpreter start, imports, model and encoder loads, warm-up and the budget D all
count). Peak RSS is the child's own high-water mark from wait4(2). `--learned` adds
launches with both parts on the learned animator. Targets: first frame <= 2 s,
peak RSS <= 400 MB, checked on the slowest and largest launch.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dyad.runtime.errors import DyadError

TARGET_FIRST_FRAME_S = 2.0
TARGET_RSS_MB = 400.0
LAUNCH_TIMEOUT_S = 120.0
VARIANTS = {"default animators": [], "learned animators": ["--face-animator", "learned", "--body-animator", "learned"]}


def add_startup_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", type=int, default=3, help="launches per variant")
    parser.add_argument("--seconds", type=float, default=2.0, help="audio each launch plays before it ends")
    parser.add_argument("--learned", action="store_true", help="also launch with face and body on the learned animator")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR", help="write here instead of benchmarks/results/<device>/")


def launch_once(extra: list[str], seconds: float) -> dict:
    """One fresh `dyad demo` process: seconds to its first frame, its peak RSS, its exit status."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver, tempfile.TemporaryDirectory() as scratch:
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(0.05)
        port = receiver.getsockname()[1]
        command = [sys.executable, "-m", "dyad.runtime.cli", "demo", "--seconds", f"{seconds:g}", "--quiet",
                   "--sink", f"osc://127.0.0.1:{port}", "--out", str(Path(scratch) / "rec"), *extra]  # fmt: skip
        start = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=scratch)
        first_frame_s, ended = None, None  # ended: (status, rusage) once reaped by wait4, never by Popen (its rusage would be lost)
        while first_frame_s is None and ended is None and time.perf_counter() - start < LAUNCH_TIMEOUT_S:
            try:
                receiver.recv(65536)
                first_frame_s = time.perf_counter() - start
            except socket.timeout:
                pid, status, usage = os.wait4(child.pid, os.WNOHANG)
                ended = (status, usage) if pid else None
        if ended is None and first_frame_s is None:
            child.kill()
        if ended is None:
            _, status, usage = os.wait4(child.pid, 0)  # the launch plays its seconds of audio to the end
            ended = (status, usage)
        child.returncode = os.waitstatus_to_exitcode(ended[0])
        error = child.stderr.read().decode(errors="replace").strip().splitlines()
        child.stderr.close()
    return {
        "first_frame_s": None if first_frame_s is None else round(first_frame_s, 4),
        "peak_rss_mb": round(ended[1].ru_maxrss / 1024, 1),  # MiB: Linux reports KiB
        "exit_status": child.returncode,
        "error": error[-1] if child.returncode and error else None,
    }


def run_variant(name: str, extra: list[str], runs: int, seconds: float) -> dict:
    launches = [launch_once(extra, seconds) for _ in range(runs)]
    times = [r["first_frame_s"] for r in launches if r["first_frame_s"] is not None]
    return {
        "variant": name,
        "first_frame_s_max": max(times) if len(times) == runs else None,
        "first_frame_s_min": min(times) if times else None,
        "peak_rss_mb_max": max(r["peak_rss_mb"] for r in launches),
        "args": extra,
        "launches": launches,
    }


def targets(row: dict) -> list[dict]:
    slowest, largest = row["first_frame_s_max"], row["peak_rss_mb_max"]
    return [
        {"target": f"first frame within {TARGET_FIRST_FRAME_S:g} s of launch ({row['variant']})", "measured": slowest, "unit": "s",
         "met": slowest is not None and slowest <= TARGET_FIRST_FRAME_S},
        {"target": f"peak RSS at most {TARGET_RSS_MB:g} MB ({row['variant']})", "measured": largest, "unit": "MB", "met": largest <= TARGET_RSS_MB},
    ]  # fmt: skip


def summary(rows: list[dict], failed: int) -> dict:
    """Short lines for the docs table (dyad bench report)."""
    lines: dict = {}
    for row in rows:
        first = row["first_frame_s_max"]
        lines[row["variant"]] = f"first frame {'none' if first is None else f'{first:.2f} s'}, peak RSS {row['peak_rss_mb_max']:.0f} MiB (worst of {len(row['launches'])})"
    return {**lines, "targets met": all(t["met"] for row in rows for t in targets(row)), "failed launches": failed}


def plot_startup(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (times, memory) = plt.subplots(1, 2, figsize=(10, 4))
    for i, row in enumerate(rows):
        firsts = [r["first_frame_s"] for r in row["launches"] if r["first_frame_s"] is not None]
        times.scatter([i] * len(firsts), firsts, label=row["variant"])
        memory.bar(i, row["peak_rss_mb_max"])
    for ax, limit, label in ((times, TARGET_FIRST_FRAME_S, "first frame after launch (s)"), (memory, TARGET_RSS_MB, "peak RSS (MB)")):
        ax.axhline(limit, color="red", linestyle=":", label="target")
        ax.set_xticks(range(len(rows)), [r["variant"] for r in rows])
        ax.set_ylabel(label)
    times.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run_startup(args: argparse.Namespace) -> int:
    from dyad.benchmarks.session_latency import DEFAULT_RESULTS, device_name

    if args.runs < 1 or args.seconds <= 0:
        raise DyadError("--runs must be >= 1 and --seconds > 0")
    variants = {k: v for k, v in VARIANTS.items() if args.learned or not v}
    rows = [run_variant(name, extra, args.runs, args.seconds) for name, extra in variants.items()]
    failed = [(row["variant"], r["error"]) for row in rows for r in row["launches"] if r["exit_status"]]
    report = {
        "benchmark": "startup",
        "device": device_name("cpu"),
        "command": "python -m dyad.runtime.cli demo --seconds S --quiet --sink osc://127.0.0.1:PORT --out TMP",
        "summary": summary(rows, len(failed)),
        "targets": [t for row in rows for t in targets(row)],
        "variants": rows,
    }
    folder = args.out or DEFAULT_RESULTS / report["device"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "startup.json").write_text(json.dumps(report, indent=2))
    plot_startup(rows, folder / "startup.png")
    print(json.dumps(report["summary"], indent=2))
    for variant, error in failed:
        print(f"dyad bench: a launch ({variant}) failed: {error}", file=sys.stderr)
    print(f"dyad bench: results in {folder}")
    return 1 if failed else 0
