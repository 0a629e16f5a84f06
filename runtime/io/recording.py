"""Recording takes in `--out`: the BVH and Live Link Face CSV recorders, started and stopped at run time.

Take 1 is written straight into the folder (p0.bvh, p1.bvh, p0_face.csv,
p1_face.csv), take n >= 2 into `take002/`, `take003/`, ... Without control
input there is exactly one take, from the first frame to the last (start it
later with `--record-paused` and a `record 1` control message). A stopped take
is drained and closed at once, so its files are complete while the session
goes on. session.json always lands in the folder itself.
"""

from __future__ import annotations

import threading
from pathlib import Path

from dyad.models.skeleton import Skeleton
from dyad.runtime.errors import DyadError
from dyad.runtime.io.sinks import Sink, SinkSet, recorders_for

MAX_TAKES = 999  # take names have three digits; a flood of record messages must not fill the disk with folders


class Recording:
    def __init__(self, out_dir: Path | None, skeleton: Skeleton, fps: int, at_start: bool = True) -> None:
        self.out_dir = out_dir
        self.at_start = at_start
        self._skeleton = skeleton
        self._fps = fps
        self._sinks: SinkSet | None = None
        self._current: list[Sink] = []
        self.takes: list[str] = []
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        return bool(self._current)

    def first_take(self) -> list[Sink]:
        """The recorders of take 1, for the session to include in its sinks from the start."""
        if self.out_dir is None:
            return []
        if not self.at_start:
            try:  # session.json goes here even if no take is ever started
                self.out_dir.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise DyadError(f"output folder '{self.out_dir}': {error.strerror or error}") from error
            return []
        self._current = self._open()
        return list(self._current)

    def attach(self, sinks: SinkSet) -> None:
        self._sinks = sinks

    def _open(self) -> list[Sink]:
        assert self.out_dir is not None
        number = len(self.takes) + 1
        folder = self.out_dir if number == 1 else self.out_dir / f"take{number:03d}"
        recorders = recorders_for(folder, self._skeleton, self._fps)
        if number > 1:  # distinct names keep every take's counters apart in session.json
            for recorder in recorders:
                recorder.name = f"{recorder.name}.take{number:03d}"
        self.takes.append(str(folder))
        return recorders

    def start(self) -> None:
        """Start a new take from the next frame; ValueError if there is no --out or a take is running."""
        with self._lock:
            if self.out_dir is None:
                raise ValueError("no --out folder to record into")
            if self._current:
                raise ValueError(f"already recording into {self.takes[-1]}")
            if len(self.takes) >= MAX_TAKES:
                raise ValueError(f"{MAX_TAKES} takes already recorded in this session")
            assert self._sinks is not None, "Recording.attach was not called"
            try:
                self._current = self._open()
            except DyadError as error:  # a full disk or a read-only folder refuses the take, not the session
                raise ValueError(str(error)) from None
            self._sinks.add_all(self._current)  # all from the same frame

    def stop(self) -> None:
        """Finish the running take: what was sent is written, the files are closed."""
        with self._lock:
            if not self._current:
                raise ValueError("not recording")
            assert self._sinks is not None, "Recording.attach was not called"
            self._sinks.remove_all(self._current)  # all at the same frame: the take's files agree
            self._current = []

    def summary(self) -> dict:
        return {"takes": list(self.takes), "recording_at_end": self.active}
