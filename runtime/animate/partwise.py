"""Which animator drives which part: face and body chosen separately.

A model folder may say, in `model.json`, which of its parts should run by default:

    "parts": {"face": "procedural", "body": "learned"},
    "parts_why": "the learned face loses to the procedural one on real voices (MODEL_CARD.md)"

(absent: both learned). `--face-animator` and `--body-animator` override it. The default
follows the real-voice evaluation (`dyad bench realvoice`), per part: a part that loses to
the rule-based animator on human speech does not run by default.

`PartwiseAnimator` runs the learned animator and takes from the procedural one the parts it
should drive: for the face, the 52 ARKit shapes (the head and eye angles stay with the body
they belong to); for the body, root and joints (the head angles in the face values are then
the procedural head's). Both see the same window, so their frames line up one to one.
"""

from __future__ import annotations

import json
from pathlib import Path

from dyad.runtime.animate.animator import Animator
from dyad.runtime.errors import DyadError
from dyad.runtime.frames import AnimationWindow, PersonPose

PART_CHOICES = ("learned", "procedural")
_ARKIT = slice(0, 52)
_HEAD_EYES = slice(52, 61)


def manifest_parts(folder: Path) -> tuple[dict[str, str], str]:
    """({"face": ..., "body": ...}, why) from the folder's model.json; both learned when it says nothing."""
    path = Path(folder) / "model.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        manifest = None
    if not isinstance(manifest, dict):
        return {"face": "learned", "body": "learned"}, ""  # the model loader reports an unreadable manifest itself
    parts = manifest.get("parts") or {}
    if not isinstance(parts, dict):
        raise DyadError(f"{path}: 'parts' must be an object like {{\"face\": \"procedural\", \"body\": \"learned\"}}")
    out = {}
    for part in ("face", "body"):
        choice = parts.get(part, "learned")
        if choice not in PART_CHOICES:
            raise DyadError(f"{path}: parts.{part} must be one of {', '.join(PART_CHOICES)}, got {choice!r}")
        out[part] = choice
    return out, str(manifest.get("parts_why", ""))


def resolve_parts(folder: Path, face: str | None, body: str | None) -> tuple[dict[str, str], str]:
    """The parts a session runs: the flags where given, else the folder's defaults."""
    parts, why = manifest_parts(folder)
    overridden = {k: v for k, v in (("face", face), ("body", body)) if v is not None}
    for part, choice in overridden.items():
        if choice not in PART_CHOICES:
            raise DyadError(f"--{part}-animator must be one of {', '.join(PART_CHOICES)}, got {choice!r}")
    return parts | overridden, ("set on the command line" if overridden else why)


def _merge(learned: PersonPose, procedural: PersonPose, face: str, body: str) -> PersonPose:
    source = procedural if body == "procedural" else learned
    values = source.face.copy()  # head and eye angles go with the body that moves the head
    values[_ARKIT] = (procedural if face == "procedural" else learned).face[_ARKIT]
    return PersonPose(learned.person, source.root_position, source.joint_rotations, values, learned.speaking)


class PartwiseAnimator(Animator):
    """The learned animator for some parts, the procedural one for the others.

    Every session hook goes to the learned animator: it is the one whose steps adapt and
    whose failures the fallback covers; the procedural one is stateless per window.
    """

    def __init__(self, learned, procedural, face: str, body: str) -> None:
        if face not in PART_CHOICES or body not in PART_CHOICES:
            raise DyadError(f"parts must be {' or '.join(PART_CHOICES)}, got face={face!r} body={body!r}")
        self.learned = learned
        self.procedural = procedural
        self.face, self.body = face, body
        self.name = learned.name  # the session's stage names and reports stay the learned animator's

    @property
    def steps(self) -> int:
        return self.learned.steps

    def attach_stats(self, stats) -> None:
        self.learned.attach_stats(stats)

    def check_features(self, wav2vec_dim: int | None = None, words_dim: int | None = None) -> None:
        self.learned.check_features(wav2vec_dim, words_dim)

    def on_failure(self, frame: int, error: BaseException) -> None:
        self.learned.on_failure(frame, error)

    def budget_changed(self, allowance_ms: float) -> None:
        self.learned.budget_changed(allowance_ms)

    def warm_up(self, session) -> None:
        self.learned.warm_up(session)

    def animate(self, window: AnimationWindow):
        learned = self.learned.animate(window)
        procedural = self.procedural.animate(window)
        return tuple(tuple(_merge(a, b, self.face, self.body) for a, b in zip(lp, pp)) for lp, pp in zip(learned, procedural))

    def report(self) -> dict:
        return self.learned.report() | {"parts": {"face": self.face, "body": self.body}}
