"""`dyad bench budget-quality`: real-voice quality at the old D = 150 ms timing and at the default one.

    dyad bench budget-quality --real ../shared/realvoice [--learned] [--dialogues N]

The same real-voice evaluation as `dyad bench realvoice` (jaw-voice correlation,
attribution, lip error against forced-alignment visemes, wrist speed) for the default
animators (and with --learned, the learned animator on both parts), run offline under two
session timings: D = 150 ms with a hop of 2 frames, 10 ms blocks and centre-anchored mel
(the earlier default), and the current defaults. Writes `budget_quality.json` + `.png`.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

from dyad.benchmarks.bench_common import results_dir

METRICS = ("jaw_corr", "attribution_ratio", "lip_max_sq", "wrist_speed_mean")


def timings() -> dict[str, dict]:
    """Session config changes per timing: the earlier D = 150 ms default, and today's."""
    from dyad.runtime.config import MelConfig, SessionConfig, TimingConfig

    now = SessionConfig()
    earlier = {"timing": TimingConfig(budget_ms=150.0, hop_frames=2, block_ms=10.0), "mel": replace(MelConfig(), anchor="centre")}
    return {"D = 150 ms (hop 2, centred mel)": earlier, f"D = {now.timing.budget_ms:g} ms (default)": {}}


def add_budget_quality_args(parser: argparse.ArgumentParser) -> None:
    from dyad.models.bundled import DEFAULT_MODEL_DIR

    parser.add_argument("--real", type=Path, required=True, metavar="DIR", help="folder of real recordings (e.g. ../shared/realvoice)")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR, metavar="DIR", help="model folder (default: the bundled model)")
    parser.add_argument("--learned", action="store_true", help="also the learned animator on both parts")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--dialogues", type=int, default=None, help="only the first N dev dialogues")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR", help="result folder (default: benchmarks/results/<device>/)")


def run_budget_quality(args: argparse.Namespace) -> int:
    from dyad.benchmarks.realvoice_bench import _factories
    from dyad.runtime.offline.realvoice_eval import evaluate_real

    wanted = ("default", "learned") if args.learned else ("default",)
    factories = [(name, make) for name, make, _ in _factories(args.model, args.steps) if name.split(" (")[0] in wanted]
    rows = []
    for timing, changes in timings().items():
        for name, make in factories:
            start = time.perf_counter()
            result = evaluate_real(args.real, name, make, 0, args.dialogues, config_changes=changes or None)
            rows.append({"timing": timing, "animator": name, **{k: round(result["mean"][k], 4) for k in METRICS},
                         "dialogues": result["dialogues"], "wall_s": round(time.perf_counter() - start, 1)})  # fmt: skip
            print(f"budget-quality: {timing}, {name}: " + ", ".join(f"{k} {rows[-1][k]}" for k in METRICS), flush=True)
    out = results_dir(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = {"benchmark": "budget_quality", "device": out.name, "model": str(args.model), "steps": args.steps,
              "summary": summary(rows), "results": rows}  # fmt: skip
    (out / "budget_quality.json").write_text(json.dumps(report, indent=1) + "\n")
    _plot(rows, out / "budget_quality.png")
    print(f"dyad bench: wrote {out / 'budget_quality.json'}")
    return 0


def summary(rows: list[dict]) -> dict:
    """Short lines for the docs table: jaw-voice r / lip error / wrist speed per timing and animator."""
    return {f"{r['timing'].split(' (')[0]}, {r['animator'].split(' (')[0]}": f"jaw r {r['jaw_corr']:.3f}, lip err {r['lip_max_sq']:.4f}, wrist {r['wrist_speed_mean']:.3f}"
            for r in rows}  # fmt: skip


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, len(METRICS), figsize=(4 * len(METRICS), 4))
    labels = [f"{r['timing']}\n{r['animator']}" for r in rows]
    for ax, key in zip(axes, METRICS):
        ax.bar(np.arange(len(rows)), [r[key] for r in rows], color=["#888" if "150" in r["timing"] else "#3a7" for r in rows])
        ax.set_title(key, fontsize=9)
        ax.set_xticks(np.arange(len(rows)), labels, rotation=35, ha="right", fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
