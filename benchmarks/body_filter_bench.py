"""`dyad bench body-filter`: choose the learned body's run-time filter on synthetic held-out dialogues.

    dyad corpus --minutes 4 --out heldout --seed 99
    dyad bench body-filter --data heldout [--model DIR] [--steps 4] [--takes N]

Every held-out sequence runs through an offline session (as `dyad eval --data` does) once per
candidate setting of the One-Euro filter (`runtime/animate/motion_filter.py`) and the root
anchor (`runtime/animate/root_anchor.py`). Per setting, against the capture's own motion:

- wrist speed mean and p95 (both wrists relative to the hips, shoulder widths per second),
  as ratios to the ground truth's: the gesture energy the setting keeps;
- seam jerk: mean wrist jerk on the frames where one hop's output meets the next (with the
  default one-frame hop, every frame), as a ratio to the capture's jerk on the same frames;
- distance error: how far the two people's distance strays from the capture's (cm), which
  is what the root anchor is for.

The chosen setting is the one closest to the capture on all three at once: the smallest sum of
|log ratio| of wrist speed mean, wrist speed p95 and seam jerk (a setting that keeps the energy
by keeping the hop seams loses as much as one that removes the seams with the gestures). The
choice is made on synthetic data only, never on real voices.
Writes `body_filter.json` and `body_filter.png` to benchmarks/results/<device>/ (or --out DIR).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from dyad.benchmarks.bench_common import results_dir
from dyad.runtime.animate.motion_filter import OneEuroConfig
from dyad.runtime.animate.root_anchor import AnchorConfig
from dyad.runtime.config import TimingConfig
from dyad.runtime.errors import DyadError

# (name, One-Euro filter or None, anchor or None): the setting before this bench first, then the candidates.
CANDIDATES: tuple[tuple[str, OneEuroConfig | None, AnchorConfig | None], ...] = (
    ("euro 3 Hz b0.3 + anchor", OneEuroConfig(3.0, 0.3), AnchorConfig()),
    ("raw (no filter, no anchor)", None, None),
    ("anchor only", None, AnchorConfig()),
    ("euro 5 Hz b1 + anchor", OneEuroConfig(5.0, 1.0), AnchorConfig()),
    ("euro 8 Hz b1 + anchor", OneEuroConfig(8.0, 1.0), AnchorConfig()),
    ("euro 3 Hz b3 + anchor", OneEuroConfig(3.0, 3.0), AnchorConfig()),
    ("euro 5 Hz b3 + anchor", OneEuroConfig(5.0, 3.0), AnchorConfig()),
)


def add_body_filter_args(parser: argparse.ArgumentParser) -> None:
    from dyad.models.bundled import DEFAULT_MODEL_DIR

    parser.add_argument("--data", type=Path, required=True, metavar="DIR", help="synthetic held-out dialogues (dyad corpus --seed 99)")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR, metavar="DIR", help="model folder (default: the bundled model)")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--takes", type=int, default=None, help="only the first N sequences")
    parser.add_argument("--jobs", type=int, default=1, help="candidate settings run in this many processes at once")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR", help="result folder (default: benchmarks/results/<device>/)")


def motion_stats(skeleton, roots: np.ndarray, rotations: np.ndarray, fps: int, hop: int, first_new: int) -> dict[str, np.ndarray]:
    """Per person: wrist speeds [T-1] and wrist jerk [T-3] (shoulder widths per s, per s^3) and the join mask."""
    from dyad.models.pose import forward_kinematics

    rest = skeleton.rest_positions
    width = float(np.linalg.norm(rest[skeleton.index("LeftArm")] - rest[skeleton.index("RightArm")]))
    hands = skeleton.joint_subset(["LeftHand", "RightHand"])
    speeds, jerks = [], []
    for p in range(roots.shape[0]):
        pos = forward_kinematics(skeleton, roots[p], rotations[p])
        rel = (pos[:, hands] - pos[:, :1]) / width
        speeds.append(np.linalg.norm(np.diff(rel, axis=0), axis=-1).ravel() * fps)
        jerks.append(np.linalg.norm(np.diff(rel, n=3, axis=0), axis=-1) * fps**3)
    t = roots.shape[1]
    # jerk sample k spans frames k..k+3; it straddles a join when frame k+2 starts a hop (k+1 -> k+2 crosses it)
    joins = ((np.arange(t - 3) + 2 - first_new) % hop) == 0
    return {"speed": np.concatenate(speeds), "jerk": np.stack(jerks), "joins": joins}


def _summary(stats: list[dict]) -> dict[str, float]:
    speed = np.concatenate([s["speed"] for s in stats])
    seam = np.concatenate([s["jerk"][:, s["joins"]].ravel() for s in stats])
    return {"wrist_speed_mean": float(speed.mean()), "wrist_speed_p95": float(np.percentile(speed, 95)), "seam_jerk": float(seam.mean())}


def distance_to_capture(row: dict) -> float:
    return sum(abs(math.log(row[key])) for key in ("speed_mean_ratio", "speed_p95_ratio", "seam_ratio"))


def choose(rows: list[dict]) -> dict:
    """The row closest to the capture's wrist speed (mean, p95) and seam jerk together."""
    return min(rows, key=distance_to_capture)


def _run_setting(data: Path, take_count: int | None, model: Path, steps: int, seed: int, index: int) -> dict:
    """One candidate over the held-out takes (a worker process of its own when --jobs > 1): its summary row."""
    import torch

    from dyad.models import metrics
    from dyad.models.interact import load_interact
    from dyad.models.model_dir import load_model_dir
    from dyad.models.pose import yaw_of
    from dyad.runtime.animate.learned_animator import LearnedAnimator
    from dyad.runtime.animate.learned_config import LearnedConfig
    from dyad.runtime.cli.eval import run_take

    torch.set_num_threads(1)
    name, smoothing, anchor = CANDIDATES[index]
    dataset = load_interact(data)
    skeleton = dataset.skeleton
    models = load_model_dir(model, None)

    def make(session):
        config = replace(LearnedConfig(Path(model), adapt=False), steps=steps, smoothing=smoothing, anchor=anchor)
        return LearnedAnimator(models, skeleton, config, session.timing.fps, session.seed)

    start = time.perf_counter()
    stats, distance = [], []
    for take in dataset.takes[:take_count]:
        roots, rotations, _ = run_take(take, str(model), steps, None, seed, skeleton, factory=make)
        t = min(roots.shape[1], take.frames)
        stats.append(motion_stats(skeleton, roots[:, :t], rotations[:, :t], take.fps, TimingConfig().hop_frames, 0))
        xz = lambda r: r[:, :t][..., [0, 2]]  # noqa: E731
        yaw = lambda rot: np.unwrap(yaw_of(rot[:, :t, 0]), axis=-1)  # noqa: E731
        distance.append(metrics.two_person(xz(roots), yaw(rotations), xz(take.roots), yaw(take.rotations))["distance_error_cm"])
    return {"setting": name, "smoothing": None if smoothing is None else asdict(smoothing), "anchor": None if anchor is None else asdict(anchor),
            **_summary(stats), "distance_error_cm": float(np.mean(distance)), "wall_s": round(time.perf_counter() - start, 1)}  # fmt: skip


def run_body_filter(args: argparse.Namespace) -> int:
    from concurrent.futures import ProcessPoolExecutor

    from dyad.models.interact import DatasetError, load_interact

    if args.jobs < 1:
        raise DyadError(f"--jobs must be >= 1, got {args.jobs}")
    try:
        dataset = load_interact(args.data)
    except DatasetError as error:
        raise DyadError(str(error)) from None
    takes = dataset.takes[: args.takes]
    hop = TimingConfig().hop_frames
    truth = _summary([motion_stats(dataset.skeleton, t.roots, t.rotations, t.fps, hop, 0) for t in takes])
    jobs = [(args.data, args.takes, args.model, args.steps, args.seed, index) for index in range(len(CANDIDATES))]
    if args.jobs == 1:
        rows = [_run_setting(*job) for job in jobs]
    else:
        with ProcessPoolExecutor(args.jobs) as pool:
            rows = list(pool.map(_run_setting, *zip(*jobs)))
    for r in rows:
        r.update(speed_mean_ratio=r["wrist_speed_mean"] / truth["wrist_speed_mean"], speed_p95_ratio=r["wrist_speed_p95"] / truth["wrist_speed_p95"],
                 seam_ratio=r["seam_jerk"] / truth["seam_jerk"])  # fmt: skip
        r["distance_to_capture"] = distance_to_capture(r)
        print(f"body-filter: {r['setting']}: speed {r['speed_mean_ratio']:.2f} / p95 {r['speed_p95_ratio']:.2f} of the capture's, "
              f"seam {r['seam_ratio']:.2f}x, distance error {r['distance_error_cm']:.1f} cm ({r['wall_s']} s)", flush=True)  # fmt: skip
    chosen = choose(rows)
    out = results_dir(args.out)
    out.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": "body_filter", "device": out.name, "data": str(args.data), "takes": len(takes),
               "seconds": float(sum(t.frames / t.fps for t in takes)), "model": str(args.model), "steps": args.steps,
               "ground_truth": truth, "rows": rows,
               "chosen": {"setting": chosen["setting"], "smoothing": chosen["smoothing"], "anchor": chosen["anchor"]}}  # fmt: skip
    (out / "body_filter.json").write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    plot(rows, chosen["setting"], out / "body_filter.png")
    print(f"body-filter: chosen: {chosen['setting']}\ndyad bench: wrote {out / 'body_filter.json'} and body_filter.png")
    return 0


def plot(rows: list[dict], chosen: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["setting"] for r in rows]
    x = np.arange(len(names))
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.4))
    panels = (("speed_mean_ratio", "wrist speed mean / capture's"), ("speed_p95_ratio", "wrist speed p95 / capture's"),
              ("seam_ratio", "seam jerk / capture's"))  # fmt: skip
    for ax, (key, title) in zip(axes, panels):
        ax.bar(x, [r[key] for r in rows], color=["#3a7" if n == chosen else "#888" for n in names])
        ax.axhline(1.0, color="k", lw=0.8)
        if key == "seam_ratio":
            ax.set_yscale("log")
        ax.set_title(title, fontsize=9)
        ax.set_xticks(x, names, rotation=35, ha="right", fontsize=7)
    fig.suptitle("learned body run-time filter on synthetic held-out dialogues (green: chosen)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
