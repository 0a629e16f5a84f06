"""Where the scheduler leaves frames for the emitter, and the record of what was sent.

Thread-safe. A frame index is closed the moment the emitter takes it: a frame
delivered after that is refused and counted as late, so no index is ever sent
twice. `history` keeps what was decided for recent frames (produced, or the
fallback that replaced it) so the next window's past context matches what
receivers actually saw.
"""

from __future__ import annotations

import threading

from dyad.runtime.frames import PersonPose

People = tuple[PersonPose, ...]


class FrameStore:
    def __init__(self, history_frames: int) -> None:
        self._frames: dict[int, People] = {}
        self._hints: dict[int, People] = {}
        self._history: dict[int, People] = {}
        self._history_frames = max(1, history_frames)
        self._next_index = 0  # the next index the emitter will take; everything below is closed
        self._lock = threading.Lock()
        self.late_frames = 0

    @property
    def next_index(self) -> int:
        return self._next_index

    def put(self, index: int, people: People) -> bool:
        """Offer a produced frame; False (and counted) if its index is already closed."""
        with self._lock:
            if index < self._next_index:
                self.late_frames += 1
                return False
            self._frames[index] = people
            self._history[index] = people
            return True

    def put_hint(self, index: int, people: People) -> None:
        """A cheap procedural frame the emitter may use if the real one misses its deadline."""
        with self._lock:
            if index >= self._next_index:
                self._hints[index] = people

    def take(self, index: int) -> tuple[People | None, People | None]:
        """Close `index` and return (produced frame or None, hint or None)."""
        with self._lock:
            self._next_index = index + 1
            frame = self._frames.pop(index, None)
            hint = self._hints.pop(index, None)
            for stale in [k for k in self._hints if k < index]:
                del self._hints[stale]
            return frame, hint

    def record_sent(self, index: int, people: People) -> None:
        with self._lock:
            self._history[index] = people
            oldest = index - self._history_frames
            for stale in [k for k in self._history if k < oldest]:
                del self._history[stale]

    def history(self, first: int, count: int) -> list[People | None]:
        with self._lock:
            return [self._history.get(k) for k in range(first, first + count)]
