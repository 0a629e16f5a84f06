"""The procedural animator: speech-driven face and body from hand-written rules.

This is not a placeholder. It is (1) the baseline every learned model must beat
in the benchmarks, and (2) the deadline fallback: the scheduler runs it on
every window and leaves its frames as hints, so when the learned model misses
a deadline the emitter still sends lips that follow the voice. It needs no
torch and costs a fraction of a millisecond per frame on a CPU.

Per person:
- face: jaw and lips from speech energy (`rms_db` gated by `vad` and by talker
  attribution's speaking probability `talk`, fast attack, slower release), rounded
  vs spread lips from the balance of low and high log-mel bands, lips sealed and the
  jaw closed in silence and while listening (a talker's jaw rests slightly open), blinks every 2-6 s (120-180 ms, both
  eyes), brows up on emphasised syllables, gaze on the partner with small
  saccades (and glances away while speaking), head angles equal to the head motion.
- body: breathing and idle sway, arms resting at the sides, beat gestures on
  stressed syllables (spectral-flux peaks while speaking), listener nods while
  only the partner speaks, head and torso turned toward the partner;
  `ControlState.actions`: stand / sit (hips lowered by the thigh length, knees
  at 90 degrees) / walk (a cyclic gait, the root moving along its heading;
  walkers walk side by side along `Placement.forward_yaw`); `facing` turns the
  people toward each other.

Determinism: random choices are counter-based hashes of (seed, person, stream,
absolute frame or time slot), idle motion is a pure function of absolute time,
and feature-driven signals are finite filters over the last `history_frames`
frames of features. Frames a window's context does not carry come from a small
cache of features already seen (an absolute frame's features never change), so
any hop and context length give bit-identical poses. The only state carried
between windows is the trajectory (heading, position, sit and walk blends) of
the last frame produced, used only when the window's last context pose is that
very frame. A context produced by another animator is read back instead, and
the difference to it fades out within ~0.7 s, so joins have no seam.

Face angles 52..60 (radians / pi = degrees / 180): yaw about +Y (positive =
toward the person's left), pitch about +X (positive = chin / eyes down), roll
about +Z. Head angles are the neck + head rotation relative to the chest: the
same motion the body joints carry, so a receiver should apply one or the other.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from dyad.models.actions import ACTIONS
from dyad.models.arkit import LIVE_LINK_NAMES, NUM_LIVE_LINK
from dyad.models.rotations import axis_angle_to_matrix, quaternion_to_axis_angle
from dyad.models.skeleton import Skeleton
from dyad.runtime.animate.animator import Animator
from dyad.runtime.frames import AnimationWindow, ControlState, PersonPose

SILENCE_DB = -100.0
_M64 = (1 << 64) - 1
_BLINK, _GAZE, _NOD, _BEAT, _NOISE = 1, 2, 3, 4, 5  # random streams
_NOISE_CHANNELS = 12  # head yaw/pitch/roll, spine roll/twist, root x/z, brow, smile, jaw, arm L/R
_CURLS = {"Index": 0.8, "Middle": 1.0, "Ring": 1.1, "Pinky": 1.2}  # relaxed finger curl, x per phalanx below
_PHALANX = (0.25, 0.35, 0.25)
_SIGNALS = ("mouth", "speak", "listen", "beat_l", "beat_r", "emphasis", "nod", "round", "spread")

People = tuple[tuple[PersonPose, ...], tuple[PersonPose, ...]]


@dataclass(frozen=True)
class Placement:
    """Ground positions (x, z) of the two people in template units (cm), and the
    heading (radians about +Y, 0 = +Z) used side by side and while walking."""

    positions: tuple[tuple[float, float], tuple[float, float]] = ((-60.0, 0.0), (60.0, 0.0))
    forward_yaw: float = 0.0


@dataclass(frozen=True)
class _State:
    """One person's trajectory at one frame (float64, carried exactly between windows)."""

    yaw: float
    x: float
    z: float
    sit: float
    walk: float


@dataclass(frozen=True)
class _Memo:
    frame: int
    state: _State
    pose: PersonPose
    residual: np.ndarray | None  # seam offset still fading out


def _splitmix(value: int) -> int:
    value = (value + 0x9E3779B97F4A7C15) & _M64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _M64
    return value ^ (value >> 31)


def _clip(x, lo: float = 0.0, hi: float = 1.0):
    return np.minimum(np.maximum(x, lo), hi)  # np.clip's Python wrapper costs more than the maths here


def _smoothstep(x):
    x = _clip(x)
    return x * x * (3.0 - 2.0 * x)


def _wrap(angle: float) -> float:
    return (angle + math.pi) % (2.0 * math.pi) - math.pi


@lru_cache(maxsize=256)
def _lag_index(length: int, taps: int, rows: int) -> np.ndarray:
    if rows + taps - 1 > length:
        raise ValueError(f"a filter needs {rows + taps - 1} frames of history, only {length} are kept")
    index = (length - rows + np.arange(rows))[:, None] - np.arange(taps)[None, :]
    index.setflags(write=False)  # shared by every caller through the cache
    return index


def _lags(x: np.ndarray, taps: int, rows: int) -> np.ndarray:
    """[..., L] -> [..., rows, taps]: for each of the last `rows` frames k, x[k - j] for j < taps."""
    return x[..., _lag_index(x.shape[-1], taps, rows)]


def _decay_max(x: np.ndarray, ratio: float, taps: int, rows: int) -> np.ndarray:
    """max_j x[k-j] * ratio**j over the last `rows` frames: instant attack, exponential release."""
    return (_lags(x, taps, rows) * ratio ** np.arange(taps)).max(axis=-1)


def _fir(x: np.ndarray, kernel: np.ndarray, rows: int) -> np.ndarray:
    """Causal FIR over the last `rows` frames; each output is its own row reduction, so it does
    not depend on how long the array is (bit-identical for any window split)."""
    return (_lags(x, len(kernel), rows) * kernel).sum(axis=-1)


def _same_pose(a: PersonPose, b: PersonPose) -> bool:
    return all(np.array_equal(getattr(a, f), getattr(b, f)) for f in ("joint_rotations", "root_position", "face"))


class ProceduralAnimator(Animator):
    """Rule-based animator for both people (see the module docstring). Arrays are [person, frame, ...]."""

    name = "procedural"

    def __init__(self, skeleton: Skeleton, fps: int = 30, seed: int = 0, placement: Placement | None = None) -> None:
        self.skeleton = skeleton
        self.fps = int(fps)
        self.seed = int(seed)
        self.placement = placement if placement is not None else Placement()
        self._joint = {name: i for i, name in enumerate(skeleton.joint_names)}
        self._face = {name: i for i, name in enumerate(LIVE_LINK_NAMES)}
        self.rest_height = float(skeleton.rest_root_height)
        thigh = self._joint.get("LeftLeg")
        self.thigh = float(np.linalg.norm(skeleton.offsets[thigh])) if thigh is not None else 0.45 * self.rest_height
        self.history_frames = self._frames(1.2)  # the longest chain of filters below reaches back ~1.05 s
        self._keys = tuple(_splitmix(_splitmix(self.seed & _M64) ^ p) for p in (0, 1))
        # Hash bases per random stream, made up front so `neutral` (emitter thread) never writes state.
        self._bases = {s: self._base(s) for s in (_BLINK, _GAZE, _GAZE + 1, _NOD, _BEAT, _NOISE)}
        u = self._draws(_NOISE, np.zeros(1, dtype=np.int64), 6 * _NOISE_CHANNELS + 1)[:, 0]  # [2, draws]
        self._noise_freq = (0.07 * (0.5 / 0.07) ** u[:, : 3 * _NOISE_CHANNELS]).reshape(2, 1, _NOISE_CHANNELS, 3)
        self._noise_phase = (2.0 * np.pi * u[:, 3 * _NOISE_CHANNELS : -1]).reshape(2, 1, _NOISE_CHANNELS, 3)
        self._breath_hz = (0.22 + 0.06 * u[:, -1])[:, None]
        self._fingers = self._finger_table()
        self._memo: list[_Memo | None] = [None, None]
        self._cache: tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
        self._lock = threading.Lock()  # the scheduler and an emitter-side fallback may share one instance

    def animate(self, window: AnimationWindow) -> People:
        """Poses for the window's new frames. A window behind the latest one produced (e.g. a
        fallback frame asked for late) is answered but leaves the caches and trajectory alone."""
        self._check(window)
        start, n = window.first_new_frame, window.new_frames
        if n == 0:
            return (), ()
        frames = np.arange(start - 1, start + n, dtype=np.int64)  # the last context frame, then the new ones
        with self._lock:
            sig = self._signals(window, frames)
            initial = [self._initial(p, window) for p in (0, 1)]
            states = self._trajectories((initial[0][0], initial[1][0]), window.controls, len(frames))
            packed = self._compose(frames, sig, states)
            return tuple(self._finish(p, window, frames, packed[p], states[p], sig["speak"][p], initial[p][1]) for p in (0, 1))

    def neutral(self, index: int) -> tuple[PersonPose, PersonPose]:
        """A silent frame for both people at `index`, where the last produced frame left them (else at
        the placement, standing). Reads no features and writes no state: safe from any thread."""
        frames = np.array([index], dtype=np.int64)
        silent = {key: np.zeros((2, 1)) for key in _SIGNALS}
        memo = list(self._memo)
        states = tuple([m.state if m is not None else self._start_state(p, ControlState())] for p, m in enumerate(memo))
        rot, face, root = self._unpack(self._compose(frames, silent, states))
        return tuple(PersonPose(p, root[p, 0], rot[p, 0], face[p, 0], 0.0) for p in (0, 1))

    def _check(self, window: AnimationWindow) -> None:
        if window.fps != self.fps:
            raise ValueError(f"window at {window.fps} fps, the procedural animator was built for {self.fps}")
        for p, f in enumerate(window.features):
            if not f.frames == f.vad.shape[0] == f.mel.shape[0] == window.total_frames:
                raise ValueError(f"person {p}: features cover {f.frames} frames, the window has {window.total_frames}")
        if window.features[0].mel.shape[1] != window.features[1].mel.shape[1]:
            raise ValueError("the two people's log-mel features have different band counts")
        for action in window.controls.actions:
            if action not in ACTIONS:
                raise ValueError(f"unknown action {action!r} (expected one of {', '.join(ACTIONS)})")

    def _history(self, window: AnimationWindow, first: int, last: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Features (mel, rms_db, vad, talk) of absolute frames [first, last): the window, else the cache, silence before frame 0."""
        count, n_mels = last - first, window.features[0].mel.shape[1]
        mel, rms, vad, talk = np.zeros((2, count, n_mels)), np.full((2, count), SILENCE_DB), np.zeros((2, count)), np.ones((2, count))
        known = np.arange(first, last) < 0  # before the session: silence
        sources = [] if self._cache is None or self._cache[1].shape[2] != n_mels else [self._cache]
        feats = window.features
        stacked = (np.stack([f.mel for f in feats]), np.stack([f.rms_db for f in feats]), np.stack([f.vad for f in feats]),
                   np.stack([np.ones(f.frames) if f.talk is None else f.talk for f in feats]))  # fmt: skip
        sources.append((window.first_frame, *stacked))
        for s0, s_mel, s_rms, s_vad, s_talk in sources:  # later sources win
            lo, hi = max(first, s0), min(last, s0 + s_rms.shape[1])
            if lo < hi:
                dst, src = slice(lo - first, hi - first), slice(lo - s0, hi - s0)
                mel[:, dst], rms[:, dst], vad[:, dst], talk[:, dst], known[dst] = s_mel[:, src], s_rms[:, src], s_vad[:, src], s_talk[:, src], True
        # Older frames nobody gave us (cold start with a short context): repeat the oldest real frame.
        real = np.flatnonzero(known & (np.arange(first, last) >= 0))
        fill = slice(0, real[0]) if first >= 0 else slice(0, min(-first, count))
        mel[:, fill] = mel[:, real[0] : real[0] + 1]
        if first >= 0:
            rms[:, fill], vad[:, fill], talk[:, fill] = rms[:, real[0] : real[0] + 1], vad[:, real[0] : real[0] + 1], talk[:, real[0] : real[0] + 1]
        keep = max(0, count - self.history_frames - 1)
        if self._cache is None or last > self._cache[0] + self._cache[2].shape[1]:  # only ever move forward
            self._cache = (first + keep, mel[:, keep:].copy(), rms[:, keep:].copy(), vad[:, keep:].copy(), talk[:, keep:].copy())
        return mel, rms, vad, talk

    def _frames(self, seconds: float) -> int:
        return max(1, int(round(seconds * self.fps)))

    def _ratio(self, seconds: float) -> float:
        return math.exp(-1.0 / (self.fps * seconds))

    def _base(self, stream: int) -> np.ndarray:
        return np.array([_splitmix(k ^ _splitmix(stream)) for k in self._keys], dtype=np.uint64)[:, None, None]

    def _draws(self, stream: int, index: np.ndarray, count: int) -> np.ndarray:
        """Uniform [0, 1) draws [2, len(index), count]: a hash of (seed, person, stream, index)."""
        x = (index.astype(np.int64)[:, None] * count + np.arange(count)).astype(np.uint64)[None] + self._bases[stream]
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return ((x ^ (x >> np.uint64(31))) >> np.uint64(11)).astype(np.float64) * 2.0**-53

    def _signals(self, window: AnimationWindow, frames: np.ndarray) -> dict[str, np.ndarray]:
        """Feature-driven signals [2, m] for `frames`; each is a finite filter over past features,
        computed only over the frames it needs (arrays below end at the last frame)."""
        m, last = len(frames), int(frames[-1]) + 1
        absolute = np.arange(last - m - self.history_frames, last, dtype=np.int64)
        mel, rms, vad, talk = self._history(window, int(absolute[0]), last)
        # -55..-15 dBFS -> 0..1 (wide, so syllables still move the jaw); the VAD gates out breaths, and
        # talker attribution's speaking probability whatever separation and gating left of the partner's voice.
        voiced = _clip((vad - 0.25) / 0.35) * talk
        e = _clip((rms + 55.0) / 40.0) * voiced
        on = _clip((rms + 50.0) / 15.0) * voiced  # "is talking": saturates at -35 dBFS
        nod_rows = m + self._frames(0.6) - 1
        talk = _decay_max(on, self._ratio(0.25), self._frames(0.5), nod_rows)
        listen = talk[::-1] * (1.0 - talk)
        attack = _fir(e, np.array([0.6, 0.3, 0.1]), m + self._frames(0.3) - 1)
        power = np.exp(mel[:, -(m + 2) :] - mel[:, -(m + 2) :].max(axis=2, keepdims=True))
        quarter = max(1, mel.shape[2] // 4)
        balance = np.log(power[..., 2 * quarter :].mean(axis=2) + 1e-9) - np.log(power[..., :quarter].mean(axis=2) + 1e-9)
        balance = _fir(balance, np.array([0.5, 0.3, 0.2]), m)
        sig = {
            "mouth": _decay_max(attack, self._ratio(0.06), self._frames(0.3), m),
            "speak": _decay_max(on, self._ratio(0.35), self._frames(1.0), m),
            "listen": listen[:, -m:],
            "nod": self._nods(listen, absolute[-nod_rows:], m),
            "round": _clip((-2.2 - balance) / 1.8),
            "spread": _clip((balance + 1.8) / 1.8),
        }
        sig["beat_l"], sig["beat_r"], sig["emphasis"] = self._beats(mel, e, absolute, m)
        return {key: np.ascontiguousarray(value) for key, value in sig.items()}

    def _beats(self, mel: np.ndarray, e: np.ndarray, absolute: np.ndarray, m: int) -> tuple[np.ndarray, ...]:
        """A spectral-flux peak that tops the last 0.33 s starts a beat one frame later (causal)."""
        taps, gap = self._frames(0.6), self._frames(0.33)
        rows = m + taps - 1  # beat onsets that still move the last m frames
        n_flux = rows + gap + 1
        flux = np.maximum(mel[:, -n_flux:] - mel[:, -n_flux - 1 : -1], 0.0).mean(axis=2) * (e[:, -n_flux:] > 0.35)
        peak, now = flux[:, -rows - 1 : -1], flux[:, -rows:]
        before = _lags(flux[:, :-1], gap + 1, rows)[..., 1:].max(axis=-1)  # flux[k-2] .. flux[k-1-gap]
        u = self._draws(_BEAT, absolute[-rows:], 2)
        onset = (peak > 1.2) & (peak >= now) & (peak > before) & (u[..., 0] < 0.8)
        strength = np.where(onset, _clip(0.4 + (peak - 1.0) / 2.0, 0.4, 1.0), 0.0)
        t = np.arange(taps) / self.fps
        kernel = (t / 0.12) * np.exp(1.0 - t / 0.12) * (1.0 - t / (taps / self.fps)) ** 2  # up in 120 ms, back by 600
        arm = u[..., 1]  # 55 % right hand, 25 % left, 20 % both
        right = _fir(strength * ((arm < 0.55) | (arm >= 0.8)), kernel, m)
        left = _fir(strength * (arm >= 0.55), kernel, m)
        return left, right, _fir(strength * (strength > 0.7), kernel, m)

    def _nods(self, listen: np.ndarray, absolute: np.ndarray, m: int) -> np.ndarray:
        """One candidate per 1.3 s slot at a random frame, nodded if only the partner speaks then."""
        slot_len = self._frames(1.3)
        slot = absolute // slot_len
        u = self._draws(_NOD, slot, 3)
        chosen = (absolute == slot * slot_len + np.floor(u[..., 0] * 0.8 * slot_len)) & (listen > 0.4) & (u[..., 1] < 0.8)
        taps = self._frames(0.6)
        return _fir(np.where(chosen, 0.06 + 0.06 * u[..., 2], 0.0), np.sin(np.pi * np.arange(taps) / taps) ** 2, m)

    def _blinks(self, frames: np.ndarray) -> np.ndarray:
        """One blink per 4 s slot, 1-3 s into it (intervals 2-6 s), 120-180 ms long."""
        slot_len = self._frames(4.0)
        slot = frames // slot_len
        u = self._draws(_BLINK, slot, 2)
        x = (frames - slot * slot_len - (0.25 + 0.5 * u[..., 0]) * slot_len) / ((0.12 + 0.06 * u[..., 1]) * self.fps)
        # Close fast, hold, reopen slower; the hold is longer than a frame, so every blink reaches 1.
        return _clip(np.minimum(x / 0.3, (1.0 - x) / 0.45))

    def _saccades(self, frames: np.ndarray, speak: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Gaze offsets (yaw, pitch radians): a new small target at a random moment of each 0.9 s slot."""
        slot_len = self._frames(0.9)
        slot = frames // slot_len
        switch = slot * slot_len + np.floor((0.2 + 0.6 * self._draws(_GAZE, slot, 1)[..., 0]) * slot_len)
        # Targets of this slot and the previous one in one draw; before the switch the old one holds.
        both = self._draws(_GAZE + 1, np.concatenate([slot - 1, slot]), 4)
        u = np.where((frames >= switch)[..., None], both[:, len(slot) :], both[:, : len(slot)])
        avert = (u[..., 2] < 0.4) * speak  # speakers glance away now and then
        yaw = np.radians((u[..., 0] - 0.5) * 8.0 + avert * np.sign(u[..., 3] - 0.5) * (8.0 + 12.0 * np.abs(u[..., 3] - 0.5)))
        return yaw, np.radians((u[..., 1] - 0.5) * 5.0 + avert * 5.0)

    def _start_state(self, p: int, controls: ControlState) -> _State:
        x, z = self.placement.positions[p]
        yaw = self._target_yaw(controls, (x, z), self.placement.positions[1 - p], walking=controls.actions[p] == "walk")
        return _State(yaw, x, z, float(controls.actions[p] == "sit"), float(controls.actions[p] == "walk"))

    def _target_yaw(self, controls: ControlState, own, other, walking: bool) -> float:
        dx, dz = other[0] - own[0], other[1] - own[1]
        if controls.facing and not walking and dx * dx + dz * dz > 1.0:
            return math.atan2(dx, dz)
        return self.placement.forward_yaw

    def _initial(self, p: int, window: AnimationWindow) -> tuple[_State, np.ndarray | bool | None]:
        """(state at the last context frame, seam residual to carry on, or True to measure one)."""
        context, memo = window.context[p], self._memo[p]
        last = context[-1] if context else None
        if memo is not None and memo.frame == window.first_new_frame - 1 and (last is None or _same_pose(last, memo.pose)):
            return memo.state, memo.residual
        if last is None:  # no context: continue from the latest frame produced, if any
            return (memo.state if memo is not None else self._start_state(p, window.controls)), None
        # Another animator (or a fallback) produced the context: read the trajectory back from it.
        forward = axis_angle_to_matrix(np.asarray(last.joint_rotations[0], dtype=np.float64))[:, 2]
        pos = np.asarray(last.root_position, dtype=np.float64)
        speed = float(np.hypot(*(pos[[0, 2]] - context[-2].root_position[[0, 2]]))) * self.fps if len(context) > 1 else 0.0
        sit = min(1.0, max(0.0, (self.rest_height - float(pos[1])) / self.thigh))
        return _State(math.atan2(forward[0], forward[2]), float(pos[0]), float(pos[2]), sit, float(speed > 30.0)), True

    def _trajectories(self, initial: tuple[_State, _State], controls: ControlState, m: int) -> tuple[list[_State], ...]:
        """Heading, position and action blends frame by frame (a scalar loop: exact for any hop)."""
        dt = 1.0 / self.fps
        turn, sit_rate, walk_rate = math.radians(120.0) * dt, dt / 0.8, dt / 0.5
        states = ([initial[0]], [initial[1]])
        for _ in range(1, m):
            prev = (states[0][-1], states[1][-1])
            for p in (0, 1):
                s, o, action = prev[p], prev[1 - p], controls.actions[p]
                target = self._target_yaw(controls, (s.x, s.z), (o.x, o.z), walking=s.walk > 0.5 or action == "walk")
                yaw = _wrap(s.yaw + max(-turn, min(turn, _wrap(target - s.yaw))))
                sit = s.sit + max(-sit_rate, min(sit_rate, float(action == "sit") - s.sit))
                walk = s.walk + max(-walk_rate, min(walk_rate, float(action == "walk") - s.walk))
                step = 110.0 * dt * float(_smoothstep(walk))  # 1.1 m/s at full walk
                states[p].append(_State(yaw, s.x + step * math.sin(yaw), s.z + step * math.cos(yaw), sit, walk))
        return states

    def _compose(self, frames: np.ndarray, sig: dict, states: tuple[list[_State], ...]) -> np.ndarray:
        """Rotations, face and root for both people: [2, m, J*3 + 61 + 3] float64."""
        traj = {f: np.array([[getattr(s, f) for s in states[p]] for p in (0, 1)]) for f in ("yaw", "x", "z", "sit", "walk")}
        sit, walk, yaw = _smoothstep(traj["sit"]), _smoothstep(traj["walk"]), traj["yaw"]
        t = frames / self.fps
        noise = np.sin(2.0 * np.pi * self._noise_freq * t[None, :, None, None] + self._noise_phase).sum(axis=3) / 3.0
        toward = np.arctan2(traj["x"][::-1] - traj["x"], traj["z"][::-1] - traj["z"]) - yaw
        toward = (toward + np.pi) % (2.0 * np.pi) - np.pi
        # Turn toward the partner, less and less as they get behind (no whip-around when passing).
        toward = _clip(toward, -1.75, 1.75) * _clip((2.6 - np.abs(toward)) / 0.8)
        phase = 2.0 * np.pi * 0.9 * t  # gait: 0.9 strides per second
        breath = np.sin(2.0 * np.pi * self._breath_hz * t)
        rot = np.zeros((2, len(frames), len(self._joint), 3))
        head = self._torso_and_head(rot, sig, noise, toward, breath, sit, walk, phase)
        self._arms(rot, sig, noise, breath, sit, walk, phase)
        self._legs(rot, sit, walk, phase)
        rot[:, :, 0, 1] = yaw + 0.02 * noise[..., 4]
        face = self._face_values(frames, sig, noise, head, toward)
        height = self.rest_height - self.thigh * sit + walk * 1.2 * np.cos(2.0 * phase)
        root = np.stack([traj["x"] + 1.2 * noise[..., 5], height, traj["z"] + 0.8 * noise[..., 6]], axis=2)
        return np.concatenate([rot.reshape(2, len(frames), -1), face, root], axis=2)

    def _set(self, rot: np.ndarray, name: str, axis: int, value: np.ndarray) -> None:
        """Add a rotation component; "*" names a Left/Right pair and the Right one gets the mirror image."""
        for side, sign in (("Left", 1.0), ("Right", 1.0 if axis == 0 else -1.0)) if "*" in name else (("", 1.0),):
            j = self._joint.get(name.replace("*", side))
            if j is not None:
                rot[:, :, j, axis] += sign * value

    def _torso_and_head(self, rot, sig, noise, toward, breath, sit, walk, phase) -> np.ndarray:
        speak, beat = sig["speak"], np.maximum(sig["beat_l"], sig["beat_r"])
        for name, share in (("Spine", 0.4), ("Spine1", 0.35), ("Spine2", 0.25)):
            self._set(rot, name, 0, share * (0.03 * speak + 0.12 * sit + 0.04 * beat) + 0.012 * breath * (name != "Spine"))
            self._set(rot, name, 1, 0.1 * toward + share * (0.04 * noise[..., 4] + 0.08 * walk * np.sin(phase)))
            self._set(rot, name, 2, share * 0.03 * noise[..., 3])
        yaw = 0.6 * toward + (0.06 + 0.08 * speak) * noise[..., 0]
        pitch = sig["nod"] + 0.05 * beat + (0.04 + 0.04 * speak) * noise[..., 1] - 0.02
        roll = (0.03 + 0.03 * sig["listen"]) * noise[..., 2]
        for axis, value in enumerate((pitch, yaw, roll)):
            self._set(rot, "Neck", axis, 0.4 * value)
            self._set(rot, "Head", axis, 0.6 * value)
        return np.stack([yaw, pitch, roll], axis=-1)

    def _finger_table(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        table = {}
        for side in ("Left", "Right"):
            names = [(f"{side}Hand{f}{k}", s * c) for f, s in _CURLS.items() for k, c in enumerate(_PHALANX, 1)]
            names += [(f"{side}HandThumb2", 0.15), (f"{side}HandThumb3", 0.2)]
            present = [(self._joint[n], c) for n, c in names if n in self._joint]
            table[side] = (np.array([j for j, _ in present], dtype=np.int64), np.array([c for _, c in present]))
        return table

    def _arms(self, rot, sig, noise, breath, sit, walk, phase) -> None:
        speak = sig["speak"]
        for side, sign, beat, swing, n in (("Left", 1.0, sig["beat_l"], -np.sin(phase), noise[..., 10]),
                                           ("Right", -1.0, sig["beat_r"], np.sin(phase), noise[..., 11])):  # fmt: skip
            forward = 0.1 + 0.12 * speak + 0.35 * beat + 0.35 * sit + 0.3 * walk * swing + 0.03 * n
            down = sign * (1.4 - 0.25 * beat - 0.1 * speak)
            # The arm hangs by a rotation about Z (from the T-pose), then swings forward about the chest's X axis.
            f, d = -0.5 * forward, -0.5 * down
            sf, cf, sd, cd = np.sin(f), np.cos(f), np.sin(d), np.cos(d)
            quat = np.stack([sf * cd, -sf * sd, cf * sd, cf * cd], axis=-1)  # Rx(-forward) * Rz(-down)
            self._put(rot, f"{side}Arm", quaternion_to_axis_angle(quat))
            self._put(rot, f"{side}Shoulder", z=sign * (0.015 * breath - 0.04))
            # Elbow flexion brings the hand forward; seated, the hands rest on the thighs.
            elbow = 0.25 + 0.25 * speak + 0.8 * beat + 0.4 * sit + 0.2 * walk
            self._put(rot, f"{side}ForeArm", x=-0.3 * beat, y=-sign * elbow)
            self._put(rot, f"{side}Hand", z=-sign * (0.08 + 0.25 * beat))
            joints, curls = self._fingers[side]
            rot[:, :, joints, 2] = -sign * curls * (1.0 - 0.5 * _clip(beat))[..., None]  # hands open a little on beats

    def _put(self, rot: np.ndarray, name: str, value: np.ndarray | None = None, x=None, y=None, z=None) -> None:
        j = self._joint.get(name)
        if j is None:
            return
        if value is not None:
            rot[:, :, j] = value
        for axis, v in enumerate((x, y, z)):
            if v is not None:
                rot[:, :, j, axis] = v

    def _legs(self, rot, sit, walk, phase) -> None:
        for side, ph in (("Left", phase), ("Right", phase + np.pi)):
            hip = -0.5 * np.pi * sit - 0.35 * walk * np.sin(ph) - 0.02 * (1.0 - sit)  # negative X = thigh forward
            knee = 0.5 * np.pi * sit + walk * (0.08 + 0.6 * np.maximum(np.cos(ph), 0.0) ** 2) + 0.04 * (1.0 - sit) * (1.0 - walk)
            self._put(rot, f"{side}UpLeg", x=hip)
            self._put(rot, f"{side}Leg", x=knee)
            self._put(rot, f"{side}Foot", x=-(hip + knee))  # the sole stays level

    def _face_values(self, frames: np.ndarray, sig: dict, noise: np.ndarray, head: np.ndarray, toward: np.ndarray) -> np.ndarray:
        f, face = self._face, np.zeros(sig["mouth"].shape + (NUM_LIVE_LINK,))
        mouth, speak, brow = sig["mouth"], sig["speak"], sig["emphasis"]
        rnd, spread = sig["round"] * speak, sig["spread"] * speak
        # The jaw rests a little open (0.08) only while this person holds the floor: a listener's mouth,
        # and a silent one, rests closed, opening as the person's speaking probability (in `speak`) rises.
        jaw = 0.08 * speak + 0.5 * mouth**0.9
        smile = 0.1 + 0.08 * sig["listen"] + 0.2 * spread * mouth + 0.03 * noise[..., 8]

        def put(name: str, value, asym=0.0) -> None:
            if name.endswith("*"):
                face[..., f[name[:-1] + "Left"]] = value * (1.0 + asym)
                face[..., f[name[:-1] + "Right"]] = value * (1.0 - asym)
            else:
                face[..., f[name]] = value

        put("JawOpen", jaw)
        put("MouthClose", np.minimum(jaw, 0.08 * _clip(1.0 - mouth / 0.25)))  # lips sealed in silence
        put("MouthFunnel", 0.5 * rnd * mouth)
        put("MouthPucker", 0.45 * rnd * (1.0 - mouth) * _clip(4.0 * mouth) + 0.2 * rnd * mouth)
        put("JawLeft", _clip(0.03 * noise[..., 9] * speak))
        put("JawRight", _clip(-0.03 * noise[..., 9] * speak))
        put("MouthShrugUpper", 0.15 * rnd * mouth)
        put("MouthStretch*", 0.3 * spread * mouth)
        put("MouthSmile*", smile, 0.1 * noise[..., 8])
        put("CheekSquint*", 0.4 * smile)
        put("MouthLowerDown*", 0.35 * mouth * (1.0 - 0.5 * rnd))
        put("MouthUpperUp*", 0.2 * mouth * spread)
        put("MouthPress*", 0.12 * (1.0 - speak))
        put("BrowInnerUp", 0.1 + 0.4 * brow + 0.06 * noise[..., 7] * speak)
        put("BrowOuterUp*", 0.3 * brow + 0.05 * np.maximum(noise[..., 7], 0.0) * speak)
        put("BrowDown*", 0.06 * np.maximum(-noise[..., 7], 0.0) * (1.0 - speak))
        # The eyes hold the partner while the head moves (the torso took 0.3 of the turn), plus saccades.
        sacc_yaw, sacc_pitch = self._saccades(frames, speak)
        eye_yaw = _clip(0.7 * toward - head[..., 0] + sacc_yaw, -0.5, 0.5)
        eye_pitch = _clip(sacc_pitch - 0.8 * head[..., 1], -0.4, 0.4)
        put("EyeBlink*", np.maximum(self._blinks(frames), 0.06 + 0.3 * _clip(eye_pitch / 0.4)))
        put("EyeSquint*", 0.3 * smile)
        put("EyeWide*", 0.25 * brow)
        reach = math.radians(30.0)
        put("EyeLookOutLeft", _clip(eye_yaw / reach))
        put("EyeLookInRight", _clip(eye_yaw / reach))
        put("EyeLookInLeft", _clip(-eye_yaw / reach))
        put("EyeLookOutRight", _clip(-eye_yaw / reach))
        put("EyeLookDown*", _clip(eye_pitch / reach))
        put("EyeLookUp*", _clip(-eye_pitch / reach))
        face[..., 52:55] = head / np.pi
        face[..., 55], face[..., 58] = eye_yaw / np.pi, eye_yaw / np.pi
        face[..., 56], face[..., 59] = eye_pitch / np.pi, eye_pitch / np.pi
        return face

    def _unpack(self, packed: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        j3 = 3 * len(self._joint)
        rot = packed[..., :j3].reshape(packed.shape[:-1] + (-1, 3))
        face = packed[..., j3 : j3 + NUM_LIVE_LINK].copy()
        face[..., :52] = _clip(face[..., :52])
        face[..., 52:] = _clip(face[..., 52:], -1.0, 1.0)
        return rot, face, packed[..., j3 + NUM_LIVE_LINK :]

    def _finish(self, p, window, frames, packed, states, speak, residual) -> tuple[PersonPose, ...]:
        width = packed.shape[1] - 3  # everything but the root position
        if residual is True:  # measure the seam to a foreign context pose (root orientation excluded)
            last = window.context[p][-1]
            residual = np.concatenate([np.asarray(last.joint_rotations, np.float64).ravel(), np.asarray(last.face, np.float64)])
            residual -= packed[0, :width]
            residual[:3] = 0.0
        for k in range(1, len(frames)):  # one frame at a time, so any hop decays the seam identically
            if residual is None:
                break
            residual = residual * 0.8  # under 1 % after 0.7 s
            packed[k, :width] += residual
            if np.abs(residual).max() < 1e-5:
                residual = None
        rot, face, root = self._unpack(packed[1:])
        poses = tuple(PersonPose(p, root[k], rot[k], face[k], float(_clip(speak[k + 1]))) for k in range(len(frames) - 1))
        if self._memo[p] is None or frames[-1] > self._memo[p].frame:
            self._memo[p] = _Memo(int(frames[-1]), states[-1], poses[-1], residual)
        return poses

