"""InterAct dataset loader (numpy only): the published release, its older folder names, and the synthetic corpus.

    ROOT/bvhs/DATE_ACTOR_SCENARIO.bvh       one per actor per take (`20231119_001_051.bvh`); frame time read from the file
    ROOT/face_arkit/DATE_ACTOR_SCENARIO.npy (N, 51) ARKit values, no header: read only once the column order is named
    ROOT/wav/DATE_ACTOR_SCENARIO.wav        one mono WAV per actor; rate and encoding read from the header
    ROOT/scenarios.db, ROOT/actors.db       SQLite; scenario 51 is `051` in file names
    ROOT/transcripts/DATE_SCENARIO.txt      optional (the synthetic corpus only): person<TAB>start_s<TAB>end_s<TAB>text
    ROOT/lip_acc/                           a separate one-actor set, read by `dyad.models.lip_acc`

The older release keeps the BVHs and WAVs in InterAct_Public/Raw_Body_Motions_BVH and
Raw_Audios_WAV (see `interact_layout.detect_layout`, which also names the sources).

A take is the two actors sharing DATE and SCENARIO; person 0 is the actor with the lower
id. Body motion at another rate is brought to `fps`: decimated when the rate is a multiple,
else linearly interpolated. Streams of one take (two BVHs, faces, WAVs) that differ in
length by at most `max_mismatch_s` are trimmed to the shortest and the trim is reported; a
larger difference refuses the dataset, naming the files. Faces that cannot be read safely
(column order not named, no face folder) are not guessed: the take loads without a face and
the report counts it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dyad.models.arkit import NUM_LIVE_LINK
from dyad.models.interact_layout import (
    NAME, DatasetError, Layout, check_bvh_scale, detect_layout, face_file, key_of, read_actors, read_face, read_scenarios,
    wav_info,
)  # fmt: skip
from dyad.models.pose import bvh_channels_to_pose
from dyad.models.skeleton import Skeleton, read_bvh

__all__ = ["Dataset", "DatasetError", "Take", "load_interact", "read_body"]


@dataclass(frozen=True)
class Take:
    name: str  # DATE_SCENARIO
    actors: tuple[str, str]
    fps: int
    roots: np.ndarray  # [2, T, 3] centimetres
    rotations: np.ndarray  # [2, T, J, 3] exp-maps
    face: np.ndarray | None  # [2, T, 61] canonical Live Link order, None when no face could be read
    face_valid: np.ndarray  # [61] bool: channels the face files carry (others are not ground truth)
    wavs: tuple[Path, ...]
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
    report: tuple[str, ...]  # every trim, skipped face and note, one line each
    layout: str = "current"
    bvh_units: str = "cm"  # what the BVH files were in (converted to cm on load)


def resample_frames(values: np.ndarray, source_fps: float, fps: int) -> np.ndarray:
    ratio = source_fps / fps
    if abs(ratio - round(ratio)) < 1e-3 and round(ratio) >= 1:
        return values[:: int(round(ratio))]
    count = int(np.floor((len(values) - 1) / ratio)) + 1
    position = np.arange(count) * ratio
    low = np.minimum(np.floor(position).astype(int), len(values) - 1)
    high = np.minimum(low + 1, len(values) - 1)
    w = (position - low).reshape((-1,) + (1,) * (values.ndim - 1))
    return values[low] * (1 - w) + values[high] * w


def read_body(path: Path, fps: int, units: str | None = None) -> tuple[Skeleton, np.ndarray, np.ndarray, str]:
    """(skeleton in cm, roots [T, 3] cm, rotations [T, J, 3], units) at `fps`; DatasetError names a bad file."""
    try:
        skeleton, frame_time, motion = read_bvh(path)
    except (ValueError, OSError, UnicodeDecodeError) as error:
        raise DatasetError(f"{path}: corrupt BVH ({str(error).splitlines()[0]})") from None
    if not frame_time > 0 or len(motion) < 2:
        raise DatasetError(f"{path}: corrupt BVH (frame time {frame_time}, {len(motion)} frames)")
    if not np.isfinite(motion).all():
        raise DatasetError(f"{path}: corrupt BVH (NaN or infinite channel values)")
    roots, rotations = bvh_channels_to_pose(skeleton, motion)
    skeleton, factor, units = check_bvh_scale(path, skeleton, units)
    packed = resample_frames(np.concatenate([roots[:, None] * factor, rotations], axis=1), 1.0 / frame_time, fps)
    return skeleton, packed[:, 0], packed[:, 1:], units


def _groups(folder: Path) -> dict[tuple[str, str], list[tuple[str, Path]]]:
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
            raise DatasetError(f"{folder}: take {date}_{scenario} has {len(members)} actor BVHs ({', '.join(p.name for _, p in members)}), expected 2")
    return groups


def _align(name: str, streams: dict[str, int], fps: int, max_mismatch_s: float) -> tuple[int, str | None]:
    """Common length of a take's streams (file -> frames): trim within tolerance, else refuse."""
    shortest, longest = min(streams.values()), max(streams.values())
    listing = ", ".join(f"{f} {n}" for f, n in streams.items())
    if longest - shortest > max_mismatch_s * fps:
        raise DatasetError(f"{name}: frame counts disagree by {(longest - shortest) / fps:.2f} s (> {max_mismatch_s} s): {listing}")
    if longest == shortest:
        return shortest, None
    return shortest, f"{name}: trimmed to {shortest} frames ({listing})"


@dataclass(frozen=True)
class LoadOptions:
    fps: int = 30
    max_mismatch_s: float = 0.5
    face_fps: int | None = None  # None: the body rate (InterAct ships both at 30 fps)
    layout: str = "auto"
    face_columns: tuple[str, ...] | None = None  # order of the 51 face_arkit columns; None: .npy faces are not read
    bvh_units: str | None = None  # None: inferred from the skeleton's size, refused when unclear


def load_interact(root: str | Path, fps: int = 30, max_mismatch_s: float = 0.5, face_fps: int | None = None, **options) -> Dataset:
    """Every take under `root`, aligned and trimmed; DatasetError on anything that cannot be trained on."""
    opts = LoadOptions(fps, max_mismatch_s, face_fps, **options)
    root = Path(root)
    layout = detect_layout(root, opts.layout)
    scenarios = read_scenarios(layout.meta_dir / "scenarios.db")
    actors, sessions = read_actors(layout.meta_dir / "actors.db")
    takes, report, skeleton, faceless, units = [], [], None, [], set()
    for (date, scenario), members in sorted(_groups(layout.bvh_dir).items()):
        members = sorted(members)
        if key_of(scenario) not in scenarios:
            raise DatasetError(f"{layout.meta_dir / 'scenarios.db'}: no row for scenario {scenario!r} (used by {members[0][1].name})")
        for actor, path in members:
            if key_of(actor) not in actors:
                raise DatasetError(f"{layout.meta_dir / 'actors.db'}: no row for actor {actor!r} (used by {path.name})")
        take, notes, skel, unit = _load_take(root, layout, date, scenario, members, opts)
        units.add(unit)
        if skeleton is None:
            skeleton = skel
        elif skel.joint_names != skeleton.joint_names or skel.parents != skeleton.parents:
            raise DatasetError(f"{members[0][1]}: another skeleton than the dataset's first BVH")
        pairs = sessions.get(date)
        if pairs and {key_of(a) for a, _ in members} not in [{key_of(m), key_of(f)} for m, f in pairs]:
            listed = "; ".join(f"{m} and {f}" for m, f in pairs)
            report.append(f"{take.name}: actors {' and '.join(a for a, _ in members)} are not a session pair of {date} in actors.db ({listed})")
        meta = {"scenario": scenarios[key_of(scenario)], "actors": [actors[key_of(a)] for a, _ in members], "layout": layout.name}
        takes.append(Take(**{**take.__dict__, "metadata": meta}))
        report += notes
        if take.face is None:
            faceless.append(take.name)
    if faceless:
        report.append(f"{len(faceless)} of {len(takes)} takes without face data ({_face_reason(layout, opts)})")
    if len(units) > 1:
        raise DatasetError(f"{layout.bvh_dir}: BVH files in different units ({', '.join(sorted(units))}): name them with --bvh-units")
    return Dataset(skeleton, tuple(takes), tuple(report), layout.name, units.pop())


def _face_reason(layout: Layout, opts: LoadOptions) -> str:
    if layout.face_dir is None:
        return f"the {layout.name} release has no ARKit face folder"
    if opts.face_columns is None and any(layout.face_dir.glob("*.npy")):
        return f"{layout.face_dir}/*.npy column order not named: --face-columns FILE"
    return f"no face file in {layout.face_dir}"


def _load_take(root: Path, layout: Layout, date: str, scenario: str, members, opts: LoadOptions):
    name, fps = f"{date}_{scenario}", opts.fps
    bodies = [read_body(path, fps, opts.bvh_units) for _, path in members]
    skeleton = bodies[0][0]
    if bodies[1][0].joint_names != skeleton.joint_names:
        raise DatasetError(f"{members[1][1]}: another skeleton than {members[0][1].name}")
    stems = [path.stem for _, path in members]
    streams = {f"{layout.bvh_dir.name}/{s}.bvh": len(b[1]) for s, b in zip(stems, bodies)}
    wavs = tuple(layout.wav_dir / f"{s}.wav" for s in stems)
    infos = [wav_info(path) for path in wavs]
    for path, info in zip(wavs, infos):
        streams[f"{layout.wav_dir.name}/{path.name}"] = info.frames * fps // info.rate
    if infos[0].rate != infos[1].rate:
        raise DatasetError(f"{wavs[1]}: {infos[1].rate} Hz, but {wavs[0].name} is {infos[0].rate} Hz: one take, one sample rate")
    faces = _faces(layout.face_dir, stems, fps, opts, streams)
    frames, note = _align(name, streams, fps, opts.max_mismatch_s)
    roots = np.stack([b[1][:frames] for b in bodies])
    rotations = np.stack([b[2][:frames] for b in bodies])
    transcript = root / "transcripts" / f"{name}.txt"
    face, valid = (None, np.zeros(NUM_LIVE_LINK, bool)) if faces is None else (faces[0][:, :frames], faces[1])
    take = Take(name, tuple(a for a, _ in members), fps, roots, rotations, face, valid, wavs, infos[0].rate,
                transcript if transcript.is_file() else None)  # fmt: skip
    return take, [note] if note else [], skeleton, bodies[0][3]


def _faces(folder: Path | None, stems: list[str], fps: int, opts: LoadOptions, streams: dict):
    paths = [face_file(folder, s) for s in stems]
    if all(p is None for p in paths):
        return None
    if any(p is None for p in paths):
        present = next(p for p in paths if p is not None)
        raise DatasetError(f"{folder / stems[paths.index(None)]}.npy: face file missing while the partner's {present.name} exists")
    if any(p.suffix == ".npy" for p in paths) and opts.face_columns is None:
        return None  # counted and explained in the dataset report
    loaded = [read_face(p, opts.face_columns) for p in paths]
    values = [resample_frames(v, opts.face_fps or fps, fps) for v, _ in loaded]
    for path, v in zip(paths, values):
        streams[f"{folder.name}/{path.name}"] = len(v)
    frames = min(len(v) for v in values)
    return np.stack([v[:frames] for v in values]), loaded[0][1] & loaded[1][1]
