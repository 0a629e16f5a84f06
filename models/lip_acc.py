"""InterAct's `lip_acc/` set: one actor (006) reading sentences, for the lip fine-tune (numpy only).

The dataset card (huggingface.co/datasets/leohocs/interact, README.md) says: an additional ~1 h facial set with attention to lip
shapes, one actor, file names `<date>_<actor>_<scenario>` where the scenario id is the
sentence's place in `lip_acc_sentences.txt`. It is not a lip-accurate copy of the main
takes. The card does not say how the files sit inside `lip_acc/`, so every place a
researcher would look is read, and `dyad data check` prints which one was used:

    face   lip_acc/face_arkit/<stem>.npy | lip_acc/<stem>.npy   (N, 51), needs the named column order
           lip_acc/face_arkit/<stem>.csv | lip_acc/<stem>.csv   named columns (the synthetic corpus)
    audio  lip_acc/wav/<stem>.wav | lip_acc/<stem>.wav | wav/<stem>.wav   (first found)
    text   lip_acc/lip_acc_sentences.txt | lip_acc_sentences.txt         (optional, metadata only)

Files under a `face_ict` folder (ICT-FaceKit, 55 values) are never read as ARKit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dyad.models.interact import resample_frames
from dyad.models.interact_layout import NAME, DatasetError, read_face, wav_info

FOLDER = "lip_acc"
SENTENCES = "lip_acc_sentences.txt"


@dataclass(frozen=True)
class LipTake:
    name: str  # the file stem
    actor: str
    fps: int
    face: np.ndarray  # [T, 61] canonical Live Link order
    face_valid: np.ndarray  # [61] bool
    wav: Path
    sample_rate: int
    sentence: str | None  # line `scenario` (1-based) of lip_acc_sentences.txt, when the file is there

    @property
    def frames(self) -> int:
        return int(self.face.shape[0])


@dataclass(frozen=True)
class LipSet:
    folder: Path
    takes: tuple[LipTake, ...]
    report: tuple[str, ...]


def _face_files(folder: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(folder.rglob("*")):
        if path.suffix not in (".npy", ".csv") or "face_ict" in path.relative_to(folder).parts or NAME.match(path.stem) is None:
            continue
        if path.stem in found:
            raise DatasetError(f"{path}: a second face file for {path.stem} (also {found[path.stem]})")
        found[path.stem] = path
    return found


def _audio(root: Path, folder: Path, stem: str) -> Path | None:
    for candidate in (folder / "wav" / f"{stem}.wav", folder / f"{stem}.wav", root / "wav" / f"{stem}.wav"):
        if candidate.is_file():
            return candidate
    return None


def _sentences(root: Path, folder: Path) -> list[str] | None:
    for candidate in (folder / SENTENCES, root / SENTENCES):
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8").splitlines()
    return None


def load_lip_acc(root: str | Path, fps: int = 30, face_columns: tuple[str, ...] | None = None, max_mismatch_s: float = 0.5,
                 face_fps: int | None = None) -> LipSet:  # fmt: skip
    """Every lip_acc face with its audio; DatasetError when there is nothing to train on, naming the folder."""
    root = Path(root)
    folder = root / FOLDER
    if not folder.is_dir():
        raise DatasetError(f"{folder}: no lip_acc/ folder (InterAct's one-actor sentence set for the lip fine-tune)")
    faces = _face_files(folder)
    if not faces:
        raise DatasetError(f"{folder}: no face files (<date>_<actor>_<sentence>.npy or .csv)")
    sentences, takes, report, silent = _sentences(root, folder), [], [], []
    for stem, path in faces.items():
        wav = _audio(root, folder, stem)
        if wav is None:
            silent.append(stem)
            continue
        values, valid = read_face(path, face_columns)
        values = resample_frames(values, face_fps or fps, fps)
        info = wav_info(wav)
        audio_frames = info.frames * fps // info.rate
        if abs(audio_frames - len(values)) > max_mismatch_s * fps:
            raise DatasetError(f"{path}: {len(values)} face frames, {wav.name} gives {audio_frames}: not aligned")
        frames = min(audio_frames, len(values))
        if frames < len(values) or frames < audio_frames:
            report.append(f"{stem}: trimmed to {frames} frames (face {len(values)}, audio {audio_frames})")
        match = NAME.match(stem)
        line = int(match["scenario"]) if match["scenario"].isdigit() else 0
        sentence = sentences[line - 1] if sentences is not None and 1 <= line <= len(sentences) else None
        takes.append(LipTake(stem, match["actor"], fps, values[:frames], valid, wav, info.rate, sentence))
    if silent:
        report.append(f"{len(silent)} of {len(faces)} lip_acc faces without a WAV, not used (first: {silent[0]})")
    if not takes:
        raise DatasetError(f"{folder}: no lip_acc face has a WAV beside it (looked in lip_acc/wav/, lip_acc/, wav/)")
    if sentences is None:
        report.append(f"{folder}: no {SENTENCES}; sentences are not attached (training does not need them)")
    return LipSet(folder, tuple(takes), tuple(report))
