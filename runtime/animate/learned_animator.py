"""The learned animator: the body and face diffusion models behind the Animator contract.

Each hop is one call for the dyad: the window's features and past-context poses
of both people become model inputs, `DyadGenerator` samples lower body, upper body
and face for both people (person axis / batch of two), and the new frames are
decoded into `PersonPose`s. The procedural animator stays the session's fallback:
the scheduler runs it first every hop and the emitter uses its frames when this
one is late or fails.

Inputs a window may lack: Wav2Vec2 and BERT word features are optional fields of
`PersonFeatures`; when absent the models get zeros (and no_text = 1), so they
still run. Non-finite feature values are replaced by 0 and counted. Everything
that can be checked before the session starts is checked at load time
(`load_learned_animator`), including one full warm-up window.

Root placement: a window's first context frame gives where each person stands;
a cold start (no context) uses the same placement as the procedural animator,
facing each other unless the controls say otherwise. New frames integrate the
predicted root deltas from the last context frame actually sent, pulled toward
the session's placement (`root_anchor`) so that no bias integrates into drift.
New body frames pass a One-Euro filter restarted from the sent context
(`motion_filter`): each hop's sample has its own small error, which would
otherwise show as a jump at every hop.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import asdict

import numpy as np
import torch

from dyad.models.arkit import ANGLE_RANGE, ARKIT_SLICE, HEAD_EYE_SLICE, NUM_LIVE_LINK, SHAPE_RANGE
from dyad.models.body_repr import DELTA_COLUMNS, decode_body, encode_body
from dyad.models.checkpoint import ModelLoadError, check_skeleton
from dyad.models.generator import DyadGenerator, DyadInputs, DyadOutputs
from dyad.models.actions import ACTIONS
from dyad.models.model_dir import LoadedModels, load_model_dir, onnx_denoisers
from dyad.models.pose import yaw_of
from dyad.models.skeleton import Skeleton
from dyad.runtime.animate.animator import Animator, is_out_of_memory
from dyad.runtime.config import SessionConfig
from dyad.runtime.errors import DyadError
from dyad.runtime.frames import AnimationWindow, ControlState, PersonFeatures, PersonPose
from dyad.runtime.animate.learned_config import LearnedConfig
from dyad.runtime.frontend.mel import LOG_FLOOR
from dyad.runtime.animate.mel_normalizer import RunningMelNormalizer, load_reference
from dyad.runtime.animate.motion_filter import smooth_new_frames
from dyad.runtime.animate.procedural import Placement
from dyad.runtime.animate.root_anchor import anchor_roots
from dyad.runtime.stats import SessionStats
from dyad.runtime.animate.step_policy import StepPolicy

log = logging.getLogger("dyad.learned")

People = tuple[tuple[PersonPose, ...], tuple[PersonPose, ...]]


def _seed(seed: int, frame: int) -> int:
    """Noise seed of one window: a function of (session seed, first new frame) only."""
    return int(np.random.SeedSequence([seed & 0xFFFFFFFF, frame]).generate_state(1, np.uint64)[0])


def initial_placement(placement: Placement, controls: ControlState) -> tuple[np.ndarray, np.ndarray]:
    """(xz [2, 2], yaw [2]) where the two people start: facing each other, or along forward_yaw."""
    xz = np.array(placement.positions, dtype=np.float64)
    if not controls.facing:
        return xz, np.full(2, placement.forward_yaw)
    d = xz[1] - xz[0]
    toward = math.atan2(d[0], d[1])  # yaw = atan2(forward x, forward z)
    return xz, np.array([toward, toward + math.pi])


def relative_placement(xz: np.ndarray, yaw: np.ndarray, scale: float) -> np.ndarray:
    """[2, 4]: for each person, the partner's (dx, dz) in this person's heading frame / scale,
    and sin, cos of the partner's yaw relative to this person's."""
    out = np.zeros((2, 4))
    for p, q in ((0, 1), (1, 0)):
        c, s = math.cos(yaw[p]), math.sin(yaw[p])
        dx, dz = xz[q] - xz[p]
        rel = yaw[q] - yaw[p]
        out[p] = (c * dx - s * dz) / scale, (s * dx + c * dz) / scale, math.sin(rel), math.cos(rel)
    return out


class LearnedAnimator(Animator):
    name = "learned"

    def __init__(self, models: LoadedModels, skeleton: Skeleton, config: LearnedConfig, fps: int, seed: int = 0,
                 denoisers: dict | None = None, policy: StepPolicy | None = None,
                 placement: Placement | None = None) -> None:  # fmt: skip
        self.models = models
        self.skeleton = skeleton
        self.config = config
        self.fps = fps
        self.seed = seed
        self._stats: SessionStats | None = None  # the session's, once attached: times the generator's parts
        self.generator = DyadGenerator(models.body, models.face, config.device, denoisers, timer=self._time_part)
        self.policy = policy  # None: a fixed step count (offline, or adaptation off)
        # Without a policy (offline), a failed hop still lowers the steps, for good: nothing measures when to
        # raise them. --fixed-steps means fixed: min_steps = steps, so a failure is only counted.
        floor = 1 if config.adapt else config.steps
        self.failure_policy = policy or StepPolicy(config.steps, allowance_ms=math.inf, min_steps=floor)
        self.fixed_reason = "" if policy is not None else ("adaptation off (--fixed-steps)" if not config.adapt else "offline session: frames must be bit-identical")
        self.placement = placement or Placement()
        self.split = models.body.config.split
        # the body nets' feature scales: the seam filter works in normalised units
        self._body_scale = (_std(models.body.lower.norm), _std(models.body.upper.norm))
        self.counters: Counter[str] = Counter()
        # Inference runs on one dedicated thread with `cpu_threads` torch intra-op threads. The setting
        # is per thread (OpenMP), so the front end keeps its own; switching it back and forth on a
        # shared thread instead rebuilds OpenMP's team every call (measured: mel 0.5 -> 13 ms per call).
        # A window's matrices are small: a second thread gains nothing, and on a busy 2-core machine
        # its spin-waits cost 10-100x (measured).
        self._worker = ThreadPoolExecutor(1, "dyad-learned", initializer=torch.set_num_threads, initargs=(config.cpu_threads,))
        self.warnings: list[str] = [] if models.trained else ["untrained weights: the motion is random, not learned"]
        # Real voices differ from the training voices in level and timbre: each person's log-mel is mapped onto the
        # training speech statistics (runtime/mel_normalizer.py) when the folder has them. Per session: the batched
        # path (animate_batch, several dyads in one call) hears the features unmapped.
        self._mel_reference = load_reference(models.folder) if config.mel_normalize and models.folder is not None else None
        trained_normalized = models.body.config.mel_normalized or models.face.config.mel_normalized
        if trained_normalized and config.mel_normalize and self._mel_reference is None:
            raise DyadError(f"{models.folder}: the models were trained on per-person normalised log-mel, but the folder has no mel_reference.json")
        if trained_normalized and not config.mel_normalize:
            self.warnings.append("mel normalisation off: the models were trained with it, they hear raw log-mel")
        self.mel_normalizer = self._new_normalizer()

    def _new_normalizer(self) -> RunningMelNormalizer | None:
        return None if self._mel_reference is None else RunningMelNormalizer(self._mel_reference, self.fps)

    @property
    def steps(self) -> int:
        return self.failure_policy.steps

    def attach_stats(self, stats: SessionStats) -> None:
        """The session's hook: time lower body, upper body and face of every hop as stages
        `animate.lower`, `animate.upper`, `animate.face` (inside `animate.learned`)."""
        self._stats = stats

    def _time_part(self, part: str):
        return nullcontext() if self._stats is None else self._stats.stage(f"animate.{part}")

    def on_failure(self, frame: int, error: BaseException) -> None:
        """The scheduler's hook after `animate` raised: free cached GPU memory, halve the steps."""
        oom = is_out_of_memory(error)
        self.counters["hop_failures_out_of_memory" if oom else "hop_failures"] += 1
        if oom and torch.cuda.is_available():
            torch.cuda.empty_cache()  # the failed hop's blocks stay cached otherwise
        why = "out of memory" if oom else type(error).__name__
        decision = self.failure_policy.after_failure(frame, f"hop at frame {frame} failed: {why}")
        if decision is not None:
            log.warning("steps %d -> %d at frame %d: %s", decision.steps_from, decision.steps_to, decision.frame, decision.reason)

    # -- the contract -------------------------------------------------------
    def animate(self, window: AnimationWindow) -> People:
        if window.new_frames == 0:
            return (), ()
        start = time.perf_counter()
        people = self._worker.submit(self._animate, window, self.steps).result()
        if self.policy is not None:
            decision = self.policy.observe(window.first_new_frame, (time.perf_counter() - start) * 1000.0)
            if decision is not None:
                log.warning("steps %d -> %d at frame %d: %s", decision.steps_from, decision.steps_to, decision.frame, decision.reason)
        return people

    def _animate(self, window: AnimationWindow, steps: int) -> People:
        inputs = self._inputs(window, normalize=True)
        outputs = self.generator.generate(inputs, steps, _seed(self.seed, window.first_new_frame))
        return self._poses(window, outputs)

    def animate_batch(self, windows: list[AnimationWindow]) -> list[People]:
        """Several dyads' windows of one shape in one model call per denoiser per step (a server's
        batched path); each window gets exactly the poses `animate` would give it, up to float
        summation order. No step adaptation: the caller owns the budget of the whole batch."""
        return self._worker.submit(self._animate_batch, windows, self.steps).result()

    def _animate_batch(self, windows: list[AnimationWindow], steps: int) -> list[People]:
        inputs = [self._inputs(window) for window in windows]
        outputs = self.generator.generate_batch(inputs, steps, [_seed(self.seed, w.first_new_frame) for w in windows])
        return [self._poses(window, out) for window, out in zip(windows, outputs)]

    # -- window -> model inputs ---------------------------------------------
    def _feature(self, f: PersonFeatures, name: str, dim: int, frames: int) -> np.ndarray | None:
        value = getattr(f, name, None)
        if value is None:
            return None
        value = np.asarray(value, dtype=np.float32).reshape(frames, -1)
        if value.shape[1] != dim:
            raise ValueError(f"{name} features have {value.shape[1]} dimensions, the model was trained on {dim}")
        return self._finite(value, name)

    def _finite(self, value: np.ndarray, name: str) -> np.ndarray:
        bad = ~np.isfinite(value)
        if bad.any():
            self.counters[f"nonfinite_{name}_values"] += int(bad.sum())
            value = np.where(bad, np.float32(0.0), value)
        return value

    def _person_features(self, f: PersonFeatures, frames: int) -> tuple[np.ndarray, ...]:
        body, face = self.models.body.config, self.models.face.config
        mel = self._feature(f, "mel", body.mel_dim, frames)
        words = self._feature(f, "words", body.word_dim, frames)
        if face.audio_input == "mel":
            wav2vec = mel  # a mel-conditioned face model hears the session's log-mel, no speech encoder needed
        else:
            wav2vec = self._feature(f, "wav2vec", face.wav2vec_dim, frames)
        no_text = getattr(f, "no_text", None)
        if words is None:
            words, no_text = np.zeros((frames, body.word_dim), np.float32), np.ones(frames, np.float32)
        elif no_text is None:
            no_text = np.zeros(frames, np.float32)
        if wav2vec is None:
            wav2vec = np.zeros((frames, face.wav2vec_dim), np.float32)
        return mel, words, self._finite(np.asarray(no_text, np.float32).reshape(frames), "no_text"), wav2vec

    def _context_arrays(self, window: AnimationWindow) -> tuple[np.ndarray, ...]:
        """Known values and masks [2, T, D] for lower, upper and face from the context poses."""
        t, c = window.total_frames, window.context_frames
        dims = (self.split.lower_dim, self.split.upper_dim, len(self.models.face.config.face_names))
        known = [np.zeros((2, t, d)) for d in dims]
        masks = [np.zeros((2, t, d)) for d in dims]
        if c:
            roots = np.array([[pose.root_position for pose in people] for people in window.context], dtype=np.float64)
            rotations = np.array([[pose.joint_rotations for pose in people] for people in window.context], dtype=np.float64)
            faces = np.array([[pose.face for pose in people] for people in window.context], dtype=np.float64)
            lower, upper = encode_body(self.skeleton, self.split, roots, rotations)
            for values, k, m in zip((lower, upper, faces), known, masks):
                k[:, :c], m[:, :c] = values, 1.0
            masks[0][:, 0, DELTA_COLUMNS] = 0.0  # the first context frame's predecessor is not in the window
        return (*known, *masks)

    def _start(self, window: AnimationWindow, frame: int) -> tuple[np.ndarray, np.ndarray]:
        """(xz [2, 2], yaw [2]) of context frame `frame`, or the initial placement without context."""
        if window.context_frames == 0:
            return initial_placement(self.placement, window.controls)
        poses = [people[frame] for people in window.context]
        xz = np.array([[p.root_position[0], p.root_position[2]] for p in poses], dtype=np.float64)
        return xz, np.array([float(yaw_of(p.joint_rotations[0])) for p in poses])

    def _inputs(self, window: AnimationWindow, normalize: bool = False) -> DyadInputs:
        t = window.total_frames
        features = self.mel_normalizer(window) if normalize and self.mel_normalizer is not None else window.features
        per_person = [self._person_features(f, t) for f in features]
        mel, words, no_text, wav2vec = (np.stack(parts) for parts in zip(*per_person))
        lower_k, upper_k, face_k, lower_m, upper_m, face_m = self._context_arrays(window)
        actions = np.array([[ACTIONS.index(a)] * t for a in window.controls.actions], dtype=np.int64)
        xz, yaw = self._start(window, 0)
        return DyadInputs(
            mel=mel, words=words, no_text=no_text, actions=actions,
            placement=relative_placement(xz, yaw, self.models.body.config.placement_scale),
            wav2vec=wav2vec, speakers=np.array(self.config.speakers, dtype=np.int64) % self.models.face.config.speakers,
            facing=window.controls.facing,
            lower_known=lower_k, lower_mask=lower_m, upper_known=upper_k, upper_mask=upper_m, face_known=face_k, face_mask=face_m,
        )  # fmt: skip

    # -- model outputs -> poses ---------------------------------------------
    def _poses(self, window: AnimationWindow, out: DyadOutputs) -> People:
        c, n = window.context_frames, window.new_frames
        first = max(c - 1, 0)  # integrate from the last context frame, as it was sent
        xz, yaw = self._start(window, c - 1)
        lower, upper = out.lower.copy(), out.upper.copy()
        if self.config.smoothing and c:
            lower_scale, upper_scale = self._body_scale
            lower[:, c:] = smooth_new_frames(out.lower, c, self.fps, self.config.smoothing, lower_scale)
            upper[:, c:] = smooth_new_frames(out.upper, c, self.fps, self.config.smoothing, upper_scale)
        roots, rotations = decode_body(self.skeleton, self.split, lower[:, first : c + n], upper[:, first : c + n], xz, yaw)
        if self.config.anchor is not None:
            roots, rotations[..., 0, :] = anchor_roots(roots, rotations[..., 0, :], window.controls, self.placement, self.config.anchor)
        skip = 1 if c else 0
        face = out.face[:, c : c + n].copy()
        face[..., ARKIT_SLICE] = np.clip(face[..., ARKIT_SLICE], *SHAPE_RANGE)
        face[..., HEAD_EYE_SLICE] = np.clip(face[..., HEAD_EYE_SLICE], *ANGLE_RANGE)
        people = []
        for p in (0, 1):
            vad = window.features[p].vad[window.new_slice()]
            people.append(tuple(
                PersonPose(p, roots[p, skip + k], rotations[p, skip + k], face[p, k], float(vad[k]))
                for k in range(n)
            ))  # fmt: skip
        return people[0], people[1]

    # -- load-time checks and reporting ---------------------------------------
    def warm_up(self, session: SessionConfig) -> None:
        """One full window (context, sampling, decoding) with the configured steps, before the session
        starts: any shape, device or numeric problem surfaces now, not mid-session."""
        timing = session.timing
        c, n, a = timing.context_frames, timing.hop_frames, timing.lookahead_frames
        t = c + n + a
        silence = PersonFeatures(np.full((t, session.mel.n_mels), np.log(LOG_FLOOR), np.float32), np.full(t, -100.0, np.float32), np.zeros(t, np.float32))
        xz, yaw = initial_placement(self.placement, session.controls)
        rest = []
        for p in (0, 1):
            rotations = np.zeros((self.skeleton.num_joints, 3))
            rotations[0, 1] = yaw[p]  # a rotation about +Y only: the heading
            rest.append(PersonPose(p, (xz[p, 0], self.skeleton.offsets[0, 1], xz[p, 1]), rotations, np.zeros(NUM_LIVE_LINK)))
        window = AnimationWindow(0, c, n, a, self.fps, (silence, silence), ((rest[0],) * c, (rest[1],) * c), session.controls)
        people = self._worker.submit(self._animate, window, self.steps).result()
        self.mel_normalizer = self._new_normalizer()  # the warm-up's silence is not the session's
        for pose in people[0] + people[1]:
            if not all(np.isfinite(x).all() for x in (pose.root_position, pose.joint_rotations, pose.face)):
                raise DyadError(f"{self.models.folder}: the model produces NaN or infinite poses on a silent window")

    def check_features(self, wav2vec_dim: int | None = None, words_dim: int | None = None) -> None:
        """Refuse, before the session starts, speech featurizers whose sizes the models were not trained on."""
        body, face = self.models.body.config, self.models.face.config
        if wav2vec_dim is not None and face.audio_input == "wav2vec2" and wav2vec_dim != face.wav2vec_dim:
            raise DyadError(f"{self.models.folder}: the face model takes {face.wav2vec_dim}-dim Wav2Vec2 features, the encoder gives {wav2vec_dim}")
        if words_dim is not None and words_dim != body.word_dim:
            raise DyadError(f"{self.models.folder}: the body model takes {body.word_dim}-dim word features, the BERT encoder gives {words_dim}")

    def budget_changed(self, allowance_ms: float) -> None:
        """A control message changed the budget: steps adapt against the new compute allowance."""
        if self.policy is not None:
            self.policy.set_allowance(allowance_ms)

    def report(self) -> dict:
        steps = self.policy.report() if self.policy is not None else {"steps_now": self.steps, "adapt": False, "why": self.fixed_reason}
        if self.policy is None and self.failure_policy.decisions:
            steps["after_failures"] = [asdict(d) for d in self.failure_policy.decisions]
        return {
            "model_dir": str(self.models.folder),
            "trained": self.models.trained,
            "face_weights": self.models.face_weights,
            "config": {**asdict(self.config), "model_dir": str(self.config.model_dir)},
            "steps": steps,
            "counters": dict(self.counters),
            "warnings": list(self.warnings),
        }


def _std(norm) -> np.ndarray:
    return norm.std.detach().cpu().numpy().astype(np.float64)


def _denoisers(models: LoadedModels, config: LearnedConfig) -> dict | None:
    kind, _, index = config.device.partition(":")
    if config.backend == "torch":
        if kind == "cuda" and torch.cuda.device_count() <= int(index or 0):
            raise DyadError(f"--device {config.device}: torch sees {torch.cuda.device_count()} CUDA devices on this machine")
        return None
    return onnx_denoisers(models, "tensorrt" if config.tensorrt else kind, config.cpu_threads, int(index or 0))


def load_learned_animator(config: LearnedConfig, session: SessionConfig, skeleton: Skeleton) -> LearnedAnimator:
    """Load, check against the session and warm up; every problem is a DyadError before the session starts."""
    config.validate()
    try:
        models = load_model_dir(config.model_dir, config.face_weights)
        check_skeleton(models.body.config, skeleton, models.folder / "body.safetensors")
        denoisers = _denoisers(models, config)
    except ModelLoadError as error:
        raise DyadError(str(error)) from None
    body, face = models.body.config, models.face.config
    if session.mel.n_mels != body.mel_dim:
        raise DyadError(f"{config.model_dir}: the body model takes {body.mel_dim} mel bands, the session makes {session.mel.n_mels}")
    if face.audio_input == "mel" and session.mel.n_mels != face.wav2vec_dim:
        raise DyadError(f"{config.model_dir}: the face model takes {face.wav2vec_dim} mel bands, the session makes {session.mel.n_mels}")
    for what, model_fps in (("body", body.fps), ("face", face.fps)):
        if model_fps != session.timing.fps:
            raise DyadError(f"{config.model_dir}: the {what} model runs at {model_fps} fps, the session at {session.timing.fps} (use --fps {model_fps})")
    policy = None
    if config.adapt and not session.offline:
        policy = StepPolicy(config.steps, allowance_ms=session.timing.budget_ms - session.minimum_budget_ms())
    animator = LearnedAnimator(models, skeleton, config, session.timing.fps, session.seed, denoisers, policy)
    animator.warm_up(session)
    if not models.trained:
        log.warning("%s holds untrained weights: the learned path runs, its motion is meaningless", config.model_dir)
    return animator
