"""Sampling steps against compute and quality: one table, one plot.

Per step count: the learned animator's compute per hop for the dyad (8 context +
2 new frames at 30 fps, random features of the real sizes, `--hops` timed hops
after 5 warm-up ones) and the quality metrics of `dyad eval` on held-out
synthetic dialogues (`--data`, or a small corpus generated with a seed the
bundled model was not trained on). Animators are built directly, as `dyad eval`
builds them, so counts past the live session's 8 (e.g. 50) run too.
"""

from __future__ import annotations

import argparse
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from dyad.benchmarks.bench_common import (add_common_args, build_animator, common_options, figure, load_models, model_facts,
                                          new_report, onnx_for, parse_ints, parse_names, save, torch_threads, write_report)  # fmt: skip
from dyad.benchmarks.hop_timing import WindowShape, WindowStream, random_features, run_stream
from dyad.runtime.config import SessionConfig
from dyad.runtime.errors import DyadError
from dyad.runtime.stats import summarize_ms

WARMUP_HOPS = 5
HELDOUT_SEED = 99  # the bundled model's corpus used seed 0: these dialogues are new to it
PLOTTED = ("lip_max_sq", "beat_align")


def add_steps_args(parser: argparse.ArgumentParser) -> None:
    add_common_args(parser, hops=200)
    parser.add_argument("--steps", default="1,2,4,8,50", help="DDIM step counts, comma-separated (1..1000)")
    parser.add_argument("--backend", default="torch", help="torch | onnx: the denoisers timed (quality always runs torch)")
    parser.add_argument("--data", type=Path, default=None, metavar="DIR", help="held-out dialogues (InterAct layout); default: generate some")
    parser.add_argument("--minutes", type=float, default=1.0, help="length of the generated held-out corpus (no --data)")
    parser.add_argument("--takes", type=int, default=None, help="score only the first N dialogues")
    parser.add_argument("--seed", type=int, default=0)


def run_steps(args: argparse.Namespace) -> int:
    opts = common_options(args)
    steps = parse_ints(args.steps, "--steps", 1, 1000)
    backend = parse_names(args.backend, "--backend", ("torch", "onnx"))[0]
    if args.takes is not None and args.takes < 1:
        raise DyadError(f"--takes must be at least 1, got {args.takes}")
    session = SessionConfig()
    models = load_models(opts.model)
    report = new_report("steps", model=model_facts(models), backend=backend, hops=opts.hops, torch_device=opts.device)
    with _heldout(args) as (data, described):
        report["data"] = described
        for count in steps:
            row = {"steps": count, **_latency(models, session, count, backend, opts), **_quality(data, opts.model, count, args)}
            report["rows"].append(row)
            print(f"steps {count}: p99 {row['hop_ms_p99']:.2f} ms, lip_max_sq {row.get('lip_max_sq', float('nan')):.4f}", flush=True)
    report["summary"] = _summary(report["rows"], session)
    path = write_report(report, opts.out, plot)
    print(report["summary"]["table"])
    print(f"results in {path.parent}")
    return 0


@contextmanager
def _heldout(args: argparse.Namespace) -> Iterator[tuple[Path, str]]:
    if args.data is not None:
        yield Path(args.data), str(args.data)
        return
    from dyad.runtime.offline.corpus import write_corpus

    if args.minutes <= 0:
        raise DyadError(f"--minutes must be positive, got {args.minutes}")
    with tempfile.TemporaryDirectory(prefix="dyad-heldout-") as scratch:
        folder = Path(scratch) / "heldout"
        write_corpus(folder, args.minutes, seed=HELDOUT_SEED)
        yield folder, f"generated: write_corpus(minutes={args.minutes:g}, seed={HELDOUT_SEED}), synthetic dialogues not seen in training"


def _latency(models, session: SessionConfig, steps: int, backend: str, opts) -> dict:
    from dyad.models.skeleton import load_default_skeleton

    t = session.timing
    denoisers = onnx_for(models, opts.device) if backend == "onnx" else None
    animator = build_animator(models, load_default_skeleton(), session, steps, opts.device, denoisers, backend)
    stream = WindowStream(WindowShape(t.context_frames, t.hop_frames, t.lookahead_frames, t.fps), random_features(animator), session.controls)
    stats = summarize_ms(run_stream(animator.animate, stream, opts.hops, warmup=WARMUP_HOPS).ms, decimals=3)
    return {f"hop_ms_{k}": v for k, v in stats.items() if k != "count"} | {"hops": stats["count"]}


def _quality(data: Path, model: Path, steps: int, args: argparse.Namespace) -> dict:
    from dyad.runtime.cli.eval import evaluate

    with torch_threads(1):  # quality does not depend on threads; a busy 2-core machine runs one faster
        result = evaluate(data, str(model), steps, None, args.seed, takes=args.takes)
    return {"takes": len(result["per_take"]), **result["mean"]}


def _summary(rows: list[dict], session: SessionConfig) -> dict:
    from dyad.runtime.cli.eval import METRICS

    allowance = session.timing.budget_ms - session.minimum_budget_ms()
    fits = [r["steps"] for r in rows if r["hop_ms_p99"] <= allowance]
    metrics = [m for m in METRICS if m in rows[0]]
    head = "| steps | compute/hop p50 ms | p99 ms | " + " | ".join(metrics) + " |"
    lines = [head, "|" + "---|" * (len(metrics) + 3)]
    for r in rows:
        lines.append(f"| {r['steps']} | {r['hop_ms_p50']:.2f} | {r['hop_ms_p99']:.2f} | " + " | ".join(f"{r[m]:.4g}" for m in metrics) + " |")
    return {
        "measures": "compute: wall time of one LearnedAnimator.animate call per hop (both people; lower, upper, face; all steps); "
        "quality: `dyad eval` means over held-out dialogues (offline sessions, torch on the CPU)",
        "compute_allowance_ms": round(allowance, 3),
        "budget_ms": session.timing.budget_ms,
        "window": {"context_frames": session.timing.context_frames, "new_frames": session.timing.hop_frames, "fps": session.timing.fps},
        "steps_within_allowance_p99": fits,
        "live_session_max_steps": 8,
        "table": "\n".join(lines),
    }


def plot(report: dict, path: Path) -> None:
    fig, axes = figure(3, width=13)
    rows = report["rows"]
    steps = [r["steps"] for r in rows]
    latency, *quality = axes[0]
    for stat, style in (("p50", "-o"), ("p99", "--x")):
        latency.plot(steps, [r[f"hop_ms_{stat}"] for r in rows], style, label=stat)
    latency.axhline(report["summary"]["compute_allowance_ms"], color="red", linestyle=":", label="compute allowance")
    latency.set_ylabel("compute per hop (ms)")
    latency.legend(fontsize=7)
    for ax, metric in zip(quality, PLOTTED):
        values = [r.get(metric, np.nan) for r in rows]
        ax.plot(steps, values, "-o")
        for s, v, r in zip(steps, values, rows):
            ax.annotate(f"{r['hop_ms_p99']:.0f} ms", (s, v), fontsize=7, textcoords="offset points", xytext=(3, 3))
        ax.set_ylabel(f"{metric} (labels: p99 compute per hop)")
    for ax in axes[0]:
        ax.set_xscale("log")
        ax.set_xticks(steps, [str(s) for s in steps])
        ax.minorticks_off()
        ax.set_xlabel("DDIM steps per window")
    fig.suptitle(f"{report['device']}: steps vs compute vs quality ({report['backend']}, {report['torch_device']})", fontsize=9)
    save(fig, path)
