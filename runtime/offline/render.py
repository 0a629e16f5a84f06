"""Offline renderer: a recording folder -> an MP4 or GIF clip, without a display.

Draws both skeletons (from p0.bvh / p1.bvh, through the pose contract's forward
kinematics, seen from the same camera as the live viewer), a sketched face per
person (from p0_face.csv / p1_face.csv) and a latency strip (from frames.csv:
latency per frame against the budget, deadline misses marked). Matplotlib's Agg
canvas draws each frame; GIF frames go through Pillow and MP4 through the ffmpeg
binary shipped in the imageio-ffmpeg wheel.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dyad.models.arkit import index_of
from dyad.models.pose import bvh_channels_to_pose, forward_kinematics
from dyad.models.skeleton import Skeleton, read_bvh
from dyad.runtime.errors import DyadError

COLORS = ("#4aa3ff", "#ff7a59")
CAMERA = np.array([0.0, 150.0, 420.0])  # cm, looking at the pair from the front, as the live viewer does
LOOK_AT = np.array([0.0, 95.0, 0.0])
FOCAL = 1.6


@dataclass(frozen=True)
class Recording:
    skeleton: Skeleton
    fps: int
    joints: np.ndarray  # [people, N, J, 3] global positions, cm
    faces: np.ndarray  # [people, N, 61]
    latency_ms: np.ndarray | None  # [N]
    fallback: np.ndarray | None  # [N] bool
    budget_ms: float | None

    @property
    def frames(self) -> int:
        return int(self.joints.shape[1])


def load_recording(folder: Path) -> Recording:
    from dyad.adapters.livelink_csv import read_livelink_csv
    from dyad.adapters.timing_csv import read_timing_csv

    folder = Path(folder)
    if not folder.is_dir():
        raise DyadError(f"recording folder '{folder}' does not exist")
    joints, faces, skeleton, fps = [], [], None, 30
    for person in (0, 1):
        path = folder / f"p{person}.bvh"
        if not path.exists():
            raise DyadError(f"recording folder '{folder}' has no {path.name}")
        try:
            skeleton, frame_time, motion = read_bvh(path)
        except ValueError as error:
            raise DyadError(str(error)) from error
        fps = int(round(1.0 / frame_time))
        root, rotations = bvh_channels_to_pose(skeleton, motion)
        joints.append(forward_kinematics(skeleton, root, rotations))
        face_path = folder / f"p{person}_face.csv"
        faces.append(read_livelink_csv(face_path)[1] if face_path.exists() else np.zeros((len(motion), 61), np.float32))
    count = min(len(j) for j in joints + faces)
    timing = read_timing_csv(folder / "frames.csv") if (folder / "frames.csv").exists() else None
    return Recording(
        skeleton=skeleton,
        fps=fps,
        joints=np.stack([j[:count] for j in joints]),
        faces=np.stack([f[:count] for f in faces]),
        latency_ms=None if timing is None else timing["latency_ms"][:count],
        fallback=None if timing is None else timing["fallback"][:count].astype(bool),
        budget_ms=_budget(folder),
    )


def _budget(folder: Path) -> float | None:
    try:
        return float(json.loads((folder / "session.json").read_text())["config"]["timing"]["budget_ms"])
    except (OSError, KeyError, ValueError, TypeError):
        return None


def project(points: np.ndarray) -> np.ndarray:
    """Pinhole projection of [..., 3] world points (cm) to [..., 2] image coordinates."""
    forward = LOOK_AT - CAMERA
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    relative = points - CAMERA
    depth = relative @ forward
    return FOCAL * np.stack([relative @ right, relative @ up], axis=-1) / depth[..., None]


class _FaceSketch:
    """A face drawn from blendshapes: head outline, eyes that blink, brows, a mouth that opens."""

    def __init__(self, ax, color: str) -> None:
        from matplotlib.patches import Ellipse

        self.ax = ax
        ax.set_xlim(-1.3, 1.3)
        ax.set_ylim(-1.5, 1.5)
        ax.set_aspect("equal")
        ax.axis("off")
        ax.add_patch(Ellipse((0, 0), 1.9, 2.5, fill=False, color=color, lw=2))
        self.eyes = [Ellipse((side * 0.38, 0.25), 0.4, 0.22, fill=False, color=color, lw=2) for side in (-1, 1)]
        for eye in self.eyes:
            ax.add_patch(eye)
        self.brows = [ax.plot([], [], color=color, lw=2)[0] for _ in range(2)]
        (self.mouth,) = ax.plot([], [], color=color, lw=2)
        self.index = {name: index_of(name) for name in _FACE_NAMES}

    def update(self, face: np.ndarray) -> None:
        f = {name: float(face[i]) for name, i in self.index.items()}
        for side, (eye, brow, suffix) in enumerate(zip(self.eyes, self.brows, ("Left", "Right"))):
            sign = -1 if side == 0 else 1
            eye.height = max(0.02, 0.22 * (1 - f[f"EyeBlink{suffix}"]))
            lift = 0.18 * (f["BrowInnerUp"] + f[f"BrowOuterUp{suffix}"]) - 0.14 * f[f"BrowDown{suffix}"]
            brow.set_data([sign * 0.18, sign * 0.58], [0.5 + lift, 0.48 + 0.8 * lift])
        smile = (f["MouthSmileLeft"] + f["MouthSmileRight"]) / 2
        round_ = max(f["MouthFunnel"], f["MouthPucker"])
        half = 0.34 * (1 + 0.5 * smile - 0.45 * round_)
        opening = 0.04 + 0.45 * f["JawOpen"] * (1 - 0.7 * f["MouthClose"])
        x = np.linspace(-half, half, 21)
        shape = 1 - (x / half) ** 2
        corner = -0.52 + 0.1 * smile
        upper = corner + 0.35 * opening * shape
        lower = corner - opening * shape
        self.mouth.set_data(np.concatenate([x, x[::-1]]), np.concatenate([upper, lower[::-1]]))


_FACE_NAMES = (
    "EyeBlinkLeft", "EyeBlinkRight", "BrowInnerUp", "BrowOuterUpLeft", "BrowOuterUpRight", "BrowDownLeft",
    "BrowDownRight", "MouthSmileLeft", "MouthSmileRight", "MouthFunnel", "MouthPucker", "JawOpen", "MouthClose",
)


class ClipRenderer:
    """Draws frame after frame of a recording into RGB arrays."""

    def __init__(self, recording: Recording, width: int = 960, height: int = 540) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        self.rec = recording
        self.figure = plt.figure(figsize=(width / 100, height / 100), dpi=100, facecolor="#14161a")
        grid = self.figure.add_gridspec(3, 3, height_ratios=[1, 1, 0.6], width_ratios=[2, 1, 1])
        self.body_ax = self.figure.add_subplot(grid[0:2, 0])
        self.faces = [_FaceSketch(self.figure.add_subplot(grid[0:2, 1 + p]), COLORS[p]) for p in (0, 1)]
        self.strip_ax = self.figure.add_subplot(grid[2, :])
        self._setup_body()
        self._setup_strip()

    def _setup_body(self) -> None:
        ax = self.body_ax
        ax.set_facecolor("#0e1013")
        ax.set_aspect("equal")
        ax.axis("off")
        image = project(self.rec.joints.reshape(-1, 3))
        low, high = image.min(axis=0), image.max(axis=0)
        pad = 0.1 * (high - low).max()
        ax.set_xlim(low[0] - pad, high[0] + pad)
        ax.set_ylim(low[1] - pad, high[1] + pad)
        parents = self.rec.skeleton.parents
        self.bone_pairs = [(j, p) for j, p in enumerate(parents) if p >= 0]
        self.bones = [[ax.plot([], [], color=COLORS[p], lw=1.5)[0] for _ in self.bone_pairs] for p in (0, 1)]
        self.title = ax.text(0.02, 0.95, "", color="#d8dde6", transform=ax.transAxes, fontsize=9)

    def _setup_strip(self) -> None:
        ax = self.strip_ax
        ax.set_facecolor("#0e1013")
        ax.tick_params(colors="#7d8594", labelsize=7)
        seconds = np.arange(self.rec.frames) / self.rec.fps
        if self.rec.latency_ms is None:
            ax.text(0.5, 0.5, "no frames.csv: latency not recorded", color="#7d8594", ha="center", transform=ax.transAxes)
            self.cursor = ax.axvline(0, color="#d8dde6", lw=1)
            return
        ax.plot(seconds, self.rec.latency_ms, color="#8fe28f", lw=1)
        if self.rec.budget_ms is not None:
            ax.axhline(self.rec.budget_ms, color="#ff4d6a", lw=0.8, ls="--")
        misses = np.flatnonzero(self.rec.fallback)
        ax.plot(seconds[misses], self.rec.latency_ms[misses], "x", color="#ff4d6a", ms=4)
        ax.set_ylabel("latency ms", color="#7d8594", fontsize=7)
        self.cursor = ax.axvline(0, color="#d8dde6", lw=1)

    def draw(self, frame: int) -> np.ndarray:
        for person in (0, 1):
            points = project(self.rec.joints[person, frame])
            for line, (j, parent) in zip(self.bones[person], self.bone_pairs):
                line.set_data([points[parent, 0], points[j, 0]], [points[parent, 1], points[j, 1]])
            self.faces[person].update(self.rec.faces[person, frame])
        latency = "" if self.rec.latency_ms is None else f"  latency {self.rec.latency_ms[frame]:.1f} ms"
        self.title.set_text(f"frame {frame}  t={frame / self.rec.fps:.2f}s{latency}")
        self.cursor.set_xdata([frame / self.rec.fps] * 2)
        self.figure.canvas.draw()
        return np.asarray(self.figure.canvas.buffer_rgba())[..., :3].copy()


def render(folder: Path, out: Path, fps: int | None = None, max_seconds: float | None = None, width: int = 960) -> int:
    """Render a recording to `out` (.gif or .mp4); return the number of frames written."""
    suffix = out.suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise DyadError(f"render output '{out}' must end in .mp4 or .gif")
    if width < 320 or width % 16:
        raise DyadError(f"--width must be a multiple of 16 and at least 320 (video codecs need even sizes), got {width}")
    recording = load_recording(folder)
    out_fps = fps or recording.fps
    if not 1 <= out_fps <= recording.fps:
        raise DyadError(f"--fps must be 1..{recording.fps} (the recording's rate), got {out_fps}")
    limit = recording.frames if max_seconds is None else min(recording.frames, int(max_seconds * recording.fps))
    picks = np.arange(0, limit, recording.fps / out_fps).astype(int)
    renderer = ClipRenderer(recording, width=width, height=width * 9 // 16)
    frames = (renderer.draw(int(k)) for k in picks)
    out.parent.mkdir(parents=True, exist_ok=True)
    (_write_gif if suffix == ".gif" else _write_mp4)(out, frames, out_fps)
    return len(picks)


def _write_gif(out: Path, frames, fps: int) -> None:
    from PIL import Image

    images = [Image.fromarray(frame).quantize(colors=64) for frame in frames]
    images[0].save(out, save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0)


def _write_mp4(out: Path, frames, fps: int) -> None:
    import imageio_ffmpeg

    writer = None
    for frame in frames:
        if writer is None:
            height, width = frame.shape[:2]
            writer = imageio_ffmpeg.write_frames(str(out), (width, height), fps=fps, codec="libx264", pix_fmt_out="yuv420p", quality=7)
            writer.send(None)
        writer.send(np.ascontiguousarray(frame))
    if writer is not None:
        writer.close()
