"""A recording file that only ever holds whole lines, shared by the BVH, face CSV and timing recorders.

- Created exclusively (O_EXCL): a recorder never truncates a file that exists, so
  a run can never empty a previous take, and O_NOFOLLOW | O_NONBLOCK refuse a
  symlink or a FIFO planted under a recording's name instead of hanging on it.
- Data goes in with plain `os.write` of whole lines (a buffered file would spill
  half a line whenever its buffer fills). If a write fails or stops short (disk
  full, `ulimit -f`, an I/O error), the file is cut back to the end of the last
  whole block with `ftruncate` (shrinking is allowed even over a file-size limit)
  and the error is kept: the file stays whole and the recorder stops cleanly.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Callable


# Called with each new file's path (a crash guardian outside the process can then repair it after a kill -9).
created_hooks: list[Callable[[Path], None]] = []


class RecordingStopped(OSError):
    """A recording file could not take more data; what it holds is whole."""


class LineFile:
    def __init__(self, path: Path, header: bytes) -> None:
        self.path = Path(path)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            self.fd = os.open(self.path, flags, 0o644)
        except FileExistsError:
            raise FileExistsError(errno.EEXIST, "already exists (a recording is never overwritten)", str(self.path)) from None
        if not stat.S_ISREG(os.fstat(self.fd).st_mode):  # cannot happen with O_EXCL, but a recording must be a file
            os.close(self.fd)
            raise OSError(errno.EINVAL, "not a regular file", str(self.path))
        self.size = 0  # bytes known whole on disk
        self.error: str | None = None
        for hook in list(created_hooks):
            hook(self.path)
        self.append(header)

    def append(self, data: bytes) -> None:
        """Write `data` whole, or leave the file as it was and raise RecordingStopped."""
        if self.error is not None:
            raise RecordingStopped(errno.EIO, self.error, str(self.path))
        view = memoryview(data)
        try:
            while view:
                done = os.write(self.fd, view)
                if done <= 0:
                    raise OSError(errno.ENOSPC, "no progress writing", str(self.path))
                view = view[done:]
        except OSError as error:
            self.fail(error)
        self.size += len(data)

    def write_at(self, offset: int, data: bytes) -> None:
        """Rewrite bytes inside the whole part of the file (the BVH frame count)."""
        if offset + len(data) > self.size:
            raise ValueError(f"{self.path}: rewrite beyond the written part")
        view, position = memoryview(data), offset
        try:
            while view:
                done = os.pwrite(self.fd, view, position)
                view, position = view[done:], position + done
        except OSError as error:
            self.fail(error)

    def rollback(self, size: int) -> None:
        """Cut the file back to `size` bytes (an earlier whole state), e.g. when a sibling file failed."""
        try:
            os.ftruncate(self.fd, size)
        except OSError:
            pass
        self.size = size

    def fail(self, error: OSError) -> None:
        self.rollback(self.size)  # drop a partial block: the file ends after its last whole line
        self.error = f"{self.path.name}: {error.strerror or error}"
        raise RecordingStopped(error.errno or errno.EIO, self.error, str(self.path)) from None

    def fsync(self) -> None:
        os.fsync(self.fd)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
