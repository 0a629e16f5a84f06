"""Quality metrics of generated dyadic motion against ground truth (numpy only).

Arrays are per person: face [T, 61], joint positions [T, J, 3] (template units, cm),
root yaw [T]. All metrics are means over frames unless said otherwise.

- lip error (blendshape space): per frame the max over the lip shapes of the squared
  error, averaged over frames (the blendshape analogue of LVE); also the plain lip MSE.
- LVE (with a face mesh: neutral [V,3], ARKit deltas [52,V,3], lip vertex ids): max over
  lip vertices of the squared vertex error, averaged over frames.
- FDD: upper-face dynamics deviation, std over time of each upper-face shape, generated
  minus ground truth, averaged over shapes: signed (too calm < 0) and absolute.
- beat consistency (BeatAlign): motion beats are clear minima of hand speed while the
  person speaks; each scores exp(-d^2 / 2 sigma^2) with d its distance to the nearest
  prominent syllable (a level peak 6 dB over its surroundings), sigma 0.1 s. The
  reverse direction (each prominent syllable to its nearest motion beat, as BEAT's
  score) is `beat_recall`: it rewards gesturing on every syllable.
- diversity: mean distance between random pairs of 1 s clips of joint positions (cm).
- jerk: mean norm of the third derivative of joint positions (cm/s^3).
- foot skating: mean horizontal foot speed while the foot is in contact (low and slow).
- two-person: mean |distance - ground-truth distance| between the roots, share of frames at
  a plausible conversational distance (50-250 cm), and mean |facing angle error| (degrees).
"""

from __future__ import annotations

import numpy as np

from dyad.models.arkit import LIVE_LINK_NAMES
from dyad.models.visemes import LIP_INDICES

_NAMES = {n: i for i, n in enumerate(LIVE_LINK_NAMES)}
UPPER_FACE = np.array([_NAMES[n] for n in LIVE_LINK_NAMES[:52] if n.startswith(("Brow", "EyeSquint", "EyeWide", "CheekSquint", "NoseSneer"))])
BEAT_SIGMA_S = 0.1


def lip_error(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    err = (pred[:, LIP_INDICES] - gt[:, LIP_INDICES]) ** 2
    return {"lip_max_sq": float(err.max(axis=1).mean()), "lip_mse": float(err.mean())}


def lve(pred: np.ndarray, gt: np.ndarray, neutral: np.ndarray, deltas: np.ndarray, lip_vertices: np.ndarray) -> float:
    def verts(face: np.ndarray) -> np.ndarray:
        return neutral[lip_vertices][None] + np.einsum("tk,kvc->tvc", face[:, :52], deltas[:, lip_vertices])

    return float((np.sum((verts(pred) - verts(gt)) ** 2, axis=-1)).max(axis=1).mean())


def fdd(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    diff = pred[:, UPPER_FACE].std(axis=0) - gt[:, UPPER_FACE].std(axis=0)
    return {"fdd_signed": float(diff.mean()), "fdd_abs": float(np.abs(diff).mean())}


def speech_beats(rms_db: np.ndarray, vad: np.ndarray, fps: int, prominence_db: float = 6.0) -> np.ndarray:
    """Frames of prosodically prominent syllables: level peaks (within +-0.15 s) that stand
    `prominence_db` above the dips within +-0.25 s, while speaking. Beat gestures go with
    prominence (pitch accents), not with every syllable."""
    level = np.convolve(rms_db, [0.25, 0.5, 0.25], mode="same")
    near, wide = max(1, int(0.15 * fps)), max(1, int(0.25 * fps))
    return np.array([
        k for k in range(1, len(level) - 1)
        if vad[k] > 0.5 and level[k] == level[max(0, k - near) : k + near + 1].max()
        and level[k] - level[max(0, k - wide) : k + wide + 1].min() >= prominence_db
    ], dtype=np.int64)  # fmt: skip


def motion_beats(hands: np.ndarray, fps: int, min_drop: float = 0.5, min_speed: float = 5.0) -> np.ndarray:
    """Frames where the hands' speed has a clear local minimum (a stroke ends or turns)."""
    speed = np.linalg.norm(np.gradient(hands, axis=0), axis=-1).mean(axis=-1) * fps  # [T] cm/s, central differences
    window = max(1, int(0.3 * fps))
    beats = []
    for k in range(1, len(speed) - 1):
        if speed[k] <= speed[k - 1] and speed[k] < speed[k + 1]:
            around = speed[max(0, k - window) : k + window + 1].max()
            if around > min_speed and speed[k] < min_drop * around:
                beats.append(k)
    return np.array(beats, dtype=np.int64)


def _align(points: np.ndarray, reference: np.ndarray, fps: int) -> float:
    if len(points) == 0 or len(reference) == 0:
        return float("nan")
    d = np.abs(points[:, None] - reference[None, :]).min(axis=1) / fps
    return float(np.exp(-(d**2) / (2 * BEAT_SIGMA_S**2)).mean())


def beat_consistency(hands: np.ndarray, rms_db: np.ndarray, vad: np.ndarray, fps: int) -> dict[str, float]:
    """While the person speaks: `beat_align` scores each motion beat by its distance to the nearest
    prominent syllable (are the gestures' beats on the speech's beats?); `beat_recall` scores each
    prominent syllable by its nearest motion beat (BEAT's direction: is every beat gestured?)."""
    speech = speech_beats(rms_db, vad, fps)
    beats = motion_beats(hands, fps)
    beats = beats[vad[np.minimum(beats, len(vad) - 1)] > 0.5]
    return {"beat_align": _align(beats, speech, fps), "beat_recall": _align(speech, beats, fps), "motion_beats": float(len(beats))}


def diversity(positions: np.ndarray, fps: int, pairs: int = 200, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    clip = fps
    if len(positions) <= clip:
        return float("nan")
    local = positions - positions[:, :1]  # relative to the root: where one stands is not diversity
    starts = rng.integers(0, len(positions) - clip, (pairs, 2))
    return float(np.mean([np.linalg.norm(local[a : a + clip] - local[b : b + clip], axis=-1).mean() for a, b in starts]))


def jerk(positions: np.ndarray, fps: int) -> float:
    return float(np.linalg.norm(np.diff(positions, n=3, axis=0), axis=-1).mean() * fps**3)


def foot_skating(feet: np.ndarray, fps: int, height_cm: float = 5.0) -> float:
    """feet [T, F, 3]: mean horizontal speed (cm/s) of feet within `height_cm` of their lowest and slow vertically."""
    vel = np.diff(feet, axis=0) * fps
    low = feet[1:, :, 1] < feet[..., 1].min(axis=0) + height_cm
    contact = low & (np.abs(vel[..., 1]) < 10.0)
    if not contact.any():
        return 0.0
    return float(np.linalg.norm(vel[..., [0, 2]], axis=-1)[contact].mean())


def _facing_angle(xz: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """[2, T] angle between each person's heading and the direction to the partner (degrees)."""
    out = []
    for p, q in ((0, 1), (1, 0)):
        d = xz[q] - xz[p]
        toward = np.arctan2(d[:, 0], d[:, 1])
        out.append(np.degrees(np.abs(np.angle(np.exp(1j * (yaw[p] - toward))))))
    return np.stack(out)


def two_person(xz: np.ndarray, yaw: np.ndarray, gt_xz: np.ndarray, gt_yaw: np.ndarray) -> dict[str, float]:
    """xz [2, T, 2] root ground positions, yaw [2, T]."""
    dist = np.linalg.norm(xz[1] - xz[0], axis=-1)
    gt = np.linalg.norm(gt_xz[1] - gt_xz[0], axis=-1)
    angle_err = np.abs(_facing_angle(xz, yaw) - _facing_angle(gt_xz, gt_yaw))
    return {
        "distance_error_cm": float(np.abs(dist - gt).mean()),
        "distance_plausible": float(((dist > 50) & (dist < 250)).mean()),
        "facing_error_deg": float(angle_err.mean()),
    }
