"""A silent window with rest poses as context: what calibration times (the shape of every live hop)."""

from __future__ import annotations

import numpy as np

from dyad.models.arkit import NUM_LIVE_LINK
from dyad.runtime.animate.learned_animator import initial_placement
from dyad.runtime.config import SessionConfig
from dyad.runtime.frames import AnimationWindow, PersonFeatures, PersonPose
from dyad.runtime.frontend.mel import LOG_FLOOR


def silent_window(animator, session: SessionConfig, context_frames: int | None = None) -> AnimationWindow:
    t = session.timing
    c = t.context_frames if context_frames is None else context_frames
    n, a = t.hop_frames, t.lookahead_frames
    frames = c + n + a
    silence = PersonFeatures(np.full((frames, session.mel.n_mels), np.log(LOG_FLOOR), np.float32),
                             np.full(frames, -100.0, np.float32), np.zeros(frames, np.float32))  # fmt: skip
    xz, yaw = initial_placement(animator.placement, session.controls)
    rest = []
    for p in (0, 1):
        rotations = np.zeros((animator.skeleton.num_joints, 3))
        rotations[0, 1] = yaw[p]
        rest.append(PersonPose(p, (xz[p, 0], animator.skeleton.offsets[0, 1], xz[p, 1]), rotations, np.zeros(NUM_LIVE_LINK)))
    return AnimationWindow(0, c, n, a, t.fps, (silence, silence), ((rest[0],) * c, (rest[1],) * c), session.controls)


def silent_inputs(animator, session: SessionConfig, context_frames: int | None = None):
    return animator._inputs(silent_window(animator, session, context_frames))
