"""Ground-truth motion of the synthetic corpus, from the synthesizer's timing, never from the audio.

Body: the procedural animator supplies posture and locomotion per action (stand,
sit, walk with a moving root), breathing, idle sway, gaze on the partner and
blinks. It is driven with SILENT features, so none of its audio-driven rules
fire; everything speech-related is added here from the script's timing:
- beat gestures: the hand's apex lands exactly on the onset of a stressed vowel
  of a content word (velocity minimum at the onset), per-speaker handedness and size;
- a raised gesture space while holding the floor;
- speaker emphasis nods on stressed syllables, glances away while speaking;
- listener reactions: nods at the partner's stressed syllables and turn ends,
  a smile and raised brows while backchannelling.
Face: the mouth comes from the phoneme timeline (`models.visemes`), brows rise
on stressed syllables, head angles follow the overlaid head motion.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dyad.models.arkit import LIVE_LINK_NAMES
from dyad.models.skeleton import Skeleton
from dyad.models.visemes import LIP_INDICES, TimedPhoneme, viseme_track
from dyad.runtime.frames import AnimationWindow, PersonFeatures
from dyad.runtime.frames import ControlState, PersonPose
from dyad.runtime.animate.procedural import ProceduralAnimator

_F = {name: i for i, name in enumerate(LIVE_LINK_NAMES)}
HOP = 30  # frames per procedural call
CONTEXT = 8


@dataclass(frozen=True)
class SpokenLine:
    person: int
    start_s: float
    end_s: float
    backchannel: bool
    phonemes: tuple[TimedPhoneme, ...]  # absolute times
    text: str = ""


@dataclass(frozen=True)
class Style:
    """Per-speaker gesture style: what makes two speakers move differently."""

    right_handed: bool
    beat_size: float
    beat_rate: float  # probability that a stressed syllable gets a beat
    openness: float  # articulation: jaw / lip opening scale
    nodder: float  # listener nod probability scale


def draw_style(rng: np.random.Generator) -> Style:
    return Style(bool(rng.random() < 0.75), float(rng.uniform(0.3, 0.7)), float(rng.uniform(0.55, 0.9)),
                 float(rng.uniform(0.8, 1.2)), float(rng.uniform(0.6, 1.4)))  # fmt: skip


def _silence(frames: int, n_mels: int) -> PersonFeatures:
    return PersonFeatures(np.full((frames, n_mels), np.log(1e-10), np.float32), np.full(frames, -100.0, np.float32), np.zeros(frames, np.float32))


def base_motion(skeleton: Skeleton, frames: int, actions: list[tuple[str, str]], facing: list[bool], seed: int, fps: int = 30):
    """Procedural posture driven by silence -> (roots [2,T,3], rotations [2,T,J,3], face [2,T,61])."""
    animator = ProceduralAnimator(skeleton, fps, seed)
    people: list[list[PersonPose]] = [[], []]
    for start in range(0, frames, HOP):
        n = min(HOP, frames - start)
        c = min(CONTEXT, start)
        controls = ControlState(actions=actions[start], facing=facing[start])
        silent = _silence(c + n, 80)
        context = tuple(tuple(people[p][start - c : start]) for p in (0, 1))
        window = AnimationWindow(start - c, c, n, 0, fps, (silent, silent), context, controls)
        out = animator.animate(window)
        for p in (0, 1):
            people[p].extend(out[p])
    roots = np.array([[pose.root_position for pose in people[p]] for p in (0, 1)], dtype=np.float64)
    rotations = np.array([[pose.joint_rotations for pose in people[p]] for p in (0, 1)], dtype=np.float64)
    face = np.array([[pose.face for pose in people[p]] for p in (0, 1)], dtype=np.float64)
    return roots, rotations, face


def _pulse(times: np.ndarray, centre: float, width: float) -> np.ndarray:
    return np.exp(-0.5 * ((times - centre) / width) ** 2)


def _nod(times: np.ndarray, start: float, depth: float) -> np.ndarray:
    """Down then up over ~0.5 s (one nod), zero outside."""
    u = (times - start) / 0.5
    return np.where((u >= 0) & (u <= 1), depth * np.sin(np.pi * np.clip(u, 0, 1)) ** 2, 0.0)


def _floor_mask(times: np.ndarray, lines: list[SpokenLine], person: int, backchannel: bool) -> np.ndarray:
    mask = np.zeros_like(times)
    for line in lines:
        if line.person == person and line.backchannel == backchannel:
            mask = np.maximum(mask, _smooth_box(times, line.start_s, line.end_s, 0.25))
    return mask


def _smooth_box(times: np.ndarray, start: float, end: float, ramp: float) -> np.ndarray:
    rise = np.clip((times - start + ramp) / ramp, 0, 1)
    fall = np.clip((end + ramp - times) / ramp, 0, 1)
    return (3 - 2 * rise) * rise**2 * (3 - 2 * fall) * fall**2


def _stress_onsets(lines: list[SpokenLine], person: int) -> list[float]:
    return [p.start_s for line in lines if line.person == person and not line.backchannel for p in line.phonemes if p.stressed]


def overlay(skeleton: Skeleton, rotations: np.ndarray, face: np.ndarray, lines: list[SpokenLine],
            styles: tuple[Style, Style], seed: int, fps: int = 30, exact_lips: bool = True) -> np.ndarray:  # fmt: skip
    """Add the speech-timed motion to `rotations` [2,T,J,3] in place; returns the face [2,T,61]."""
    rng = np.random.default_rng(seed)
    frames = rotations.shape[1]
    times = np.arange(frames) / fps
    joint = {name: i for i, name in enumerate(skeleton.joint_names)}
    face = face.copy()
    for p in (0, 1):
        style, other = styles[p], 1 - p
        speaking = _floor_mask(times, lines, p, False)
        bc = _floor_mask(times, lines, p, True)
        elbow = {"Left": 0.35 * speaking, "Right": 0.35 * speaking}
        pitch = np.zeros(frames)
        yaw = np.zeros(frames)
        brow = np.zeros(frames)
        for onset in _stress_onsets(lines, p):
            if rng.random() < style.beat_rate:
                size = style.beat_size * rng.uniform(0.7, 1.3)
                main = "Right" if style.right_handed else "Left"
                hands = ("Left", "Right") if rng.random() < 0.15 else (main if rng.random() < 0.85 else ("Left" if main == "Right" else "Right"),)
                for hand in hands:
                    elbow[hand] = elbow[hand] + size * _pulse(times, onset, 0.09)
            if rng.random() < 0.5:
                pitch += 0.06 * _pulse(times, onset + 0.03, 0.08)
            if rng.random() < 0.3:
                brow += 0.45 * _pulse(times, onset, 0.12)
        for line in lines:  # glances away while speaking, listener nods
            if line.person == p and not line.backchannel and line.end_s - line.start_s > 1.5 and rng.random() < 0.6:
                t0 = rng.uniform(line.start_s, line.end_s - 1.0)
                yaw += rng.choice([-1, 1]) * 0.25 * _smooth_box(times, t0, t0 + rng.uniform(0.5, 1.2), 0.2)
            if line.person == other and not line.backchannel and rng.random() < 0.5 * style.nodder:
                pitch += _nod(times, line.end_s - 0.1, 0.14)
        for onset in _stress_onsets(lines, other):
            if rng.random() < 0.12 * style.nodder:
                pitch += _nod(times, onset + 0.15, 0.1)
        _add_body(rotations[p], joint, elbow, pitch, yaw)
        face[p] = _face(face[p], lines, p, style, brow, bc, pitch, yaw, fps, exact_lips, rng)
    return face


def _add_body(rot: np.ndarray, joint: dict, elbow: dict, pitch: np.ndarray, yaw: np.ndarray) -> None:
    for side, sign in (("Left", 1.0), ("Right", -1.0)):
        rot[:, joint[f"{side}ForeArm"], 1] += -sign * elbow[side]  # elbow flexion, as the procedural animator's
        rot[:, joint[f"{side}ForeArm"], 0] += -0.3 * elbow[side]
        rot[:, joint[f"{side}Arm"], 0] += -0.3 * elbow[side]  # upper arm forward
    for name, share in (("Neck", 0.4), ("Head", 0.6)):
        rot[:, joint[name], 0] += share * pitch
        rot[:, joint[name], 1] += share * yaw


def _face(face, lines, p, style, brow, bc, pitch, yaw, fps, exact_lips, rng) -> np.ndarray:
    frames = face.shape[0]
    phonemes = []
    for line in lines:
        if line.person != p:
            continue
        shift = 0.0 if exact_lips else rng.uniform(-0.06, 0.06)  # a capture that is not lip-accurate
        phonemes += [TimedPhoneme(q.symbol, q.start_s + shift, q.end_s + shift, q.stressed) for q in line.phonemes]
    mouth = viseme_track(phonemes, frames, fps, style.openness)
    if not exact_lips:  # smeared, damped lips of an ordinary face capture
        kernel = np.ones(5) / 5
        mouth = np.stack([np.convolve(mouth[:, k], kernel, mode="same") for k in range(mouth.shape[1])], axis=1) * 0.85
    face[:, LIP_INDICES] = mouth[:, LIP_INDICES]
    for name in ("BrowInnerUp", "BrowOuterUpLeft", "BrowOuterUpRight"):
        face[:, _F[name]] = np.clip(face[:, _F[name]] + brow + 0.25 * bc, 0, 1)
    for name in ("MouthSmileLeft", "MouthSmileRight", "CheekSquintLeft", "CheekSquintRight"):
        face[:, _F[name]] = np.clip(face[:, _F[name]] + 0.3 * bc, 0, 1)
    face[:, _F["HeadPitch"]] += pitch / np.pi
    face[:, _F["HeadYaw"]] += yaw / np.pi
    for eye in ("LeftEyeYaw", "RightEyeYaw"):
        face[:, _F[eye]] += 0.5 * yaw / np.pi
    return face
