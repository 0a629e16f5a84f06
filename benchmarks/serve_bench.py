"""`dyad bench serve`: how many dyads one `dyad serve` process holds at zero deadline misses.

N = 1, 2, 4, ... real-time sessions run in one in-process server (`SessionHost`, the same host
the HTTP API drives), each replaying the demo dialogue on the wall clock through its own front
end, scheduler, emitter and recordings, all sampling through the one shared batched model
(fixed steps: the count is for the stated step count). The doubling stops at the first N where
any session misses a deadline. Per N: misses, frame latency, dyads per batched call and compute
per batched hop. The result JSON doubles as `dyad serve --capacity-file`.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np

from dyad.benchmarks.bench_common import figure, new_report, results_dir, save, write_report
from dyad.runtime.errors import DyadError
from dyad.runtime.stats import summarize_ms

SETTLE_S = 2.0  # after the last session ends, before the next N starts (threads wind down)


def add_serve_args(parser: argparse.ArgumentParser) -> None:
    from dyad.models.bundled import DEFAULT_MODEL_DIR

    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR, metavar="DIR", help="model folder (default: the bundled model)")
    parser.add_argument("--steps", type=int, default=4, help="DDIM steps, fixed (default 4)")
    parser.add_argument("--seconds", type=float, default=6.0, help="audio seconds per session (default 6)")
    parser.add_argument("--max-sessions", type=int, default=64, help="stop doubling here (default 64)")
    parser.add_argument("--gather-ms", type=float, default=2.0, help="the server's batch gathering window (default 2)")
    parser.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N (default cpu)")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR", help="results folder (default: benchmarks/results/<device-name>/)")


def run_serve_bench(args: argparse.Namespace) -> int:
    if args.seconds <= 0 or args.max_sessions < 1 or args.steps < 1:
        raise DyadError("--seconds, --max-sessions and --steps must be positive")
    from dyad.benchmarks.session_latency import device_name

    host, base = _host(args)
    report = new_report("serve", model=host.model.name, steps=args.steps, torch_device=args.device, seconds=args.seconds,
                        gather_ms=args.gather_ms, budget_ms=base.timing.budget_ms)  # fmt: skip
    report["device"] = device_name(args.device)
    try:
        sessions = 1
        while sessions <= args.max_sessions:
            row = _measure(host, base, sessions, args.seconds)
            report["rows"].append(row)
            print(f"{sessions} sessions: {row['deadline_misses']} misses, {row['dyads_per_call_mean']:.2f} dyads per call, "
                  f"compute per batched hop p99 {row.get('batch_ms_p99', math.nan):.1f} ms", flush=True)  # fmt: skip
            if row["deadline_misses"] > 0 or row["failed"]:
                break
            sessions *= 2
    finally:
        host.close()
    report["summary"] = _summary(report["rows"], base, args.max_sessions)
    path = write_report(report, results_dir(args.out), plot)
    print(f"dyads at zero misses: {report['summary']['sessions_at_zero_misses']}; results in {path}")
    return 0


def _host(args: argparse.Namespace):
    from dyad.models.skeleton import load_default_skeleton
    from dyad.runtime.animate.learned_config import LearnedConfig
    from dyad.runtime.cli.model import auto_backend
    from dyad.runtime.config import SessionConfig, SpeechFeaturesConfig
    from dyad.runtime.serve.capacity import unbounded
    from dyad.runtime.serve.host import SessionHost
    from dyad.runtime.serve.shared_model import SharedModel

    base = SessionConfig(status_interval_s=0.0, health_interval_s=0.0, speech=SpeechFeaturesConfig(device=args.device)).validate()
    config = LearnedConfig(args.model, steps=args.steps, backend=auto_backend(args.model), device=args.device, adapt=False).validate()
    model = SharedModel(config, base, load_default_skeleton(), {"face": "learned", "body": "learned"}, args.gather_ms)
    return SessionHost(model, unbounded()), base


def _measure(host, base, sessions: int, seconds: float) -> dict:
    from dyad.runtime.assets import demo_audio_path
    from dyad.runtime.serve.session_spec import parse_session_spec

    first_record = len(host.model.batcher.records)
    hosted = [host.create(parse_session_spec({"wav": [str(demo_audio_path())], "seconds": seconds, "seed": i}, base)) for i in range(sessions)]
    for h in hosted:
        host.wait(h.id, seconds + 120)
    records = host.model.batcher.records[first_record:]
    reports = [h.session.report() for h in hosted]
    latency = np.concatenate([[r.latency.percentiles([50, 99])] for r in reports])
    dyads = np.array([r.dyads for r in records], dtype=float) if records else np.zeros(1)
    compute = summarize_ms(np.array([r.compute_ms for r in records]), decimals=3)
    time.sleep(SETTLE_S)
    return {
        "sessions": sessions,
        "deadline_misses": int(sum(r.deadline_misses for r in reports)),
        "misses_per_session": [r.deadline_misses for r in reports],
        "frames": int(sum(r.frames for r in reports)),
        "failed": [h.error for h in hosted if h.state == "failed"],
        "latency_ms_p50_worst": round(float(np.nanmax(latency[:, 0])) / 1e6, 2),
        "latency_ms_p99_worst": round(float(np.nanmax(latency[:, 1])) / 1e6, 2),
        "batched_calls": len(records),
        "dyads_per_call_mean": round(float(dyads.mean()), 3),
        "dyads_per_call_max": int(dyads.max()),
        **{f"batch_ms_{k}": v for k, v in compute.items() if k != "count"},
        "compute_ms_per_dyad_hop": round(sum(r.compute_ms for r in records) / max(1, sum(r.dyads for r in records)), 3),
    }


def _summary(rows: list[dict], base, max_sessions: int) -> dict:
    clean = [r["sessions"] for r in rows if r["deadline_misses"] == 0 and not r["failed"]]
    last = rows[-1]
    return {
        "sessions_at_zero_misses": max(clean, default=0),
        "criterion": f"the largest N (powers of two) of real-time sessions in one server with no deadline miss in any session at the "
                     f"default budget D = {base.timing.budget_ms:g} ms; whole sessions (front end, scheduler, emitter, recordings) on "
                     "this machine, the model shared and batched. The true limit lies between this N and the next power of two.",
        "stopped": f"misses at N = {last['sessions']}" if last["deadline_misses"] or last["failed"] else f"reached --max-sessions {max_sessions}",
    }  # fmt: skip


def plot(report: dict, path: Path) -> None:
    fig, axes = figure(2, width=11.0)
    rows = report["rows"]
    n = [r["sessions"] for r in rows]
    left, right = axes[0]
    left.plot(n, [r.get("batch_ms_p50", math.nan) for r in rows], "-o", label="p50")
    left.plot(n, [r.get("batch_ms_p99", math.nan) for r in rows], "--x", label="p99")
    title = f"{report['device']}, {report['steps']} steps"
    left.set(xscale="log", xlabel="sessions in one server", ylabel="compute per batched hop (ms)", title=title)
    left.legend()
    right.bar([str(x) for x in n], [r["deadline_misses"] for r in rows], color="tab:red", label="deadline misses")
    twin = right.twinx()
    twin.plot([str(x) for x in n], [r["dyads_per_call_mean"] for r in rows], "-o", color="tab:blue", label="dyads per call (mean)")
    right.set(xlabel="sessions", ylabel="deadline misses (all sessions)")
    twin.set_ylabel("dyads per batched call")
    save(fig, path)
