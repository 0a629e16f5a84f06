"""Synthetic corpus -> loader -> `dyad train` (a few steps) -> a loadable, swappable model folder; metrics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dyad.models import metrics
from dyad.models.arkit import index_of
from dyad.models.interact import load_interact
from dyad.models.lip_acc import load_lip_acc
from dyad.models.model_dir import load_model_dir
from dyad.models.visemes import TimedPhoneme, viseme_track
from dyad.runtime.cli.main import main
from dyad.runtime.offline.corpus import write_corpus
from dyad.runtime.offline.espeak_timing import synthesize


def test_espeak_phoneme_timing_covers_the_audio_and_marks_stress() -> None:
    speech = synthesize("Absolutely wonderful", "en-us+m3", 180, 40)
    assert speech.phonemes[-1].end_s == pytest.approx(len(speech.audio) / speech.sample_rate)
    stressed = [p.symbol for p in speech.phonemes if p.stressed]
    assert stressed == ["u:", "V"]  # ab-so-LU-tely, WON-derful


def test_visemes_close_the_lips_on_bilabials_and_open_the_jaw_on_vowels() -> None:
    track = viseme_track([TimedPhoneme("m", 0.0, 0.1), TimedPhoneme("A:", 0.1, 0.3), TimedPhoneme("p", 0.3, 0.4)], 12, 30)
    close, jaw = index_of("MouthClose"), index_of("JawOpen")
    assert track[1, close] > 0.3 and track[10, close] > 0.3 and track[6, close] < 0.15
    assert track[6, jaw] > 0.4 > track[1, jaw]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("corpus") / "synth"
    write_corpus(out, 0.4, seed=5, take_seconds=12.0)
    return out


def test_corpus_is_deterministic_by_seed(tmp_path: Path) -> None:
    """Same seed, same bytes (WAVs, faces, motion, transcripts); another seed, other dialogues. Each corpus
    is written by a fresh process, as `dyad corpus` runs: libespeak-ng keeps synthesis state across
    utterances, so a second corpus written in the same process differs by a few samples."""
    import subprocess
    import sys

    def write(name: str, seed: int) -> Path:
        code = f"from dyad.runtime.offline.corpus import write_corpus; write_corpus({str(tmp_path / name)!r}, 0.2, seed={seed}, take_seconds=12.0)"
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        return tmp_path / name

    a, b, other = write("a", 5), write("b", 5), write("other", 6)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file() and p.suffix in (".wav", ".csv", ".bvh", ".txt"))
    assert len(files) >= 7 and files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file() and p.suffix in (".wav", ".csv", ".bvh", ".txt"))
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    scripts = {p.read_text() for p in (a / "transcripts").glob("*.txt")}
    assert not scripts & {p.read_text() for p in (other / "transcripts").glob("*.txt")}  # another seed, other dialogues


def test_corpus_is_read_by_the_interact_loader(corpus: Path) -> None:
    dataset = load_interact(corpus)
    assert len(dataset.takes) >= 2 and dataset.report == ()
    first = dataset.takes[0]
    assert first.transcript is not None and first.face_valid.all()
    lip = load_lip_acc(corpus).takes[0]  # the corpus's lip_acc/ CSVs, each read with its actor's WAV
    person = first.actors.index(lip.actor) if lip.name.endswith(first.name.split("_")[1]) else None
    assert person is not None
    frames = min(lip.frames, first.frames)
    # lip-accurate and ordinary captures share everything but the mouth
    assert np.abs(lip.face[:frames] - first.face[person, :frames])[:, index_of("EyeBlinkLeft")].max() == 0
    assert np.abs(lip.face[:frames] - first.face[person, :frames])[:, index_of("JawOpen")].max() > 0.05


@pytest.mark.slow
def test_train_resume_and_swap(corpus: Path, tmp_path: Path, capsys) -> None:
    model = tmp_path / "model"
    common = ["--data", str(corpus), "--out", str(model), "--batch", "2", "--window", "12", "--val-takes", "1"]
    for kind in ("body", "face", "face-lip"):
        assert main(["train", kind, "--steps", "2", *common]) == 0
        assert (model / "training" / f"{kind}_loss.png").is_file()
    assert main(["train", "body", "--steps", "3", *common]) == 0
    assert "resuming body at step 2" in capsys.readouterr().out
    loaded = load_model_dir(model)
    assert loaded.trained and loaded.face_weights == "swapped" and loaded.face.config.audio_input == "mel"
    # trained on per-person normalised mel against the reference the first run wrote, as the live animator maps it
    assert (model / "mel_reference.json").is_file() and loaded.body.config.mel_normalized and loaded.face.config.mel_normalized
    assert loaded.face.config.energy_cue
    lip = [n for n, f in loaded.provenance.items() if f.endswith("face_lip.safetensors")]
    assert lip and all(n.startswith("denoiser.") for n in lip)
    assert json.loads((model / "training" / "body_loss.json").read_text())["step"][-1] == 3


def test_training_never_starts_on_misaligned_audio(corpus: Path, tmp_path: Path, capsys) -> None:
    import shutil

    import soundfile

    bad = tmp_path / "bad"
    shutil.copytree(corpus, bad, ignore=shutil.ignore_patterns("features"))
    wav = sorted((bad / "wav").glob("*.wav"))[0]
    audio, rate = soundfile.read(wav, dtype="int16")
    soundfile.write(wav, audio[: len(audio) // 2], rate, subtype="PCM_16")
    assert main(["train", "body", "--data", str(bad), "--out", str(tmp_path / "m"), "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert wav.name in err and "training not started" in err and not (tmp_path / "m").exists()


def test_metrics_known_answers() -> None:
    face = np.random.default_rng(0).uniform(0, 1, (50, 61))
    assert metrics.lip_error(face, face)["lip_max_sq"] == 0.0
    assert metrics.fdd(face, face)["fdd_abs"] == 0.0
    fps, t = 30, np.arange(90)
    onsets = [15, 30, 45, 60, 75]
    level = np.full(90, -40.0)
    for k in onsets:
        level[k] = -20.0  # a prominent syllable
    hands = np.zeros((90, 2, 3))
    hands[..., 1] = 10 * np.cos(2 * np.pi * (t - 15) / 30)[:, None]  # the hand turns (speed minimum) on every syllable
    beats = metrics.beat_consistency(hands, level, np.ones(90), fps)
    assert beats["motion_beats"] >= 4 and beats["beat_align"] > 0.9 and beats["beat_recall"] > 0.9
    xz = np.array([[[0.0, 0.0]] * 10, [[0.0, 100.0]] * 10])
    yaw = np.array([[0.0] * 10, [np.pi] * 10])
    pair = metrics.two_person(xz, yaw, xz, yaw)
    assert pair["distance_error_cm"] == 0 and pair["distance_plausible"] == 1 and pair["facing_error_deg"] == 0
