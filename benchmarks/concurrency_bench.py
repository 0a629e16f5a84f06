"""How many dyads one device animates at 30 fps: N sessions batched into one model call per step.

N = 1, 2, 4, 8, ... dyads run in lockstep, each with its own window stream (8
context + 2 new frames, random features of the real sizes, its own outputs as
context). Every hop, all N windows go through `LearnedAnimator.animate_batch`:
one call per denoiser per DDIM step for all of them (body batch N, face batch
2N), inputs built and poses decoded per dyad. The doubling stops at the first N
whose p99 compute per hop no longer fits (or at `--max-dyads`).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from dyad.benchmarks.bench_common import (add_common_args, build_animator, common_options, figure, load_models, model_facts,
                                          new_report, onnx_for, parse_ints, parse_names, save, write_report)  # fmt: skip
from dyad.benchmarks.hop_timing import WindowShape, WindowStream, random_features
from dyad.runtime.config import SessionConfig
from dyad.runtime.errors import DyadError
from dyad.runtime.stats import summarize_ms

WARMUP_HOPS = 5


def add_concurrency_args(parser: argparse.ArgumentParser) -> None:
    add_common_args(parser, hops=50)
    parser.add_argument("--steps", default="4", help="DDIM steps per window (default 4, the live default)")
    parser.add_argument("--backend", default="torch", help="torch | onnx")
    parser.add_argument("--max-dyads", type=int, default=1024, help="stop doubling here (default 1024)")


def run_concurrency(args: argparse.Namespace) -> int:
    opts = common_options(args)
    steps = parse_ints(args.steps, "--steps", 1, 1000)[0]
    backend = parse_names(args.backend, "--backend", ("torch", "onnx"))[0]
    if args.max_dyads < 1:
        raise DyadError(f"--max-dyads must be at least 1, got {args.max_dyads}")
    session = SessionConfig()
    limit = limit_ms(session)
    models = load_models(opts.model)
    animator = _animator(models, session, steps, backend, opts.device)
    report = new_report("concurrency", model=model_facts(models), steps=steps, backend=backend, hops=opts.hops, torch_device=opts.device)
    dyads = 1
    while dyads <= args.max_dyads:
        row = _measure(animator, session, dyads, opts.hops)
        row["fits"] = row["hop_ms_p99"] <= limit
        report["rows"].append(row)
        print(f"{dyads} dyads: p99 {row['hop_ms_p99']:.2f} ms per hop (limit {limit:.1f})", flush=True)
        if not row["fits"]:
            break
        dyads *= 2
    report["summary"] = _summary(report["rows"], session, args.max_dyads)
    path = write_report(report, opts.out, plot)
    print(f"sessions per device at {session.timing.fps} fps: {report['summary']['sessions_per_device']}; results in {path.parent}")
    return 0


def limit_ms(session: SessionConfig) -> float:
    """What one hop's compute may take: the hop itself (or hops queue up) and the budget's allowance
    (D - hop - lookahead - audio buffering), whichever is smaller."""
    t = session.timing
    return min(t.hop_frames / t.fps * 1000.0, t.budget_ms - session.minimum_budget_ms())


def _animator(models, session: SessionConfig, steps: int, backend: str, device: str):
    from dyad.models.skeleton import load_default_skeleton

    denoisers = onnx_for(models, device) if backend == "onnx" else None
    return build_animator(models, load_default_skeleton(), session, steps, device, denoisers, backend)


def _measure(animator, session: SessionConfig, dyads: int, hops: int) -> dict:
    t = session.timing
    shape = WindowShape(t.context_frames, t.hop_frames, t.lookahead_frames, t.fps)
    streams = [WindowStream(shape, random_features(animator, seed=i), session.controls) for i in range(dyads)]
    times = []
    for hop in range(WARMUP_HOPS + hops):
        windows = [s.next() for s in streams]
        began = time.perf_counter_ns()
        people = animator.animate_batch(windows)
        if hop >= WARMUP_HOPS:
            times.append((time.perf_counter_ns() - began) / 1e6)
        for stream, poses in zip(streams, people):
            stream.push(poses)
    stats = summarize_ms(np.array(times), decimals=3)
    row = {"dyads": dyads, **{f"hop_ms_{k}": v for k, v in stats.items() if k != "count"}, "hops": stats["count"]}
    row["per_dyad_ms_p50"] = round(stats["p50"] / dyads, 3)
    return row


def _summary(rows: list[dict], session: SessionConfig, max_dyads: int) -> dict:
    t = session.timing
    fitting = [r["dyads"] for r in rows if r["fits"]]
    last = rows[-1]
    return {
        "sessions_per_device": max(fitting, default=0),
        "criterion": "the largest measured N (powers of two) whose p99 animator compute per hop, all N dyads in one batched "
        f"call, fits both the hop ({t.hop_frames / t.fps * 1000:.1f} ms: slower, and hops queue up without end) and the default "
        f"budget's compute allowance (D {t.budget_ms:g} ms - hop - lookahead - audio buffering = "
        f"{t.budget_ms - session.minimum_budget_ms():.1f} ms): then every frame of every session is ready before its send time, so the "
        "animator causes no deadline misses. Not included: each session's audio front end (separation, VAD, mel: CPU work per "
        "session) and transport. The true limit lies between this N and the next power of two.",
        "limit_ms": round(limit_ms(session), 3),
        "hop_ms": round(t.hop_frames / t.fps * 1000.0, 3),
        "compute_allowance_ms": round(t.budget_ms - session.minimum_budget_ms(), 3),
        "budget_ms": t.budget_ms,
        "stopped": f"p99 over the limit at N = {last['dyads']}" if not last["fits"] else f"reached --max-dyads {max_dyads}",
    }


def plot(report: dict, path: Path) -> None:
    fig, axes = figure(1)
    ax = axes[0][0]
    rows = report["rows"]
    dyads = [r["dyads"] for r in rows]
    for stat, style in (("p50", "-o"), ("p99", "--x")):
        ax.plot(dyads, [r[f"hop_ms_{stat}"] for r in rows], style, label=f"compute per hop {stat}")
    ax.axhline(report["summary"]["limit_ms"], color="red", linestyle=":", label="limit (hop and allowance)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("dyads served by one batched call per step")
    ax.set_ylabel("compute per hop (ms)")
    ax.set_title(f"{report['device']}: {report['steps']} steps, {report['backend']} on {report['torch_device']}: "
                 f"{report['summary']['sessions_per_device']} dyads at 30 fps", fontsize=8)  # fmt: skip
    ax.legend(fontsize=7)
    save(fig, path)
