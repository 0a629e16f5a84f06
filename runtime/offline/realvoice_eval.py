"""Real-voice evaluation: how an animator's mouth and body behave on human speech.

Every dev dialogue (`realvoice_dialogues`) is written to a stereo WAV and replayed through an
offline session exactly as live audio would be (separation, attribution, VAD, mel, the
animator, the emitter); the frames it sends are scored per person against what the clean
tracks and the forced alignment say:

- `jaw_corr`, `mouth_corr`: Pearson correlation over the whole dialogue of JawOpen, and of a
  mouth-opening composite (JawOpen + lower lip down + upper lip up - MouthClose), with the
  person's own-voice envelope (RMS of the clean own track per animation frame).
- `attribution_ratio`: mean JawOpen while the person talks alone / while only the partner
  talks (the mouth should stay shut while the partner's voice bleeds in);
  `attribution_ratio_above_rest` measures both from the animator's own rest opening
  (median JawOpen while nobody talks), the denominator floored at 0.01; `listener_jaw` is the mean
  JawOpen while only the partner talks (a ratio whose denominator reaches its floor says little more).
- `lip_max_sq`, `lip_mse`: the corpus's lip error against viseme targets built from a
  PocketSphinx forced alignment of the transcript (frames covered by transcribed clips).
- `wrist_speed_mean`, `wrist_speed_p95`: speed of both wrists relative to the hips, in
  shoulder widths per second (gesture energy).

Talking frames: the own clean track's frame level within 30 dB of its loudest 5 % and
above -60 dBFS.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from dyad.models.arkit import LIVE_LINK_NAMES
from dyad.runtime.offline.realvoice_dialogues import RATE, Dialogue, build_dialogues, load_clips

_F = {name: i for i, name in enumerate(LIVE_LINK_NAMES)}
PERSON_METRICS = ("jaw_corr", "mouth_corr", "attribution_ratio", "attribution_ratio_above_rest", "listener_jaw", "lip_max_sq", "lip_mse",
                  "wrist_speed_mean", "wrist_speed_p95")  # fmt: skip


def frame_levels(track: np.ndarray, frames: int, fps: int) -> np.ndarray:
    """RMS per animation frame [frames] (linear), frame j = samples [j*RATE//fps, (j+1)*RATE//fps)."""
    edges = np.arange(frames + 1) * RATE // fps
    out = np.zeros(frames)
    for j in range(frames):
        span = track[edges[j] : edges[j + 1]]
        out[j] = np.sqrt(np.mean(span.astype(np.float64) ** 2)) if len(span) else 0.0
    return out


def talking(envelope: np.ndarray) -> np.ndarray:
    db = 20.0 * np.log10(envelope + 1e-9)
    return (db > np.percentile(db, 95) - 30.0) & (db > -60.0)


def mouth_opening(face: np.ndarray) -> np.ndarray:
    lower = 0.5 * (face[:, _F["MouthLowerDownLeft"]] + face[:, _F["MouthLowerDownRight"]])
    upper = 0.5 * (face[:, _F["MouthUpperUpLeft"]] + face[:, _F["MouthUpperUpRight"]])
    return face[:, _F["JawOpen"]] + 0.5 * lower + 0.5 * upper - face[:, _F["MouthClose"]]


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    if np.std(a) < 1e-9 or np.std(b) < 1e-9:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def attribution(jaw: np.ndarray, alone: np.ndarray, partner_only: np.ndarray, silent: np.ndarray) -> dict[str, float]:
    if not alone.any() or not partner_only.any():
        return {"attribution_ratio": float("nan"), "attribution_ratio_above_rest": float("nan"), "listener_jaw": float("nan")}
    rest = float(np.median(jaw[silent])) if silent.any() else 0.0
    return {
        "attribution_ratio": float(jaw[alone].mean() / max(jaw[partner_only].mean(), 1e-3)),
        "attribution_ratio_above_rest": float((jaw[alone].mean() - rest) / max(jaw[partner_only].mean() - rest, 0.01)),
        "listener_jaw": float(jaw[partner_only].mean()),
    }


def wrist_speed(skeleton, roots: np.ndarray, rotations: np.ndarray, fps: int) -> dict[str, float]:
    from dyad.models.pose import forward_kinematics

    pos = forward_kinematics(skeleton, roots, rotations)
    hands = skeleton.joint_subset(["LeftHand", "RightHand"])
    rel = pos[:, hands] - pos[:, :1]
    speed = np.linalg.norm(np.diff(rel, axis=0), axis=-1) * fps
    rest = skeleton.rest_positions
    width = float(np.linalg.norm(rest[skeleton.index("LeftArm")] - rest[skeleton.index("RightArm")]))
    speed = speed / width
    return {"wrist_speed_mean": float(speed.mean()), "wrist_speed_p95": float(np.percentile(speed, 95))}


def lip_targets(dialogue: Dialogue, person: int, alignments: dict, frames: int, fps: int) -> tuple[np.ndarray, np.ndarray]:
    """(viseme target [frames, 61], mask of frames covered by aligned clips) for one person."""
    from dyad.models.visemes import viseme_track
    from dyad.runtime.offline.forced_align import timed_phonemes

    phonemes, mask = [], np.zeros(frames, bool)
    for p in dialogue.placements:
        if p.person != person or alignments.get(p.clip) is None:
            continue
        phonemes += timed_phonemes(alignments[p.clip], (p.at - p.clip_start) / RATE, p.clip_start / RATE, p.clip_end / RATE)
        mask[int(p.at / RATE * fps) : min(frames, int((p.at + p.clip_end - p.clip_start) / RATE * fps) + 1)] = True
    return viseme_track(phonemes, frames, fps), mask


def clip_alignments(folder: Path) -> dict[str, list | None]:
    """Forced alignment of every transcribed clip (None where there is no transcript or it fails);
    a clip joined from several recordings is aligned on its joined text."""
    from dyad.runtime.errors import DyadError
    from dyad.runtime.offline.forced_align import align
    from dyad.runtime.offline.realvoice_dialogues import _PLAN, _joined

    clips = load_clips(folder)
    out: dict[str, list | None] = {}
    for spec in {s for plan in _PLAN for s in plan[:2]}:
        if not all(n in clips for n in spec.split("+")):
            continue
        clip = _joined(clips, spec)
        try:
            out[spec] = align(clip.audio, clip.text) if clip.text else None
        except DyadError:
            out[spec] = None
    return out


def run_dialogue(dialogue: Dialogue, animator_factory, seed: int = 0, config_changes: dict | None = None):
    """Offline session over the dialogue's two mics -> (roots [2,T,3], rotations [2,T,J,3], face [2,T,61])."""
    from dataclasses import replace

    from dyad.runtime.config import SessionConfig
    from dyad.runtime.session import Session
    from dyad.runtime.audio.wav_source import WavReplaySource, open_wav_inputs

    config = replace(SessionConfig(offline=True, seed=seed, status_interval_s=0.0, health_interval_s=0.0), **(config_changes or {})).validate()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{dialogue.name}.wav"
        sf.write(path, dialogue.mics, RATE, subtype="FLOAT")
        source = WavReplaySource(open_wav_inputs([path], config.audio.sample_rate), block_ms=config.timing.block_ms, realtime=False)
        animator = animator_factory(config)
        result = Session(config, source, animator=animator, keep_frames=True).run()
    people = [[bundle.people[p] for bundle in result.bundles] for p in (0, 1)]
    roots = np.array([[pose.root_position for pose in ps] for ps in people])
    rotations = np.array([[pose.joint_rotations for pose in ps] for ps in people])
    return roots, rotations, np.array([[pose.face for pose in ps] for ps in people])


def score_dialogue(dialogue: Dialogue, pred: tuple, skeleton, fps: int, alignments: dict) -> list[dict[str, float]]:
    from dyad.models import metrics

    roots, rotations, face = pred
    t = face.shape[1]
    env = np.stack([frame_levels(dialogue.clean[:, p], t, fps) for p in (0, 1)])
    act = np.stack([talking(env[p]) for p in (0, 1)])
    rows = []
    for p, q in ((0, 1), (1, 0)):
        jaw = face[p, :, _F["JawOpen"]]
        row = {"jaw_corr": _corr(jaw, env[p]), "mouth_corr": _corr(mouth_opening(face[p]), env[p])}
        row.update(attribution(jaw, act[p] & ~act[q], act[q] & ~act[p], ~act[p] & ~act[q]))
        target, mask = lip_targets(dialogue, p, alignments, t, fps)
        if mask.any():
            row.update(metrics.lip_error(face[p, mask], target[mask]))
        else:
            row.update({"lip_max_sq": float("nan"), "lip_mse": float("nan")})
        row.update(wrist_speed(skeleton, roots[p], rotations[p], fps))
        rows.append(row)
    return rows


def evaluate_real(folder: Path, name: str, animator_factory, seed: int = 0, only: int | None = None, progress=None,
                  config_changes: dict | None = None) -> dict:  # fmt: skip
    """Score one animator on every dev dialogue built from `folder`: per person, per dialogue, mean."""
    from dyad.models.skeleton import load_default_skeleton

    skeleton = load_default_skeleton()
    dialogues = build_dialogues(folder, seed, only)
    alignments = clip_alignments(folder)
    per_dialogue = {}
    for i, dialogue in enumerate(dialogues):
        pred = run_dialogue(dialogue, animator_factory, seed, config_changes)
        rows = score_dialogue(dialogue, pred, skeleton, 30, alignments)
        per_dialogue[dialogue.name] = {"bleed_db": dialogue.bleed_db, "delay_ms": dialogue.delay_ms, "people": rows}
        if progress is not None:
            progress(i + 1, len(dialogues))
    people = [row for d in per_dialogue.values() for row in d["people"]]
    mean = {k: float(np.nanmean([r[k] for r in people])) for k in PERSON_METRICS}
    by_bleed = {f"{d['bleed_db']:g}": float(np.nanmean([r["attribution_ratio"] for r in d["people"]])) for d in per_dialogue.values()}
    above = {f"{d['bleed_db']:g}": float(np.nanmean([r["attribution_ratio_above_rest"] for r in d["people"]])) for d in per_dialogue.values()}
    return {"animator": name, "data": str(folder), "dialogues": len(dialogues), "seconds": float(sum(d.seconds for d in dialogues)),
            "mean": mean, "attribution_ratio_by_bleed_db": by_bleed, "attribution_ratio_above_rest_by_bleed_db": above,
            "per_dialogue": per_dialogue}  # fmt: skip


def format_real_table(results: list[dict]) -> str:
    keys = ("jaw_corr", "mouth_corr", "attribution_ratio", "attribution_ratio_above_rest", "listener_jaw", "lip_max_sq", "wrist_speed_mean",
            "wrist_speed_p95")  # fmt: skip
    lines = ["| animator | " + " | ".join(keys) + " | attribution ratio by bleed dB (raw / above rest) |", "|" + "---|" * (len(keys) + 2)]
    for r in results:
        above = r.get("attribution_ratio_above_rest_by_bleed_db", {})
        bleed = ", ".join(f"{k}: {v:.2f} / {above.get(k, float('nan')):.2f}" for k, v in r["attribution_ratio_by_bleed_db"].items())
        lines.append(f"| {r['animator']} | " + " | ".join(f"{r['mean'][k]:.3f}" for k in keys) + f" | {bleed} |")
    return "\n".join(lines)
