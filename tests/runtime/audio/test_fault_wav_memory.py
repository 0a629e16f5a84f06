"""Memory follows the audio used, not the file: a real `dyad run` on a sparse one-hour 48 kHz WAV with
`--seconds 5`, and on a WAV whose header claims 4 GB of data, peaks far below what loading them whole
would take (about 1.4 GB of float32 for the hour; 8 GiB for the claim). Peak RSS is the child's own
(`ru_maxrss` of a fresh wrapper process whose only child is dyad)."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

PEAK_LIMIT_MB = 1500  # a procedural offline run peaks near 700 MB here; the old whole-file read reached 4.8 GB


def wav_header(rate: int, channels: int, data_bytes: int) -> bytes:
    block = channels * 2
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * block, block, 16)
    riff = min(0xFFFFFFFF, 4 + 8 + len(fmt) + 8 + data_bytes)
    return b"RIFF" + struct.pack("<I", riff) + b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", min(0xFFFFFFFF, data_bytes))


def peak_rss_mb(args: list[str]) -> tuple[int, float, str]:
    wrapper = (
        "import resource, subprocess, sys\n"
        f"run = subprocess.run({[sys.executable, '-m', 'dyad.runtime.cli', 'run', *args]!r}, capture_output=True, text=True)\n"
        "sys.stderr.write(run.stderr)\n"
        "print(run.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)\n"
    )
    done = subprocess.run([sys.executable, "-c", wrapper], capture_output=True, text=True, timeout=180)
    code, peak = done.stdout.split()
    return int(code), float(peak), done.stderr


@pytest.fixture()
def sparse_hour(tmp_path) -> Path:
    path = tmp_path / "hour.wav"
    rate, channels, seconds = 48_000, 2, 3600
    data_bytes = rate * channels * 2 * seconds
    with open(path, "wb") as handle:
        handle.write(wav_header(rate, channels, data_bytes))
        speech = (0.3 * np.sin(np.arange(rate * 6) * 2 * np.pi * 220 / rate) * 32767).astype("<i2")
        handle.write(np.repeat(speech[:, None], channels, axis=1).tobytes())  # six seconds of tone, then holes
        handle.truncate(44 + data_bytes)  # sparse: an hour on paper, a few kB on disk
    return path


def test_seconds_bounds_memory_on_a_sparse_hour(sparse_hour, tmp_path):
    code, peak, stderr = peak_rss_mb(["--wav", str(sparse_hour), "--seconds", "5", "--offline", "--model", "procedural", "--quiet"])
    assert code == 0, stderr
    assert peak < PEAK_LIMIT_MB, f"peak RSS {peak:.0f} MB"


def test_a_header_claiming_4_gb_is_read_as_what_is_there(tmp_path):
    path = tmp_path / "liar.wav"
    rate = 16_000
    tone = (0.3 * np.sin(np.arange(rate * 3) * 2 * np.pi * 180 / rate) * 32767).astype("<i2")
    path.write_bytes(wav_header(rate, 2, 0xFFFFFFF0) + np.repeat(tone[:, None], 2, axis=1).tobytes())
    code, peak, stderr = peak_rss_mb(["--wav", str(path), "--offline", "--model", "procedural", "--quiet"])
    assert code == 0 and "Traceback" not in stderr, stderr
    assert peak < PEAK_LIMIT_MB, f"peak RSS {peak:.0f} MB"
