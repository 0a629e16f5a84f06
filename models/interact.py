"""InterAct-layout dataset loader (numpy only; the synthetic corpus is written in the same layout).

    ROOT/bvhs/DATE_ACTOR_SCENARIO.bvh    one per actor per sequence; the frame time is read from the file
    ROOT/face_arkit/DATE_ACTOR_SCENARIO.csv  ARKit values with a header of names (51 or 52 shapes, optionally
                                             Timecode/BlendShapeCount and head/eye angles): mapped BY NAME
    ROOT/lip_acc/DATE_ACTOR_SCENARIO.csv     lip-accurate face subset (same format), optional per take
    ROOT/wav/DATE_ACTOR_SCENARIO.wav     one per actor
    ROOT/transcripts/DATE_SCENARIO.txt   optional: person<TAB>start_s<TAB>end_s<TAB>text
    ROOT/scenarios.db                    SQLite, table `scenarios` with an `id` column
    ROOT/actors.db                       SQLite, table `actors` with an `id` column

A sequence is the two actors sharing DATE and SCENARIO; person 0 is the actor with
the lower id. `face_ict/` (55 ICT shapes) is not read. Body motion at another rate
(InterAct releases exist at 120 and 30 fps) is brought to `fps`: decimated when the
rate is a multiple, else linearly interpolated (root and exp-maps; fine for the small
motion between neighbouring frames). Streams of one sequence (two BVHs, faces, WAVs)
that differ in length by at most `max_mismatch_s` are trimmed to the shortest and the
trim is reported; a larger difference refuses the dataset, naming the files.
"""

from __future__ import annotations

import csv
import re
import sqlite3
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dyad.models.arkit import NUM_LIVE_LINK, index_of, map_by_name
from dyad.models.pose import bvh_channels_to_pose
from dyad.models.skeleton import Skeleton, read_bvh

NAME = re.compile(r"^(?P<date>[^_]+)_(?P<actor>[^_]+)_(?P<scenario>.+)$")
_META = {"timecode", "blendshapecount"}


class DatasetError(ValueError):
    """Data that must not be trained on; the message names the file."""


@dataclass(frozen=True)
class Take:
    name: str  # DATE_SCENARIO
    actors: tuple[str, str]
    fps: int
    roots: np.ndarray  # [2, T, 3] template units
    rotations: np.ndarray  # [2, T, J, 3] exp-maps
    face: np.ndarray | None  # [2, T, 61] canonical Live Link order, None without face files
    face_valid: np.ndarray  # [61] bool: channels the face files carry (others are not ground truth)
    lip_face: np.ndarray | None  # [2, T, 61] lip-accurate face, when the take is in lip_acc/
    wavs: tuple[Path, Path]
    sample_rate: int
    transcript: Path | None
    metadata: dict = field(default_factory=dict)

    @property
    def frames(self) -> int:
        return int(self.roots.shape[1])


@dataclass(frozen=True)
class Dataset:
    skeleton: Skeleton
    takes: tuple[Take, ...]
    report: tuple[str, ...]  # every trim and note, one line each


def read_face_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(values [N, 61] canonical order, valid [61] bool) from a CSV with a header of face names."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = [row for row in csv.reader(handle) if any(cell.strip() for cell in row)]
    if not rows:
        raise DatasetError(f"{path}: empty face file")
    header = [h.strip() for h in rows[0]]
    columns = [i for i, h in enumerate(header) if h.lower() not in _META]
    names = [header[i] for i in columns]
    try:
        valid = np.zeros(NUM_LIVE_LINK, bool)
        valid[[index_of(n) for n in names]] = True
        data = np.array([[float(row[i]) for i in columns] for row in rows[1:]], dtype=np.float32).reshape(-1, len(columns))
        values = map_by_name(names, data)
    except (KeyError, ValueError, IndexError) as error:
        raise DatasetError(f"{path}: not a face file with named ARKit columns ({error})") from None
    if not np.isfinite(values).all():
        raise DatasetError(f"{path}: holds NaN or infinite values")
    return values, valid


def _resample(values: np.ndarray, source_fps: float, fps: int) -> np.ndarray:
    ratio = source_fps / fps
    if abs(ratio - round(ratio)) < 1e-3 and round(ratio) >= 1:
        return values[:: int(round(ratio))]
    count = int(np.floor((len(values) - 1) / ratio)) + 1
    position = np.arange(count) * ratio
    low = np.minimum(np.floor(position).astype(int), len(values) - 1)
    high = np.minimum(low + 1, len(values) - 1)
    w = (position - low).reshape((-1,) + (1,) * (values.ndim - 1))
    return values[low] * (1 - w) + values[high] * w


def read_body(path: Path, fps: int) -> tuple[Skeleton, np.ndarray, np.ndarray]:
    """(skeleton, roots [T, 3], rotations [T, J, 3]) at `fps`; DatasetError names a corrupt file."""
    try:
        skeleton, frame_time, motion = read_bvh(path)
    except (ValueError, OSError, UnicodeDecodeError) as error:
        raise DatasetError(f"{path}: corrupt BVH ({str(error).splitlines()[0]})") from None
    if not frame_time > 0 or len(motion) < 2:
        raise DatasetError(f"{path}: corrupt BVH (frame time {frame_time}, {len(motion)} frames)")
    if not np.isfinite(motion).all():
        raise DatasetError(f"{path}: corrupt BVH (NaN or infinite channel values)")
    roots, rotations = bvh_channels_to_pose(skeleton, motion)
    packed = _resample(np.concatenate([roots[:, None], rotations], axis=1), 1.0 / frame_time, fps)
    return skeleton, packed[:, 0], packed[:, 1:]


def _wav_info(path: Path) -> tuple[int, int]:
    """(sample rate, samples) from the header; DatasetError for anything that is not a PCM WAV."""
    try:
        with wave.open(str(path), "rb") as handle:
            return handle.getframerate(), handle.getnframes()
    except (wave.Error, EOFError, OSError) as error:
        raise DatasetError(f"{path}: not a readable PCM WAV ({error})") from None


def _table(db: Path, table: str) -> dict[str, dict]:
    if not db.is_file():
        raise DatasetError(f"{db}: metadata database missing (InterAct keeps scenarios in scenarios.db, actors in actors.db)")
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            conn.row_factory = sqlite3.Row
            rows = conn.execute(f"SELECT * FROM {table}").fetchall()
    except sqlite3.Error as error:
        raise DatasetError(f"{db}: cannot read table {table!r} ({error})") from None
    if rows and "id" not in rows[0].keys():
        raise DatasetError(f"{db}: table {table!r} has no 'id' column")
    return {str(row["id"]): dict(row) for row in rows}


def _groups(root: Path) -> dict[tuple[str, str], list[tuple[str, Path]]]:
    folder = root / "bvhs"
    if not folder.is_dir():
        raise DatasetError(f"{folder}: no bvhs/ folder (not an InterAct-layout dataset)")
    groups: dict[tuple[str, str], list[tuple[str, Path]]] = {}
    for path in sorted(folder.glob("*.bvh")):
        match = NAME.match(path.stem)
        if match is None:
            raise DatasetError(f"{path}: name is not DATE_ACTOR_SCENARIO.bvh")
        groups.setdefault((match["date"], match["scenario"]), []).append((match["actor"], path))
    if not groups:
        raise DatasetError(f"{folder}: no BVH files")
    for (date, scenario), members in groups.items():
        if len(members) != 2:
            raise DatasetError(f"{folder}: sequence {date}_{scenario} has {len(members)} actor BVHs ({', '.join(p.name for _, p in members)}), expected 2")
    return groups


def _align(name: str, streams: dict[str, int], fps: int, max_mismatch_s: float) -> tuple[int, str | None]:
    """Common length of a sequence's streams (file -> frames): trim within tolerance, else refuse."""
    shortest, longest = min(streams.values()), max(streams.values())
    listing = ", ".join(f"{f} {n}" for f, n in streams.items())
    if longest - shortest > max_mismatch_s * fps:
        raise DatasetError(f"{name}: frame counts disagree by {(longest - shortest) / fps:.2f} s (> {max_mismatch_s} s): {listing}")
    if longest == shortest:
        return shortest, None
    return shortest, f"{name}: trimmed to {shortest} frames ({listing})"


def load_interact(root: str | Path, fps: int = 30, max_mismatch_s: float = 0.5, face_fps: int | None = None) -> Dataset:
    """Every sequence under `root`, aligned and trimmed; DatasetError on anything that cannot be trained on."""
    root = Path(root)
    scenarios, actors = _table(root / "scenarios.db", "scenarios"), _table(root / "actors.db", "actors")
    takes, report, skeleton = [], [], None
    for (date, scenario), members in sorted(_groups(root).items()):
        members = sorted(members)
        if scenario not in scenarios:
            raise DatasetError(f"{root / 'scenarios.db'}: no row for scenario {scenario!r} (used by {members[0][1].name})")
        for actor, path in members:
            if actor not in actors:
                raise DatasetError(f"{root / 'actors.db'}: no row for actor {actor!r} (used by {path.name})")
        take, note, skel = _load_take(root, date, scenario, members, fps, face_fps or fps, max_mismatch_s)
        if skeleton is None:
            skeleton = skel
        elif skel.joint_names != skeleton.joint_names or skel.parents != skeleton.parents:
            raise DatasetError(f"{members[0][1]}: another skeleton than the dataset's first BVH")
        meta = {"scenario": scenarios[scenario], "actors": [actors[a] for a, _ in members]}
        takes.append(Take(**{**take.__dict__, "metadata": meta}))
        if note:
            report.append(note)
    return Dataset(skeleton, tuple(takes), tuple(report))


def _load_take(root: Path, date: str, scenario: str, members, fps: int, face_fps: int, max_mismatch_s: float):
    name = f"{date}_{scenario}"
    bodies = [read_body(path, fps) for _, path in members]
    skeleton = bodies[0][0]
    if bodies[1][0].joint_names != skeleton.joint_names:
        raise DatasetError(f"{members[1][1]}: another skeleton than {members[0][1].name}")
    stems = [path.stem for _, path in members]
    streams = {f"bvhs/{s}.bvh": len(b[1]) for s, b in zip(stems, bodies)}
    wavs = tuple(root / "wav" / f"{s}.wav" for s in stems)
    rates = []
    for path in wavs:
        if not path.is_file():
            raise DatasetError(f"{path}: WAV missing for {name}")
        rate, samples = _wav_info(path)
        rates.append(rate)
        streams[f"wav/{path.name}"] = samples * fps // rate
    if rates[0] != rates[1]:
        raise DatasetError(f"{wavs[1]}: {rates[1]} Hz, but {wavs[0].name} is {rates[0]} Hz: one sequence, one sample rate")
    faces = _faces(root / "face_arkit", stems, fps, face_fps, streams)
    lips = _faces(root / "lip_acc", stems, fps, face_fps, streams, required=False)
    frames, note = _align(name, streams, fps, max_mismatch_s)
    roots = np.stack([b[1][:frames] for b in bodies])
    rotations = np.stack([b[2][:frames] for b in bodies])
    transcript = root / "transcripts" / f"{name}.txt"
    face, valid = (None, np.zeros(NUM_LIVE_LINK, bool)) if faces is None else (faces[0][:, :frames], faces[1])
    lip = None if lips is None else lips[0][:, :frames]
    take = Take(name, tuple(a for a, _ in members), fps, roots, rotations, face, valid, lip, wavs, rates[0],
                transcript if transcript.is_file() else None)  # fmt: skip
    return take, note, skeleton


def _faces(folder: Path, stems: list[str], fps: int, face_fps: int, streams: dict, required: bool = True):
    paths = [folder / f"{s}.csv" for s in stems]
    present = [p.is_file() for p in paths]
    if not any(present):
        return None
    if not all(present):
        missing = paths[present.index(False)]
        raise DatasetError(f"{missing}: face file missing while the partner's {paths[present.index(True)].name} exists")
    loaded = [read_face_file(p) for p in paths]
    values = [_resample(v, face_fps, fps) for v, _ in loaded]
    for path, v in zip(paths, values):
        streams[f"{folder.name}/{path.name}"] = len(v)
    frames = min(len(v) for v in values)
    return np.stack([v[:frames] for v in values]), loaded[0][1] & loaded[1][1]
