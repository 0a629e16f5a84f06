"""What an InterAct download looks like on disk, and the checks that guard what is not published.

Sources: the dataset card (huggingface.co/datasets/leohocs/interact, README.md) for the
folders, file names, array shapes, database schemas, frame rate and lip_acc/; the project
page (hku-cg.github.io/interact) for the modalities. In short:

    current release   bvhs/, wav/, face_arkit/<stem>.npy (N, 51) without header, lip_acc/,
                      scenarios.db (scenarios.id INTEGER, relationships, emotions),
                      actors.db (actors.actor_id TEXT, gender; sessions(date, male_id, female_id))
    older release     InterAct_Public/Raw_Body_Motions_BVH, InterAct_Public/Raw_Audios_WAV

Not published, so never assumed: the order of the 51 face columns (the user names it, see
`read_face_columns`), the BVH units (inferred from the skeleton's size and refused when it
fits neither centimetres nor metres, or when it contradicts what the user named), the up
axis (checked: a skeleton that is not Y-up is refused) and the WAV encoding (read from each
header). The synthetic corpus (`dyad corpus`) is read by the same code: its faces are CSVs
with named columns, which need no column order, and its metadata uses `id` key columns.
"""

from __future__ import annotations

import csv
import re
import sqlite3
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from dyad.models.arkit import LIVE_LINK_NAMES, NUM_ARKIT, NUM_LIVE_LINK, index_of, map_by_name
from dyad.models.skeleton import Skeleton

NAME = re.compile(r"^(?P<date>[^_]+)_(?P<actor>[^_]+)_(?P<scenario>[^_]+)$")
FACE_WIDTH = 51  # InterAct's face_arkit arrays (dataset card); the 52nd ARKit shape, TongueOut, is absent
UNITS = {"cm": 1.0, "m": 100.0}  # -> the template's centimetres
_HEIGHT_RANGE = {"cm": (100.0, 260.0), "m": (1.0, 2.6)}  # largest rest-pose extent of a human skeleton
_META = {"timecode", "blendshapecount"}


class DatasetError(ValueError):
    """Data that must not be trained on; the message names the file."""


@dataclass(frozen=True)
class Layout:
    name: str  # "current", "older" or "corpus"
    bvh_dir: Path
    wav_dir: Path
    face_dir: Path | None  # None: this release ships no ARKit faces we know of
    meta_dir: Path  # holds scenarios.db and actors.db


def detect_layout(root: Path, layout: str = "auto") -> Layout:
    """The release under `root`: `current`, `older`, or `auto` (the one present; both present is refused)."""
    current = Layout("current", root / "bvhs", root / "wav", root / "face_arkit", root)
    public = root / "InterAct_Public" if (root / "InterAct_Public").is_dir() else root
    meta = public if (public / "scenarios.db").is_file() else root  # where the older release kept them is not published
    older = Layout("older", public / "Raw_Body_Motions_BVH", public / "Raw_Audios_WAV", None, meta)
    if layout == "current":
        found = [current]
    elif layout == "older":
        found = [older]
    elif layout == "auto":
        found = [lay for lay in (current, older) if lay.bvh_dir.is_dir()]
        if len(found) > 1:
            raise DatasetError(f"{root}: holds both bvhs/ and {older.bvh_dir.relative_to(root)}: choose --layout current or older")
    else:
        raise DatasetError(f"layout {layout!r}: expected auto, current or older")
    if not found or not found[0].bvh_dir.is_dir():
        raise DatasetError(f"{root}: no bvhs/ folder (current InterAct release) and no InterAct_Public/Raw_Body_Motions_BVH (older release)")
    return found[0]


def read_face_columns(spec: str | Path) -> tuple[str, ...]:
    """The 51 ARKit names of the face_arkit columns, in order, from a file (one per line or comma-separated) or a comma list."""
    text = str(spec)
    if "," not in text and Path(text).is_file():
        text = Path(text).read_text(encoding="utf-8")
    names = [n.strip() for n in re.split(r"[,\n]", text) if n.strip() and not n.strip().startswith("#")]
    if len(names) != FACE_WIDTH:
        raise DatasetError(f"{spec}: face column list names {len(names)} shapes, InterAct's face_arkit arrays have {FACE_WIDTH}")
    try:
        indices = [index_of(n) for n in names]
    except KeyError as error:
        raise DatasetError(f"{spec}: {error.args[0]}") from None
    if max(indices) >= NUM_ARKIT:
        raise DatasetError(f"{spec}: {LIVE_LINK_NAMES[max(indices)]} is a head/eye angle, not an ARKit blendshape")
    if len(set(indices)) != len(indices):
        raise DatasetError(f"{spec}: a face column is named twice")
    return tuple(LIVE_LINK_NAMES[i] for i in indices)


def read_face(path: Path, columns: tuple[str, ...] | None) -> tuple[np.ndarray, np.ndarray]:
    """(values [N, 61] canonical order, valid [61] bool) from `.npy` (needs `columns`) or a named-column `.csv`."""
    if path.suffix == ".csv":
        return _read_named_csv(path)
    if columns is None:
        raise DatasetError(f"{path}: ARKit column order is not published; name it (--face-columns FILE) before this face is read")
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise DatasetError(f"{path}: not a numpy array ({error})") from None
    if data.ndim != 2 or data.shape[1] != len(columns) or not np.issubdtype(data.dtype, np.number):
        raise DatasetError(f"{path}: shape {data.shape} {data.dtype}, expected (N, {len(columns)}) numbers")
    return _finish(path, columns, data.astype(np.float32))


def _read_named_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = [row for row in csv.reader(handle) if any(cell.strip() for cell in row)]
    if not rows:
        raise DatasetError(f"{path}: empty face file")
    header = [h.strip() for h in rows[0]]
    keep = [i for i, h in enumerate(header) if h.lower() not in _META]
    try:
        data = np.array([[float(row[i]) for i in keep] for row in rows[1:]], dtype=np.float32).reshape(-1, len(keep))
    except (ValueError, IndexError) as error:
        raise DatasetError(f"{path}: not a face file with named ARKit columns ({error})") from None
    return _finish(path, tuple(header[i] for i in keep), data)


def _finish(path: Path, names: tuple[str, ...], data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    try:
        valid = np.zeros(NUM_LIVE_LINK, bool)
        valid[[index_of(n) for n in names]] = True
        values = map_by_name(list(names), data)
    except (KeyError, ValueError) as error:
        raise DatasetError(f"{path}: face columns are not ARKit names ({error})") from None
    if not np.isfinite(values).all():
        raise DatasetError(f"{path}: holds NaN or infinite values")
    return values, valid


def face_file(folder: Path | None, stem: str) -> Path | None:
    """`<stem>.npy` (InterAct) or `<stem>.csv` (named columns, the synthetic corpus) in `folder`."""
    if folder is None:
        return None
    for suffix in (".npy", ".csv"):
        if (folder / f"{stem}{suffix}").is_file():
            return folder / f"{stem}{suffix}"
    return None


@dataclass(frozen=True)
class WavInfo:
    rate: int
    frames: int
    channels: int
    encoding: str  # soundfile's subtype, e.g. PCM_16, FLOAT


def wav_info(path: Path) -> WavInfo:
    """Rate, length, channels and encoding from the header (any WAV encoding libsndfile reads)."""
    import soundfile

    if not path.is_file():
        raise DatasetError(f"{path}: WAV missing")
    try:
        info = soundfile.info(str(path))
    except (RuntimeError, OSError) as error:
        raise DatasetError(f"{path}: not a readable WAV ({str(error).splitlines()[0]})") from None
    if info.channels != 1:
        raise DatasetError(f"{path}: {info.channels} channels; InterAct keeps one mono WAV per actor")
    return WavInfo(info.samplerate, info.frames, info.channels, info.subtype)


def _key(value) -> str:
    """Row keys as file names spell them: scenario 51 is `051` in a name, actor '001' stays '001'."""
    text = str(value).strip()
    return str(int(text)) if text.isdigit() else text


def _rows(db: Path, table: str) -> list[dict]:
    if not db.is_file():
        raise DatasetError(f"{db}: metadata database missing (InterAct keeps scenarios in scenarios.db, actors in actors.db)")
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            conn.row_factory = sqlite3.Row
            return [dict(row) for row in conn.execute(f"SELECT * FROM {table}").fetchall()]  # noqa: S608 fixed names
    except sqlite3.Error as error:
        raise DatasetError(f"{db}: cannot read table {table!r} ({error})") from None


def _keyed(db: Path, table: str, columns: tuple[str, ...]) -> dict[str, dict]:
    rows = _rows(db, table)
    column = next((c for c in columns if rows and c in rows[0]), None)
    if rows and column is None:
        raise DatasetError(f"{db}: table {table!r} has none of the key columns {', '.join(columns)}")
    return {_key(row[column]): row for row in rows}


def read_scenarios(db: Path) -> dict[str, dict]:
    """Scenario rows by file-name key, with relationship and emotion names joined in when those tables exist."""
    scenarios = _keyed(db, "scenarios", ("id",))
    names = {}
    for table in ("relationships", "emotions"):
        try:
            names[table] = {_key(r["id"]): r.get("name") for r in _rows(db, table)}
        except (DatasetError, KeyError):
            names[table] = {}
    for row in scenarios.values():
        if "relationship_id" in row:
            row["relationship"] = names["relationships"].get(_key(row["relationship_id"]))
        if "primary_emotion_id" in row:
            row["emotion"] = names["emotions"].get(_key(row["primary_emotion_id"]))
    return scenarios


def read_actors(db: Path) -> tuple[dict[str, dict], dict[str, list[tuple[str, str]]]]:
    """(actors by id, session date -> [(male_id, female_id), ...]); the corpus has no session pairs."""
    actors = _keyed(db, "actors", ("actor_id", "id"))
    sessions: dict[str, list[tuple[str, str]]] = {}
    try:
        for row in _rows(db, "sessions"):
            if {"date", "male_id", "female_id"} <= row.keys():
                sessions.setdefault(str(row["date"]), []).append((str(row["male_id"]), str(row["female_id"])))
    except DatasetError:
        pass  # no sessions table: nothing to cross-check
    return actors, sessions


def key_of(value: str) -> str:
    return _key(value)


def check_bvh_scale(path: Path, skeleton: Skeleton, units: str | None) -> tuple[Skeleton, float, str]:
    """(skeleton in cm, factor to cm, units) after the size and up-axis checks; DatasetError names the file."""
    rest = skeleton.rest_positions
    extent = float((rest.max(axis=0) - rest.min(axis=0)).max())
    fits = [u for u, (low, high) in _HEIGHT_RANGE.items() if low <= extent <= high]
    if units is None:
        if len(fits) != 1:
            raise DatasetError(f"{path}: skeleton spans {extent:.3g} units, neither a person in cm nor in m: name the units (--bvh-units cm|m)")
        units = fits[0]
    elif units not in UNITS:
        raise DatasetError(f"BVH units {units!r}: expected cm or m")
    elif units not in fits:
        raise DatasetError(f"{path}: --bvh-units {units}, but the skeleton spans {extent:.3g} units (a person in {units} spans {_HEIGHT_RANGE[units][0]:g}-{_HEIGHT_RANGE[units][1]:g})")
    factor = UNITS[units]
    if skeleton.rest_root_height < 0.25 * extent:  # Y-up: the hips stand about half a body above the feet
        raise DatasetError(f"{path}: root only {skeleton.rest_root_height:.3g} units above the lowest joint along Y "
                           f"in a {extent:.3g}-unit skeleton: not Y-up, which dyad's BVH reader requires")  # fmt: skip
    if factor != 1.0:
        end_sites = tuple(None if e is None else tuple(factor * np.asarray(e)) for e in skeleton.end_sites)
        skeleton = replace(skeleton, offsets=skeleton.offsets * factor, end_sites=end_sites)
    return skeleton, factor, units
