"""The `dyad` command as a user meets it: bad input gives one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from session_fixtures import dialogue, write_dialogue

RATE = 16000


def dyad(*args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run(
        [sys.executable, "-m", "dyad.runtime.cli", *args], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("dyad: error:")]
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_missing_file(tmp_path):
    assert_one_line_error(dyad("run", "--wav", str(tmp_path / "nope.wav"), "--offline"), "nope.wav")


def test_not_a_wav_file(tmp_path):
    fake = tmp_path / "notes.wav"
    fake.write_text("this is not audio")
    assert_one_line_error(dyad("run", "--wav", str(fake), "--offline"), "notes.wav")


def test_empty_wav_file(tmp_path):
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros((0, 2), np.float32), RATE)
    assert_one_line_error(dyad("run", "--wav", str(empty), "--offline"), "empty.wav")


def test_mono_file_where_two_people_are_needed(tmp_path):
    mono = tmp_path / "mono.wav"
    sf.write(mono, np.zeros(RATE, np.float32), RATE)
    assert_one_line_error(dyad("run", "--wav", str(mono), "--offline"), "mono.wav", "mono")


def test_unknown_device():
    assert_one_line_error(dyad("run", "--mic", "no-such-device-xyz", "--seconds", "1"), "no-such-device-xyz")


@pytest.mark.slow
def test_bad_sink_and_bad_config_name_the_field(tmp_path):
    wav = write_dialogue(tmp_path / "d.wav", 1.0)
    assert_one_line_error(dyad("run", "--wav", str(wav), "--offline", "--sink", "carrier-pigeon://x"), "carrier-pigeon")
    assert_one_line_error(dyad("run", "--wav", str(wav), "--offline", "--budget-ms", "20"), "timing.budget_ms")
    assert_one_line_error(dyad("run", "--wav", str(wav), "--offline", "--actions", "dance,stand"), "controls.actions", "dance")


@pytest.mark.slow
@pytest.mark.parametrize("rate", [8000, 48000])
def test_other_sample_rates_are_resampled_not_rejected(tmp_path, rate):
    wav = write_dialogue(tmp_path / f"d{rate}.wav", 2.0, rate=rate)
    out = tmp_path / "out"
    result = dyad("run", "--wav", str(wav), "--offline", "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "session.json").read_text())
    assert summary["frames"]["p0"] == 60
    assert summary["inputs"]["source_rates"] == [rate]


@pytest.mark.slow
def test_nan_and_inf_samples_are_sanitised_and_counted(tmp_path):
    audio = dialogue(1.0)
    audio[100:110, 0] = np.nan
    audio[200:205, 1] = np.inf
    wav = tmp_path / "bad.wav"
    sf.write(wav, audio, RATE, subtype="FLOAT")
    out = tmp_path / "out"
    result = dyad("run", "--wav", str(wav), "--offline", "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "session.json").read_text())
    assert summary["source"]["sanitised_samples"] == 15
    assert summary["frames"]["p0"] == 30


@pytest.mark.slow
def test_two_mono_files_and_the_summary_line(tmp_path):
    audio = dialogue(1.5)
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    sf.write(a, audio[:, 0], RATE)
    sf.write(b, audio[:, 1], RATE)
    result = dyad("run", "--wav", str(a), str(b), "--offline", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "45 frames per person" in result.stdout


@pytest.mark.slow
def test_sessions_animate_per_part_as_the_bundled_model_says_unless_told_otherwise(tmp_path):
    """The bundled folder's model.json picks the animator per part from the real-voice numbers (both procedural
    now); the flags run its learned networks, and --model procedural the rule-based animator alone."""
    audio = dialogue(1.5)
    wav = tmp_path / "d.wav"
    sf.write(wav, audio, RATE)
    runs = (("default", (), "procedural"), ("learned", ("--face-animator", "learned", "--body-animator", "learned"), "learned"),
            ("procedural", ("--model", "procedural"), "procedural"))  # fmt: skip
    for name, flags, animator in runs:
        out = tmp_path / name
        result = dyad("run", "--wav", str(wav), "--offline", "--quiet", "--out", str(out), *flags, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        summary = json.loads((out / "session.json").read_text())
        assert summary["animator"] == animator
        if name == "default":
            assert "Traceback" not in result.stderr and "WARNING" not in result.stderr  # the designed default is no warning
    report = json.loads((tmp_path / "learned" / "session.json").read_text())["animator_report"]
    assert report["trained"] and Path(report["model_dir"]).name == "default_model"
    assert report["config"]["backend"] == "onnx"  # the bundled folder ships its ONNX export


ALSA_FILE_DEVICE = """
pcm.dyadfile_cli {{
  type file
  slave.pcm "null"
  file "/dev/null"
  infile "{infile}"
  format "raw"
}}
pcm.dyadcli {{
  type plug
  slave {{ pcm "dyadfile_cli"; format S16_LE; rate {rate}; channels 2 }}
}}
"""


@pytest.mark.slow
@pytest.mark.realtime
def test_live_microphone_session_through_a_real_portaudio_stream(tmp_path):
    """`dyad run --mic` end to end on a real PortAudio capture stream.

    The device is an ALSA `file` plugin reading a raw dialogue recording, set up in a
    temporary HOME (PortAudio reads ~/.asoundrc when it initialises). It delivers
    faster than real time; the session still paces frames on capture time.
    """
    raw = tmp_path / "dialogue.raw"
    (np.clip(dialogue(3.0), -1, 1) * 32767).astype("<i2").tofile(raw)
    (tmp_path / ".asoundrc").write_text(ALSA_FILE_DEVICE.format(infile=raw, rate=RATE))
    out = tmp_path / "out"
    env = dict(os.environ, HOME=str(tmp_path), PYTHONUNBUFFERED="1")
    devices = subprocess.run([sys.executable, "-m", "dyad.runtime.cli", "devices"], capture_output=True, text=True, env=env, timeout=60)
    assert devices.returncode == 0 and "dyadcli" in devices.stdout
    result = subprocess.run(
        [sys.executable, "-m", "dyad.runtime.cli", "run", "--mic", "dyadcli", "--seconds", "2", "--out", str(out), "--quiet"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "session.json").read_text())
    assert summary["frames"] == {"p0": 60, "p1": 60}
    assert summary["inputs"]["mic"] == ["dyadcli"]
    assert summary["source"]["devices"] == ["dyadcli"]
    assert summary["stage_ms"]["separation"]["count"] > 0
    # the speech in the file reached the animator: person 0's jaw moved
    from dyad.adapters.livelink_csv import read_livelink_csv

    _, face = read_livelink_csv(out / "p0_face.csv")
    assert face.shape == (60, 61) and face[:, 17].max() > 0.1
