"""The deadline fallback: what the emitter sends when the scheduler's frame is not ready.

The last sent pose is eased toward a target: the procedural animator's frame
for this index when the scheduler left one as a hint (so lips keep moving with
the voice), else the procedural animator's neutral, silent pose. Easing (a
fixed fraction per frame in exponential-map space) avoids a visible snap when
the stream falls back and again when it recovers.
"""

from __future__ import annotations

from typing import Callable

from dyad.runtime.frames import PersonPose

People = tuple[PersonPose, ...]


class Fallback:
    def __init__(self, neutral: Callable[[int], People], ease: float = 0.3) -> None:
        """`neutral(index)` gives a silent procedural frame for both people at frame `index`."""
        if not 0.0 < ease <= 1.0:
            raise ValueError(f"fallback ease must be in (0, 1], got {ease}")
        self._neutral = neutral
        self._ease = ease

    def frame(self, index: int, last: People | None, hint: People | None) -> People:
        target = hint if hint is not None else self._neutral(index)
        if last is None:
            return target
        return tuple(self._ease_person(previous, goal, hint is not None) for previous, goal in zip(last, target))

    def _ease_person(self, previous: PersonPose, goal: PersonPose, face_follows_goal: bool) -> PersonPose:
        a = self._ease
        face = goal.face if face_follows_goal else previous.face + a * (goal.face - previous.face)
        return PersonPose(
            person=goal.person,
            root_position=previous.root_position + a * (goal.root_position - previous.root_position),
            joint_rotations=previous.joint_rotations + a * (goal.joint_rotations - previous.joint_rotations),
            # With a hint the face follows it directly: lips must track the voice, not lag behind it.
            face=face,
            speaking=goal.speaking,
        )
