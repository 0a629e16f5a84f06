"""Training arrays from a loaded dataset, with the features a live session would compute.

Speech features come from the session's own front end (separation, VAD, log-mel,
and word features through the packaged MiniLM), run offline over each sequence's
two WAVs, so a model trains on exactly what it hears live, crosstalk residue
included. Where the words come from is `word_timing`:
  exact   the take's timed transcript, each word on the frames it spans (the script);
  sphinx  the live recogniser (`--asr sphinx`) run over the take's audio: its own
          words, each placed from the audio time it was committed at, as a live
          session places them (arrival placement). The live recogniser process adds
          its queueing and compute time on top (`dyad bench words` measures it).
They are cached per sequence in `CACHE/<name>.npz` (keyed by the WAVs' sizes and
times, the transcript and the word timing).
A feature stream shorter than the motion by more than the tolerance refuses the
sequence; within it, everything is trimmed to the shortest and reported.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np

from dyad.models.body_repr import BodySplit, encode_body
from dyad.models.interact import Dataset, DatasetError, Take
from dyad.models.actions import ACTIONS
from dyad.models.pose import yaw_of
from dyad.models.train import Sequence
from dyad.runtime.config import SessionConfig, TimingConfig
from dyad.runtime.offline.feature_dump import dump_features
from dyad.runtime.animate.learned_animator import relative_placement
from dyad.runtime.animate.mel_normalizer import MelReference, RunningMelNormalizer, reference_from_features
from dyad.runtime.frontend.mel import LOG_FLOOR
from dyad.runtime.config import DEFAULT_BERT, SpeechFeaturesConfig

WALK_SPEED = 25.0  # template units (cm) per second: faster root motion is walking
SIT_DROP = 0.25  # hips this fraction of the rest height below rest: sitting


WORD_TIMINGS = ("exact", "sphinx")


def _cache_key(take: Take, words: bool, word_timing: str = "exact") -> str:
    parts = [str(p.stat().st_size) + ":" + str(p.stat().st_mtime_ns) for p in take.wavs]
    if words and word_timing == "exact" and take.transcript is not None:
        parts.append(hashlib.sha256(take.transcript.read_bytes()).hexdigest())
    if words and word_timing != "exact":
        parts.append(word_timing)  # the exact key stays as it was: caches written before this option stay valid
    return hashlib.sha256("|".join(parts + [str(words)]).encode()).hexdigest()[:16]


def _speech_config(take: Take, use_words: bool, word_timing: str) -> SpeechFeaturesConfig:
    if not use_words:
        return SpeechFeaturesConfig()
    if word_timing == "sphinx":
        return SpeechFeaturesConfig(bert=DEFAULT_BERT, asr="sphinx", word_placement="arrival")
    return SpeechFeaturesConfig(bert=DEFAULT_BERT, asr=f"file:{take.transcript}", word_placement="exact")


def take_features(take: Take, cache: Path, words: bool = True, word_timing: str = "exact") -> dict[str, np.ndarray]:
    """mel [T,2,M], vad [T,2], rms_db [T,2] and, with words, words [T,2,D] / no_text [T,2]."""
    from dyad.runtime.audio.wav_source import WavReplaySource, open_wav_inputs

    if not take.wavs:  # body-only data (Inter-X): the body model learns motion priors under silence
        return {"mel": np.full((take.frames, 2, 80), np.log(LOG_FLOOR), np.float32), "vad": np.zeros((take.frames, 2), np.float32),
                "rms_db": np.full((take.frames, 2), -100.0, np.float32)}  # fmt: skip
    if word_timing not in WORD_TIMINGS:
        raise ValueError(f"word timing must be one of {', '.join(WORD_TIMINGS)}, got {word_timing!r}")
    use_words = words and (take.transcript is not None or word_timing == "sphinx")
    path = cache / (f"{take.name}.npz" if word_timing == "exact" or not use_words else f"{take.name}.{word_timing}.npz")
    key = _cache_key(take, use_words, word_timing)
    if path.is_file():
        with np.load(path) as data:
            if str(data["key"]) == key:
                return {k: data[k] for k in data.files if k != "key"}
    config = SessionConfig(timing=TimingConfig(fps=take.fps), offline=True, speech=_speech_config(take, use_words, word_timing)).validate()
    wav = open_wav_inputs(list(take.wavs), config.audio.sample_rate)
    source = WavReplaySource(wav, block_ms=config.timing.block_ms, realtime=False)
    cache.mkdir(parents=True, exist_ok=True)
    raw = cache / f"{take.name}.raw.npz"
    dump_features(config, source, raw)
    with np.load(raw) as data:
        out = {k: data[k] for k in ("mel", "vad", "rms_db")}
        if use_words:
            out["words"], out["no_text"] = data["bert"], data["no_text"]
    raw.unlink()
    np.savez(path, key=np.array(key), **out)
    return out


def infer_actions(roots: np.ndarray, rest_height: float, fps: int) -> np.ndarray:
    """[2, T] indices into ACTIONS from the root alone (InterAct has no action labels)."""
    speed = np.zeros(roots.shape[:2])
    speed[:, 1:] = np.linalg.norm(np.diff(roots[..., [0, 2]], axis=1), axis=-1) * fps
    kernel = np.ones(15) / 15  # half a second: steps and sways do not flip the label
    speed = np.stack([np.convolve(s, kernel, mode="same") for s in speed])
    out = np.full(roots.shape[:2], ACTIONS.index("stand"), np.int64)
    out[speed > WALK_SPEED] = ACTIONS.index("walk")
    out[roots[..., 1] < (1 - SIT_DROP) * rest_height] = ACTIONS.index("sit")
    return out


def _speaker(actor: str, index: int, speakers: int) -> int:
    digits = "".join(ch for ch in actor if ch.isdigit())
    return (int(digits) - 1 if digits else index) % speakers


def build_sequences(dataset: Dataset, split: BodySplit, cache: Path, speakers: int = 8, max_mismatch_s: float = 0.5,
                    words: bool = True, progress=None, word_timing: str = "exact") -> tuple[list[Sequence], list[str]]:  # fmt: skip
    """Training sequences and the report lines (trims)."""
    sequences, report = [], list(dataset.report)
    skeleton = dataset.skeleton
    for i, take in enumerate(dataset.takes):
        feats = take_features(take, cache, words, word_timing)
        frames = min(take.frames, len(feats["mel"]))
        if take.frames - frames > max_mismatch_s * take.fps:
            raise DatasetError(f"{take.wavs[0]}: audio gives {len(feats['mel'])} frames, the motion {take.frames}: not aligned")
        if frames < take.frames or frames < len(feats["mel"]):
            report.append(f"{take.name}: features {len(feats['mel'])} frames, motion {take.frames}: trimmed to {frames}")
        lower, upper = encode_body(skeleton, split, take.roots[:, :frames], take.rotations[:, :frames])
        yaw = np.unwrap(yaw_of(take.rotations[:, :frames, 0]), axis=-1)
        xz = take.roots[:, :frames][..., [0, 2]]
        placement = np.stack([relative_placement(xz[:, k], yaw[:, k], 100.0) for k in range(frames)], axis=1)
        facing = np.cos(yaw[1] - yaw[0]) < 0.0  # headings more than 90 degrees apart: facing each other
        t = lambda a: np.ascontiguousarray(np.swapaxes(a[:frames], 0, 1), dtype=np.float32)  # noqa: E731 [T,2,...] -> [2,T,...]
        sequences.append(Sequence(
            name=take.name, mel=t(feats["mel"]), words=t(feats["words"]) if "words" in feats else None,
            no_text=t(feats["no_text"]) if "no_text" in feats else None,
            actions=infer_actions(take.roots[:, :frames], skeleton.rest_root_height, take.fps),
            placement=placement.astype(np.float32), lower=lower.astype(np.float32), upper=upper.astype(np.float32),
            face=None if take.face is None else take.face[:, :frames].astype(np.float32), face_valid=take.face_valid,
            lip_face=None,  # lip-accurate data is its own set (InterAct's lip_acc/): runtime.lip_data
            speakers=np.array([_speaker(a, j, speakers) for j, a in enumerate(take.actors)]), facing=facing,
            vad=t(feats["vad"]), rms_db=t(feats["rms_db"]),
        ))  # fmt: skip
        if progress is not None:
            progress(i + 1, len(dataset.takes))
    return sequences, report


def sequences_reference(sequences: list[Sequence], takes: int = 12) -> MelReference:
    """The training speech statistics (mel_reference.json) from the first `takes` sequences' raw log-mel."""
    chosen = [s for s in sequences if s.vad is not None][:takes]
    if not chosen:
        raise DatasetError("no sequence carries voice activity: cannot compute the mel reference")
    mel = np.concatenate([s.mel.reshape(-1, s.mel.shape[-1]) for s in chosen])
    return reference_from_features(mel, np.concatenate([s.vad.reshape(-1) for s in chosen]), np.concatenate([s.rms_db.reshape(-1) for s in chosen]))


def normalize_sequences(sequences: list[Sequence], reference: MelReference, fps: int) -> list[Sequence]:
    """Each sequence's log-mel mapped per person by the run-time normaliser, from a cold start as a
    session starts: training hears exactly what the live animator hears."""
    out = []
    for s in sequences:
        if s.vad is None or s.rms_db is None:
            raise DatasetError(f"{s.name}: no voice activity stored: cannot normalise its mel per person")
        norm = RunningMelNormalizer(reference, fps)
        mel = np.stack([norm.map_stream(s.mel[p], s.vad[p], s.rms_db[p], person=p) for p in range(s.mel.shape[0])])
        out.append(replace(s, mel=mel.astype(np.float32)))
    return out
