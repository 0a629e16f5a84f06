"""The animator contract: what the scheduler hands an animator each hop, and what it gets back.

The window and its features are messages (dyad.runtime.frames). A window covers absolute animation frames
    [first_frame, first_frame + context + new + lookahead)
= [past context | new frames | audio lookahead]. Features exist for every frame
of the window; poses exist for the context frames (what was produced before,
so windows can join without a seam). The animator returns poses for the new
frames only.
"""

from __future__ import annotations

from dyad.runtime.frames import AnimationWindow, PersonPose


def is_out_of_memory(error: BaseException) -> bool:
    """An allocator failure (torch.cuda.OutOfMemoryError, ONNX Runtime's "Failed to allocate memory",
    MemoryError), told apart by name and message so this contract stays free of torch."""
    if isinstance(error, MemoryError) or any(cls.__name__ == "OutOfMemoryError" for cls in type(error).__mro__):
        return True
    text = str(error).lower()
    return "out of memory" in text or "failed to allocate memory" in text


class Animator:
    """Turns a window of features into poses for its new frames, for both people.

    Must be deterministic for a given seed and window contents: offline runs are
    compared bit for bit. Subclasses implement `animate`; the other hooks do nothing
    unless overridden, so the session and scheduler call them without asking first.
    """

    name: str = "animator"

    def animate(self, window: AnimationWindow) -> tuple[tuple[PersonPose, ...], tuple[PersonPose, ...]]:
        raise NotImplementedError

    def attach_stats(self, stats) -> None:
        """Called once by the session, so the animator can time its own parts as extra stages."""

    def check_features(self, wav2vec_dim: int | None = None, words_dim: int | None = None) -> None:
        """Called before going live with the learned feature sizes; raise DyadError to refuse them."""

    def on_failure(self, frame: int, error: BaseException) -> None:
        """Called after `animate` raised, so the next hop can ask for less (fewer sampling steps)."""

    def budget_changed(self, allowance_ms: float) -> None:
        """Called when control input changes the budget; `allowance_ms` is what it leaves for compute."""

    def report(self) -> dict | None:
        """What session.json records about this animator (steps decisions, weights), or None."""
        return None
