"""The scheduler: every hop, one window [past context | new frames | lookahead] through the animator.

It runs as soon as the features of a hop (and its lookahead) are finished. A
hop whose frames the emitter has already closed is not computed at all: the
scheduler jumps to the emitter's next index and counts the frames it skipped,
so a stall is followed by fresh frames, not by a queue of stale ones.
"""

from __future__ import annotations

import logging

from dyad.runtime.animate.animator import Animator, is_out_of_memory
from dyad.runtime.config import TimingConfig
from dyad.runtime.frontend.features import FeatureTimeline
from dyad.runtime.frame_store import FrameStore
from dyad.runtime.frames import AnimationWindow, ControlState
from dyad.runtime.stats import SessionStats

log = logging.getLogger("dyad.scheduler")


class Scheduler:
    def __init__(
        self,
        timing: TimingConfig,
        animator: Animator,
        timeline: FeatureTimeline,
        store: FrameStore,
        stats: SessionStats,
        fallback_animator: Animator | None = None,
        controls: ControlState | None = None,
    ) -> None:
        self.timing = timing
        self.animator = animator
        self.fallback_animator = fallback_animator  # run first each hop to leave hints, unless it is the animator
        self.timeline = timeline
        self.store = store
        self.stats = stats
        self.controls = controls or ControlState()
        self.next_frame = 0

    def set_controls(self, state: ControlState) -> None:
        """From any thread (control input): one attribute store, so the next window sees the whole new state."""
        self.controls = state

    def poll(self, end_frame: int | None = None) -> int:
        """Run every hop whose inputs are ready; `end_frame` (input ended) lets the last hops run on padding."""
        hops = 0
        while True:
            self._skip_closed_frames()
            start = self.next_frame
            if end_frame is not None:
                if start >= end_frame:
                    break
                count = min(self.timing.hop_frames, end_frame - start)
            else:
                count = self.timing.hop_frames
                if self.timeline.ready_until < start + count + self.timing.lookahead_frames:
                    break
            self._run_hop(start, count)
            hops += 1
        return hops

    def _skip_closed_frames(self) -> None:
        closed = self.store.next_index
        if self.next_frame < closed:
            self.stats.count("skipped_frames", closed - self.next_frame)
            self.next_frame = closed

    def _run_hop(self, start: int, count: int) -> None:
        window = self._window(start, count)
        if self.fallback_animator is not None and self.fallback_animator is not self.animator:
            with self.stats.stage("fallback_hint"):
                hints = self.fallback_animator.animate(window)
            for offset, people in enumerate(zip(*hints)):
                self.store.put_hint(start + offset, people)
        try:
            with self.stats.stage(f"animate.{self.animator.name}"):
                result = self.animator.animate(window)
        except Exception as error:  # an animator failure costs this hop (fallback frames), never the session
            self._failed(start, count, error)
            return
        for offset, people in enumerate(zip(*result)):
            self.store.put(start + offset, people)
        self.stats.count("hops")
        self.next_frame = start + count

    def _failed(self, start: int, count: int, error: Exception) -> None:
        """Count the failure, let the animator scale down for the next hop, move on: the emitter
        sends this hop's frames from the procedural hints (counted there as deadline misses)."""
        self.stats.count("animator_errors")
        self.stats.count("fallback_hop_frames", count)
        if is_out_of_memory(error):
            self.stats.count("animator_out_of_memory")
        log.warning("animator %s failed on frames %d..%d: %s: %s", self.animator.name, start, start + count - 1, type(error).__name__, str(error)[:200])
        self.next_frame = start + count
        try:
            self.animator.on_failure(start, error)
        except Exception as inner:  # recovery must not become the failure
            log.warning("animator %s on_failure raised: %s", self.animator.name, inner)

    def _window(self, start: int, count: int) -> AnimationWindow:
        first = max(0, start - self.timing.context_frames)
        context_count = start - first
        history = self.store.history(first, context_count)
        # Context is only as long as the unbroken run of known poses just before `start`.
        known = 0
        for people in reversed(history):
            if people is None:
                break
            known += 1
        first = start - known
        history = history[len(history) - known :]
        lookahead = self.timing.lookahead_frames
        features = self.timeline.window(first, known + count + lookahead)
        context = tuple(tuple(people[p] for people in history) for p in range(2))
        return AnimationWindow(
            first_frame=first,
            context_frames=known,
            new_frames=count,
            lookahead_frames=lookahead,
            fps=self.timing.fps,
            features=features,
            context=context,
            controls=self.controls,
        )
