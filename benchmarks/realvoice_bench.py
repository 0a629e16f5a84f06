"""`dyad bench realvoice`: the animators on real human voices (dev dialogues), JSON + PNG.

    dyad bench realvoice --real ../shared/realvoice [--model DIR] [--steps 4]

Runs the real-voice evaluation (`dyad.runtime.offline.realvoice_eval`) for:
- before: the procedural animator and the learned one as they were before talker attribution
  and mel normalisation existed (both switched off);
- procedural, fixed attribution: the attribution's decision against a fixed 0 dB midpoint (`adaptive=False`);
- procedural: the rule-based animator;
- learned: the model folder's networks on both parts, with its per-person mel normalisation
  (when the folder has a `mel_reference.json`), run-time filter and root anchor;
- learned, raw mel: the same without the mel normalisation;
- learned, no filter, no anchor: what the run-time clean-up costs in gesture energy;
- default: what `dyad run` gives with this folder (its `parts`: face and body each learned or
  procedural).
Writes `realvoice.json` and `realvoice.png` to benchmarks/results/<device>/ (or --out DIR).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from dyad.benchmarks.bench_common import results_dir
from dyad.runtime.errors import DyadError


def add_realvoice_args(parser: argparse.ArgumentParser) -> None:
    from dyad.models.bundled import DEFAULT_MODEL_DIR

    parser.add_argument("--real", type=Path, required=True, metavar="DIR", help="folder of real recordings (e.g. ../shared/realvoice)")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR, metavar="DIR", help="model folder (default: the bundled model)")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dialogues", type=int, default=None, help="only the first N dev dialogues")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR", help="result folder (default: benchmarks/results/<device>/)")


def _factories(model: Path, steps: int):
    """(name, animator factory, session config changes) per configuration measured."""
    import torch

    from dyad.models.checkpoint import ModelLoadError
    from dyad.models.model_dir import load_model_dir
    from dyad.models.skeleton import load_default_skeleton
    from dyad.runtime.animate.learned_animator import LearnedAnimator
    from dyad.runtime.animate.learned_config import LearnedConfig
    from dyad.runtime.animate.partwise import PartwiseAnimator, manifest_parts
    from dyad.runtime.animate.procedural import ProceduralAnimator

    torch.set_num_threads(1)
    skeleton = load_default_skeleton()
    try:
        load_model_dir(model, None)
    except ModelLoadError as error:
        raise DyadError(str(error)) from None

    def learned(**changes):
        def make(session):
            config = replace(LearnedConfig(Path(model), adapt=False), steps=steps, **changes)
            return LearnedAnimator(load_model_dir(model, None), skeleton, config, session.timing.fps, session.seed)

        return make

    parts, _ = manifest_parts(model)

    def default(session):
        if set(parts.values()) == {"procedural"}:
            return None
        animator = learned()(session)
        if "procedural" not in parts.values():
            return animator
        return PartwiseAnimator(animator, ProceduralAnimator(skeleton, fps=session.timing.fps, seed=session.seed), parts["face"], parts["body"])

    from dyad.runtime.frontend.attribution import AttributionConfig

    before = {"attribution": AttributionConfig(enabled=False)}
    return [
        ("procedural, before (no attribution)", lambda session: None, before),
        ("learned, before (no attribution, raw mel)", learned(mel_normalize=False), before),
        ("procedural, fixed attribution", lambda session: None, {"attribution": AttributionConfig(adaptive=False)}),
        ("procedural", lambda session: None, None),
        ("learned", learned(), None),
        ("learned, raw mel", learned(mel_normalize=False), None),
        ("learned, no filter, no anchor", learned(smoothing=None, anchor=None), None),
        (f"default (face {parts['face']}, body {parts['body']})", default, None),
    ]


def run_realvoice(args: argparse.Namespace) -> int:
    from dyad.runtime.offline.realvoice_eval import evaluate_real, format_real_table

    out = results_dir(args.out)
    results = []
    for name, factory, changes in _factories(args.model, args.steps):
        start = time.perf_counter()
        result = evaluate_real(args.real, name, factory, args.seed, args.dialogues, config_changes=changes)
        result["wall_s"] = round(time.perf_counter() - start, 1)
        results.append(result)
        print(f"realvoice: {name}: {result['wall_s']} s", flush=True)
    table = format_real_table(results)
    print(table)
    out.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": "realvoice", "device": out.name, "model": str(args.model), "steps": args.steps, "results": results, "table": table}
    (out / "realvoice.json").write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    plot(results, out / "realvoice.png")
    print(f"dyad bench: wrote {out / 'realvoice.json'} and realvoice.png")
    return 0


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["animator"] for r in results]
    panels = (("jaw_corr", "JawOpen vs own-voice envelope (r)"), ("attribution_ratio", "attribution ratio (alone / partner only)"),
              ("lip_max_sq", "lip error vs forced-alignment visemes"), ("wrist_speed_mean", "wrist speed (shoulder widths / s)"))  # fmt: skip
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.2))
    x = np.arange(len(names))
    for ax, (key, title) in zip(axes, panels):
        ax.bar(x, [r["mean"][key] for r in results], color=["#bbb" if "before" in n else "#888" if n.startswith("procedural") else "#3a7" for n in names])
        ax.set_title(title, fontsize=9)
        ax.set_xticks(x, names, rotation=35, ha="right", fontsize=7)
    fig.suptitle(f"real-voice dev dialogues ({results[0]['dialogues']}, {results[0]['seconds']:.0f} s)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
