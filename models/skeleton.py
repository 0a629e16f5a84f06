"""Skeletons read from BVH hierarchies (the template comes from data, not code).

A `Skeleton` is the HIERARCHY part of a BVH file: joints in depth-first order
(the order of the file, which is also the order of the motion channels),
parent indices, offsets in file units (the dyad template uses centimetres,
Y up, character facing +Z, its left side +X) and per-joint channel names.

Root position convention (the one Blender's importer and bvhio use): the root's
position channels are the root's absolute position; the root OFFSET only places
the root in the rest pose. Offsets of all other joints are added as usual.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property, lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

POSITION_CHANNELS = ("Xposition", "Yposition", "Zposition")
ROTATION_CHANNELS = ("Xrotation", "Yrotation", "Zrotation")
_FRAMES = re.compile(r"^Frames:\s*(\d+)\s*$")
_FRAME_TIME = re.compile(r"^Frame\s+Time:\s*(\S+)\s*$")


@dataclass(frozen=True, eq=False)
class Skeleton:
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]  # -1 for the root; parents[i] < i (depth-first order)
    offsets: np.ndarray  # [J, 3] float64, read-only, file units
    channels: tuple[tuple[str, ...], ...]  # per joint, in file order
    end_sites: tuple[tuple[float, float, float] | None, ...]  # per joint: End Site offset or None

    def __post_init__(self) -> None:
        offsets = np.array(self.offsets, dtype=np.float64, copy=True).reshape(-1, 3)
        offsets.setflags(write=False)
        object.__setattr__(self, "offsets", offsets)
        count = len(self.joint_names)
        sizes = {len(self.parents), len(offsets), len(self.channels), len(self.end_sites)}
        if count == 0 or sizes != {count}:
            raise ValueError(f"skeleton fields disagree on the joint count ({count} names)")
        if len(set(self.joint_names)) != count:
            raise ValueError("skeleton joint names are not unique")
        if self.parents[0] != -1 or any(not 0 <= p < i for i, p in enumerate(self.parents) if i > 0):
            raise ValueError("skeleton joints must be in depth-first order with the root first")
        for name, chans in zip(self.joint_names, self.channels):
            _check_channels(name, chans)

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @cached_property
    def _index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.joint_names)}

    def index(self, name: str) -> int:
        try:
            return self._index[name]
        except KeyError:
            raise KeyError(f"no joint named {name!r} in skeleton") from None

    @property
    def channel_count(self) -> int:
        return sum(len(c) for c in self.channels)

    @cached_property
    def channel_starts(self) -> tuple[int, ...]:
        """Column of each joint's first channel in a motion row."""
        sizes = [len(c) for c in self.channels]
        return tuple(int(s) for s in np.cumsum([0] + sizes[:-1]))

    def children(self, i: int) -> tuple[int, ...]:
        return tuple(j for j, p in enumerate(self.parents) if p == i)

    def rotation_order(self, i: int) -> str:
        """Rotation axes in channel (= product) order, e.g. "ZXY"; "" if none."""
        return "".join(c[0] for c in self.channels[i] if c in ROTATION_CHANNELS)

    def joint_subset(self, names: list[str] | tuple[str, ...]) -> np.ndarray:
        """Indices (int array, usable for fancy indexing) of `names`, in the order given."""
        missing = [n for n in names if n not in self._index]
        if missing:
            raise ValueError(f"joints not in skeleton: {', '.join(missing)}")
        return np.array([self._index[n] for n in names], dtype=np.int64)

    @cached_property
    def rest_positions(self) -> np.ndarray:
        """[J, 3] joint positions in the rest pose (root at its OFFSET, no rotations)."""
        positions = np.zeros_like(self.offsets)
        for i, p in enumerate(self.parents):
            positions[i] = self.offsets[i] + (positions[p] if p >= 0 else 0.0)
        positions.setflags(write=False)
        return positions

    @property
    def rest_root_height(self) -> float:
        """Root height above the lowest joint or End Site in the rest pose (the floor)."""
        rest = self.rest_positions
        ys = [rest[:, 1]]
        ys += [np.array([rest[i, 1] + e[1]]) for i, e in enumerate(self.end_sites) if e is not None]
        return float(rest[0, 1] - np.concatenate(ys).min())


def _check_channels(name: str, chans: tuple[str, ...]) -> None:
    known = POSITION_CHANNELS + ROTATION_CHANNELS
    bad = [c for c in chans if c not in known]
    if bad or len(set(chans)) != len(chans):
        raise ValueError(f"joint {name!r}: bad or repeated channels {chans}")
    rotations = [c for c in chans if c in ROTATION_CHANNELS]
    positions = [c for c in chans if c in POSITION_CHANNELS]
    # Exp-map poses need all three rotation axes (or none); same for positions.
    if len(rotations) not in (0, 3) or len(positions) not in (0, 3):
        raise ValueError(f"joint {name!r}: needs 0 or 3 rotation and position channels, got {chans}")


class _Tokens:
    """Whitespace tokens of the HIERARCHY lines, each with its line number."""

    def __init__(self, lines: list[str], first_line: int, source: str) -> None:
        self.items = [(tok, first_line + n) for n, line in enumerate(lines) for tok in line.split()]
        self.pos = 0
        self.source = source
        self.last_line = first_line + max(len(lines) - 1, 0)

    def error(self, message: str, line: int | None = None) -> ValueError:
        if line is None:
            line = self.items[self.pos][1] if self.pos < len(self.items) else self.last_line
        return ValueError(f"{self.source}:{line}: {message}")

    def next(self, what: str) -> tuple[str, int]:
        if self.pos >= len(self.items):
            raise self.error(f"unexpected end of hierarchy, expected {what}")
        item = self.items[self.pos]
        self.pos += 1
        return item

    def expect(self, word: str) -> None:
        tok, line = self.next(repr(word))
        if tok != word:
            raise self.error(f"expected {word!r}, found {tok!r}", line)

    def floats(self, count: int, what: str) -> list[float]:
        values = []
        for _ in range(count):
            tok, line = self.next(what)
            try:
                values.append(float(tok))
            except ValueError:
                raise self.error(f"{what}: {tok!r} is not a number", line) from None
        return values


def _parse_joint(tokens: _Tokens, parent: int, out: dict[str, list]) -> None:
    name, line = tokens.next("a joint name")
    if name == "{":
        raise tokens.error("joint without a name", line)
    index = len(out["names"])
    out["names"].append(name)
    out["parents"].append(parent)
    out["end_sites"].append(None)
    tokens.expect("{")
    tokens.expect("OFFSET")
    out["offsets"].append(tokens.floats(3, f"OFFSET of {name}"))
    tokens.expect("CHANNELS")
    count_tok, count_line = tokens.next("a channel count")
    if not count_tok.isdigit():
        raise tokens.error(f"channel count of {name} is {count_tok!r}", count_line)
    chans = tuple(tokens.next("a channel name")[0] for _ in range(int(count_tok)))
    try:
        _check_channels(name, chans)
    except ValueError as exc:
        raise tokens.error(str(exc), count_line) from None
    out["channels"].append(chans)
    while True:
        tok, line = tokens.next("JOINT, End Site or '}'")
        if tok == "}":
            return
        if tok == "JOINT":
            _parse_joint(tokens, index, out)
        elif tok == "End":
            tokens.expect("Site")
            tokens.expect("{")
            tokens.expect("OFFSET")
            site = tokens.floats(3, f"End Site OFFSET of {name}")
            tokens.expect("}")
            out["end_sites"][index] = (site[0], site[1], site[2])
        else:
            raise tokens.error(f"unexpected {tok!r} in joint {name}", line)


def _motion_line(lines: list[str]) -> int:
    for n, line in enumerate(lines):
        if line.strip() == "MOTION":
            return n
    return len(lines)


def _parse_lines(lines: list[str], source: str) -> Skeleton:
    tokens = _Tokens(lines, 1, source)
    tokens.expect("HIERARCHY")
    tokens.expect("ROOT")
    out: dict[str, list] = {"names": [], "parents": [], "offsets": [], "channels": [], "end_sites": []}
    _parse_joint(tokens, -1, out)
    if tokens.pos < len(tokens.items):
        tok, line = tokens.items[tokens.pos]
        raise tokens.error(f"unexpected {tok!r} after the root joint (one ROOT per file)", line)
    try:
        return Skeleton(
            joint_names=tuple(out["names"]),
            parents=tuple(out["parents"]),
            offsets=np.array(out["offsets"]),
            channels=tuple(out["channels"]),
            end_sites=tuple(out["end_sites"]),
        )
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from None


def parse_bvh_hierarchy(text: str, source: str = "<string>") -> Skeleton:
    """Parse the HIERARCHY section of BVH text (a MOTION section, if present, is ignored)."""
    lines = text.splitlines()
    return _parse_lines(lines[: _motion_line(lines)], source)


def _parse_motion(lines: list[str], first_line: int, channels: int, source: str) -> tuple[float, np.ndarray]:
    def error(n: int, message: str) -> ValueError:
        return ValueError(f"{source}:{first_line + n}: {message}")

    rows = [(n, line) for n, line in enumerate(lines) if line.strip()]
    if len(rows) < 2:
        raise error(len(lines), "MOTION needs 'Frames:' and 'Frame Time:' lines")
    (n_frames, frames_line), (n_time, time_line) = rows[0], rows[1]
    frames = _FRAMES.match(frames_line.strip())
    if not frames:
        raise error(n_frames, f"expected 'Frames: N', found {frames_line.strip()!r}")
    frame_time = _FRAME_TIME.match(time_line.strip())
    try:
        dt = float(frame_time.group(1)) if frame_time else float("nan")
    except ValueError:
        dt = float("nan")
    if not dt > 0:
        raise error(n_time, f"expected 'Frame Time: seconds', found {time_line.strip()!r}")
    data = rows[2:]
    if len(data) != int(frames.group(1)):
        raise error(n_frames, f"Frames says {frames.group(1)} but {len(data)} frame lines follow")
    tokens = [line.split() for _, line in data]
    for (n, _), values in zip(data, tokens):
        if len(values) != channels:
            raise error(n, f"frame has {len(values)} values, the hierarchy declares {channels} channels")
    try:
        motion = np.array(tokens, dtype=np.float64).reshape(len(data), channels)
    except ValueError:
        # find the offending line only on the slow path
        for (n, _), values in zip(data, tokens):
            try:
                np.array(values, dtype=np.float64)
            except ValueError:
                raise error(n, "frame holds a value that is not a number") from None
        raise
    return dt, motion


def read_bvh(path: str | Path) -> tuple[Skeleton, float, np.ndarray]:
    """Read a BVH file -> (skeleton, frame_time in seconds, motion [N, channel_count])."""
    source = str(path)
    lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    split = _motion_line(lines)
    skeleton = _parse_lines(lines[:split], source)
    if split == len(lines):
        raise ValueError(f"{source}:{len(lines)}: no MOTION section")
    frame_time, motion = _parse_motion(lines[split + 1 :], split + 2, skeleton.channel_count, source)
    return skeleton, frame_time, motion


def _fmt(values) -> str:
    return " ".join(f"{float(v):.6f}" for v in values)


def format_bvh_hierarchy(skeleton: Skeleton) -> str:
    """HIERARCHY text for `skeleton` (tab-indented, ends with a newline)."""
    out = ["HIERARCHY"]

    def write(i: int, depth: int) -> None:
        pad = "\t" * depth
        out.append(f"{pad}{'ROOT' if i == 0 else 'JOINT'} {skeleton.joint_names[i]}")
        out.append(pad + "{")
        out.append(f"{pad}\tOFFSET {_fmt(skeleton.offsets[i])}")
        chans = skeleton.channels[i]
        out.append(f"{pad}\tCHANNELS {len(chans)}" + "".join(f" {c}" for c in chans))
        for child in skeleton.children(i):
            write(child, depth + 1)
        site = skeleton.end_sites[i]
        if site is not None:
            out.extend([f"{pad}\tEnd Site", f"{pad}\t{{", f"{pad}\t\tOFFSET {_fmt(site)}", f"{pad}\t}}"])
        out.append(pad + "}")

    write(0, 0)
    return "\n".join(out) + "\n"


def format_bvh_frame(values: np.ndarray, decimals: int = 6) -> str:
    """One MOTION line (no newline) for one frame of channel values."""
    return " ".join(f"{v:.{decimals}f}" for v in np.asarray(values, dtype=np.float64).tolist())


def write_bvh(path: str | Path, skeleton: Skeleton, frame_time: float, motion: np.ndarray) -> None:
    """Write a whole BVH file at once (recordings use the crash-safe BvhRecorder instead)."""
    motion = np.asarray(motion, dtype=np.float64).reshape(-1, skeleton.channel_count)
    lines = [format_bvh_hierarchy(skeleton) + "MOTION", f"Frames: {len(motion)}", f"Frame Time: {frame_time:.10f}"]
    lines += [format_bvh_frame(row) for row in motion]
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")


@lru_cache(maxsize=1)
def load_default_skeleton() -> Skeleton:
    """The dyad humanoid template (52 joints with fingers, cm, Y up, facing +Z)."""
    asset = resources.files("dyad.models").joinpath("assets/humanoid.bvh")
    return parse_bvh_hierarchy(asset.read_text(encoding="utf-8"), source="dyad.models/assets/humanoid.bvh")
