"""`dyad eval`: animate held-out dialogues through the real pipeline and score them against ground truth.

    dyad eval --data data/heldout --model procedural             the baseline
    dyad eval --data data/heldout --model DIR --steps 4          a learned model folder
    dyad eval --data data/heldout --model DIR --steps 1,2,4,8,50 the metric-vs-steps table
    dyad eval --real ../shared/realvoice --model DIR             real human voices (runtime/realvoice_eval.py)

Every sequence's two WAVs run through an offline session (separation, VAD, mel,
words from the transcript when there is one), exactly as live audio would; the
frames it sends are compared with the dataset's motion and face (the lip-accurate
face where the sequence has one). The actions and facing given to the session are
the ground truth's most common ones. Results are means over sequences and people;
`--out FILE.json` keeps them with the per-sequence values.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from dyad.runtime.errors import DyadError

METRICS = ("lip_max_sq", "lip_mse", "fdd_signed", "fdd_abs", "beat_align", "beat_recall", "motion_beats", "diversity_cm", "jerk", "foot_skate_cm_s",
           "distance_error_cm", "distance_plausible", "facing_error_deg")  # fmt: skip


def register(commands) -> None:
    from dyad.runtime.cli.data import add_dataset_options

    ev = commands.add_parser("eval", help="score an animator on held-out dialogues (lip error, FDD, beats, diversity, jerk, ...)")
    ev.add_argument("--data", type=Path, default=None, metavar="DIR", help="InterAct-layout folder of held-out sequences")
    ev.add_argument("--real", type=Path, default=None, metavar="DIR",
                    help="folder of real recordings (+ transcripts.json): score on two-person dev dialogues built from them")  # fmt: skip
    ev.add_argument("--model", default="procedural", metavar="DIR|procedural")
    ev.add_argument("--steps", default="4", help="DDIM steps, or a comma list for the metric-vs-steps table (any count up to 1000)")
    ev.add_argument("--face-weights", choices=("base", "swapped", "finetuned"), default=None)
    ev.add_argument("--face-mesh", type=Path, default=None, help="npz with neutral [V,3], deltas [52,V,3], lip_vertices: adds LVE")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--takes", type=int, default=None, help="only the first N sequences (quick tables)")
    ev.add_argument("--out", type=Path, default=None, metavar="FILE.json")
    add_dataset_options(ev)
    ev.set_defaults(handler=run_eval)


def _animator(model: str, steps: int, face_weights: str | None, session, skeleton):
    if model == "procedural":
        return None
    from dyad.models.checkpoint import ModelLoadError
    from dyad.models.model_dir import load_model_dir
    from dyad.runtime.animate.learned_animator import LearnedAnimator
    from dyad.runtime.animate.learned_config import LearnedConfig

    try:
        models = load_model_dir(model, face_weights)
    except ModelLoadError as error:
        raise DyadError(str(error)) from None
    # built directly (not load_learned_animator) so the table may go past the live session's 8 steps
    config = replace(LearnedConfig(Path(model), adapt=False), steps=steps)
    return LearnedAnimator(models, skeleton, config, session.timing.fps, session.seed)


def _session_config(take, actions: tuple[str, str], facing: bool, seed: int):
    from dyad.runtime.config import SessionConfig
    from dyad.runtime.frames import ControlState
    from dyad.runtime.config import DEFAULT_BERT, SpeechFeaturesConfig

    speech = SpeechFeaturesConfig(bert=DEFAULT_BERT, asr=f"file:{take.transcript}") if take.transcript else SpeechFeaturesConfig()
    return SessionConfig(offline=True, seed=seed, speech=speech, controls=ControlState(actions=actions, facing=facing), status_interval_s=0.0)


def run_take(take, model: str, steps: int, face_weights: str | None, seed: int, skeleton, factory=None):
    """Offline session over the take's WAVs -> (roots [2,T,3], rotations [2,T,J,3], face [2,T,61]);
    `factory(session_config)` builds the animator instead of `model` when given."""
    from dyad.models.actions import ACTIONS
    from dyad.runtime.session import Session
    from dyad.runtime.offline.train_data import infer_actions
    from dyad.runtime.audio.wav_source import WavReplaySource, open_wav_inputs

    labels = infer_actions(take.roots, skeleton.rest_root_height, take.fps)
    actions = tuple(ACTIONS[int(np.bincount(row, minlength=3).argmax())] for row in labels)
    from dyad.models.pose import yaw_of

    yaw = yaw_of(take.rotations[:, 0, 0])
    config = _session_config(take, actions, bool(np.cos(yaw[1] - yaw[0]) < 0), seed).validate()
    source = WavReplaySource(open_wav_inputs(list(take.wavs), config.audio.sample_rate), block_ms=config.timing.block_ms, realtime=False)
    animator = factory(config) if factory is not None else _animator(model, steps, face_weights, config, skeleton)
    result = Session(config, source, animator=animator, skeleton=skeleton, keep_frames=True).run()
    people = [[bundle.people[p] for bundle in result.bundles] for p in (0, 1)]
    roots = np.array([[pose.root_position for pose in ps] for ps in people])
    rotations = np.array([[pose.joint_rotations for pose in ps] for ps in people])
    return roots, rotations, np.array([[pose.face for pose in ps] for ps in people])


def score_take(take, feats: dict, pred: tuple, skeleton, mesh=None) -> dict[str, float]:
    from dyad.models import metrics
    from dyad.models.pose import forward_kinematics, yaw_of

    roots, rotations, face = pred
    t = min(roots.shape[1], take.frames, len(feats["mel"]))
    # lip-accurate data is its own one-actor set (lip_acc/), not a copy of these takes; a take whose faces
    # could not be read (InterAct without --face-columns) is scored on its motion only.
    gt_face = None if take.face is None else take.face[:, :t]
    hands = skeleton.joint_subset(["LeftHand", "RightHand"])
    feet = skeleton.joint_subset([n for n in ("LeftToeBase", "RightToeBase", "LeftFoot", "RightFoot") if n in skeleton.joint_names])
    rows: list[dict[str, float]] = []
    for p in (0, 1):
        pos = forward_kinematics(skeleton, roots[p, :t], rotations[p, :t])
        row = _face_scores(metrics, face[p, :t], None if gt_face is None else gt_face[p])
        row.update(metrics.beat_consistency(pos[:, hands], feats["rms_db"][:t, p], feats["vad"][:t, p], take.fps))
        row["diversity_cm"] = metrics.diversity(pos, take.fps)
        row["jerk"] = metrics.jerk(pos, take.fps)
        row["foot_skate_cm_s"] = metrics.foot_skating(pos[:, feet], take.fps)
        if mesh is not None and gt_face is not None:
            row["lve"] = metrics.lve(face[p, :t], gt_face[p], mesh["neutral"], mesh["deltas"], mesh["lip_vertices"])
        rows.append(row)
    xz = lambda r: r[:, :t][..., [0, 2]]  # noqa: E731
    yaw = lambda rot: np.unwrap(yaw_of(rot[:, :t, 0]), axis=-1)  # noqa: E731
    pair = metrics.two_person(xz(roots), yaw(rotations), xz(take.roots), yaw(take.rotations))
    return {k: float(np.nanmean([r[k] for r in rows])) for k in rows[0]} | pair


def _face_scores(metrics, predicted: np.ndarray, truth: np.ndarray | None) -> dict[str, float]:
    if truth is not None:
        return {**metrics.lip_error(predicted, truth), **metrics.fdd(predicted, truth)}
    return {name: float("nan") for name in ("lip_max_sq", "lip_mse", "fdd_signed", "fdd_abs")}


def evaluate(data: Path, model: str, steps: int, face_weights: str | None, seed: int, mesh=None, progress=None, takes: int | None = None,
             load=None) -> dict:  # fmt: skip
    """`load(folder)` reads the dataset as the command line's options say (default: InterAct as published)."""
    from dyad.models.interact import DatasetError, load_interact
    from dyad.runtime.offline.train_data import take_features

    try:
        dataset = (load or load_interact)(data)
    except DatasetError as error:
        raise DyadError(str(error)) from None
    per_take = {}
    selected = dataset.takes[:takes]
    faceless = sum(take.face is None for take in selected)
    if faceless:
        print(f"dyad: eval: {faceless} of {len(selected)} takes without face data: their lip metrics are not scored", file=sys.stderr)
    for i, take in enumerate(selected):
        pred = run_take(take, model, steps, face_weights, seed, dataset.skeleton)
        per_take[take.name] = score_take(take, take_features(take, data / "features"), pred, dataset.skeleton, mesh)
        if progress is not None:
            progress(i + 1, len(selected))
    names = list(next(iter(per_take.values())))
    mean = {k: float(np.nanmean([v[k] for v in per_take.values()])) for k in names}
    return {"model": model, "steps": steps, "data": str(data), "mean": mean, "per_take": per_take}


def run_eval(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    if (args.data is None) == (args.real is None):
        raise DyadError("give exactly one of --data DIR (synthetic held-out dialogues) and --real DIR (real recordings)")
    if args.real is not None:
        return run_real_eval(args)
    from dyad.runtime.offline.datasets import data_format, load_dataset

    if data_format(args, args.data) == "interx":
        raise DyadError(f"{args.data}: Inter-X has no audio or face, so there is nothing to animate from: dyad eval needs InterAct-layout data")

    try:
        steps_list = [int(s) for s in str(args.steps).split(",")]
    except ValueError:
        raise DyadError(f"--steps must be numbers separated by commas, got {args.steps!r}") from None
    if any(not 1 <= s <= 1000 for s in steps_list):
        raise DyadError("--steps must be 1..1000")
    mesh = dict(np.load(args.face_mesh)) if args.face_mesh else None
    if args.model == "procedural":
        steps_list = steps_list[:1]
    results = []
    for steps in steps_list:
        with tqdm(desc=f"eval {Path(args.model).name} steps={steps}", unit="take") as bar:
            results.append(evaluate(args.data, args.model, steps, args.face_weights, args.seed, mesh,
                                    lambda done, total: (setattr(bar, "total", total), bar.update(done - bar.n)), args.takes,
                                    load=lambda folder: load_dataset(args, folder)))  # fmt: skip
    print(format_table(results))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return 0


def format_table(results: list[dict]) -> str:
    keys = [k for k in METRICS + ("lve",) if k in results[0]["mean"]]
    head = "| model | steps | " + " | ".join(keys) + " |"
    lines = [head, "|" + "---|" * (len(keys) + 2)]
    for r in results:
        steps = "-" if r["model"] == "procedural" else str(r["steps"])
        cells = [f"{r['mean'][k]:.4f}" if not math.isnan(r["mean"][k]) else "nan" for k in keys]
        lines.append(f"| {Path(r['model']).name} | {steps} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_real_eval(args: argparse.Namespace) -> int:
    """`dyad eval --real DIR`: the animator (procedural or a model folder, both parts learned) on the real-voice dev dialogues."""
    from tqdm import tqdm

    from dyad.models.skeleton import load_default_skeleton
    from dyad.runtime.offline.realvoice_eval import evaluate_real, format_real_table

    try:
        steps = int(args.steps)
    except ValueError:
        raise DyadError(f"--steps must be one number with --real, got {args.steps!r}") from None
    skeleton = load_default_skeleton()
    with tqdm(desc=f"eval --real {Path(args.model).name}", unit="dialogue") as bar:
        result = evaluate_real(args.real, Path(args.model).name, lambda session: _animator(args.model, steps, args.face_weights, session, skeleton),
                               args.seed, args.takes, lambda done, total: (setattr(bar, "total", total), bar.update(done - bar.n)))  # fmt: skip
    print(format_real_table([result]))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0
