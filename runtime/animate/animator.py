"""The animator contract: what the scheduler hands an animator each hop, and what it gets back.

A window covers absolute animation frames
    [first_frame, first_frame + context + new + lookahead)
= [past context | new frames | audio lookahead]. Features exist for every frame
of the window; poses exist for the context frames (what was produced before,
so windows can join without a seam). The animator returns poses for the new
frames only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from dyad.runtime.frames import ControlState, PersonPose


@dataclass(frozen=True)
class PersonFeatures:
    """Frame-rate features of one person's separated voice over a window."""

    mel: np.ndarray  # [T, n_mels] log-mel (natural log of power), averaged per animation frame
    rms_db: np.ndarray  # [T] RMS level in dBFS of the separated signal
    vad: np.ndarray  # [T] Silero speech probability, 0..1
    # Learned speech features, None unless the session runs those encoders (runtime/speech.py).
    # The partner's Wav2Vec2 features are the other person's `wav2vec` in the same window.
    wav2vec: np.ndarray | None = None  # [T, D] Wav2Vec2 of this person's voice, interpolated to the frame centres
    words: np.ndarray | None = None  # [T, D_bert] BERT vector of the word spoken at each frame, zeros where none is known
    no_text: np.ndarray | None = None  # [T] 1.0 where no word is known for the frame, else 0.0

    @property
    def frames(self) -> int:
        return int(self.rms_db.shape[0])


@dataclass(frozen=True)
class AnimationWindow:
    first_frame: int
    context_frames: int
    new_frames: int
    lookahead_frames: int
    fps: int
    features: tuple[PersonFeatures, PersonFeatures]
    context: tuple[tuple[PersonPose, ...], tuple[PersonPose, ...]]  # per person, oldest first
    controls: ControlState

    @property
    def first_new_frame(self) -> int:
        return self.first_frame + self.context_frames

    @property
    def total_frames(self) -> int:
        return self.context_frames + self.new_frames + self.lookahead_frames

    def new_slice(self) -> slice:
        """Rows of the feature arrays that belong to the new frames."""
        return slice(self.context_frames, self.context_frames + self.new_frames)


def is_out_of_memory(error: BaseException) -> bool:
    """An allocator failure (torch.cuda.OutOfMemoryError, ONNX Runtime's "Failed to allocate memory",
    MemoryError), told apart by name and message so this contract stays free of torch."""
    if isinstance(error, MemoryError) or any(cls.__name__ == "OutOfMemoryError" for cls in type(error).__mro__):
        return True
    text = str(error).lower()
    return "out of memory" in text or "failed to allocate memory" in text


class Animator(Protocol):
    """Turns a window of features into poses for its new frames, for both people.

    Must be deterministic for a given seed and window contents: offline runs are
    compared bit for bit. An animator may also define `on_failure(frame, error)`: the
    scheduler calls it after `animate` raised, so the next hop can ask for less
    (the learned animator halves its sampling steps). `attach_stats(stats)`, if defined, is called
    once by the session so the animator can time its own parts as extra stages.
    """

    name: str

    def animate(self, window: AnimationWindow) -> tuple[tuple[PersonPose, ...], tuple[PersonPose, ...]]: ...
