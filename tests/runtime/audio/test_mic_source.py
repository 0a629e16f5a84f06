"""MicrophoneSource against a REAL PortAudio capture stream.

The test defines ALSA `file`-plugin capture devices in a temporary
$HOME/.asoundrc (raw s16le files as `infile`, wrapped in `plug` so PortAudio
can open them as float32 at any rate). PortAudio reads the ALSA config when
`sounddevice` is imported, so the capture part runs in a subprocess with that
HOME. The `null` slave is not paced by a clock: the device delivers as fast
as it is read, and ALSA skips ahead once its buffer overruns. Only the
first buffer's worth (about 0.8 s with a 0.5 s latency) is the file
verbatim, which is what these checks use.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from dyad.runtime.frames import AudioChunk
from dyad.runtime.audio.mic_devices import format_device_table
from dyad.runtime.audio.mic_source import capture_ns_from_time_info
from dyad.runtime.audio.pairer import Pairer
from dyad.runtime.audio.resample import resample_all

RATE = 16000
SECONDS = 3.0

ASOUNDRC = """
pcm.dyadfile_{name} {{
  type file
  slave.pcm "null"
  file "/dev/null"
  infile "{infile}"
  format "raw"
}}
pcm.{name} {{
  type plug
  slave {{ pcm "dyadfile_{name}"; format S16_LE; rate {rate}; channels {channels} }}
}}
"""

CAPTURE = r"""
import json, sys, time
import numpy as np
from dyad.runtime.errors import DyadError
from dyad.runtime.audio.mic_source import MicrophoneSource
from dyad.runtime.audio.mic_devices import list_input_devices, format_device_table

out_dir = sys.argv[1]
result = {"devices": [d["name"] for d in list_input_devices()], "table": format_device_table()}

def capture(key, devices, **kw):
    src = MicrophoneSource(devices, sample_rate=16000, latency=0.5, **kw)
    src.start()
    time.sleep(0.3)  # let every device fill its queue before pairing starts
    chunks, deadline = [], time.monotonic() + 5
    while sum(c.frames for c in chunks) < 8000 and time.monotonic() < deadline:
        chunk = src.read(0.5)
        if chunk is not None:
            chunks.append(chunk)
    src.close()
    np.save(f"{out_dir}/{key}.npy", np.concatenate([c.samples for c in chunks]))
    result[key] = {
        "starts": [c.start_sample for c in chunks],
        "ends": [c.end_sample for c in chunks],
        "capture_ns": [c.capture_ns for c in chunks],
        "rates": [c.sample_rate for c in chunks],
        "stats": src.stats(),
    }

capture("stereo", "dyadstereo")
capture("pair", ["dyadmono_a", "dyadmono_b"])
capture("resampled", "dyadstereo48", device_rate=48000)
for key, spec in [("unknown", "no-such-mic-xyz"), ("bad_index", 999), ("same", ["dyadmono_a", "dyadmono_a"])]:
    try:
        MicrophoneSource(spec)
        result[key] = None
    except DyadError as exc:
        result[key] = str(exc)
print(json.dumps(result))
"""


def noise(n: int, seed: int, channels: int) -> np.ndarray:
    """Distinct white noise per channel: its autocorrelation is one sharp peak."""
    return np.random.default_rng(seed).uniform(-0.4, 0.4, (n, channels)).astype(np.float32)


def write_raw(path: Path, x: np.ndarray) -> np.ndarray:
    """Write s16le interleaved; return the float values a capture should read back."""
    ints = np.round(x * 32767).astype("<i2")
    ints.tofile(path)
    return ints.astype(np.float32) / 32768.0


@pytest.fixture(scope="module")
def captured(tmp_path_factory):
    home = tmp_path_factory.mktemp("alsa_home")
    n = int(SECONDS * RATE)
    stereo = write_raw(home / "stereo.raw", noise(n, 1, 2))
    mono_a = write_raw(home / "a.raw", noise(n, 2, 1))
    mono_b = write_raw(home / "b.raw", noise(n, 3, 1))
    # 48 kHz file made by upsampling 16 kHz noise, so it is band-limited below 8 kHz.
    stereo48 = write_raw(home / "stereo48.raw", resample_all(noise(n, 4, 2), RATE, 48000))
    config = "".join(
        ASOUNDRC.format(name=name, infile=home / raw, rate=rate, channels=ch)
        for name, raw, rate, ch in [
            ("dyadstereo", "stereo.raw", RATE, 2),
            ("dyadmono_a", "a.raw", RATE, 1),
            ("dyadmono_b", "b.raw", RATE, 1),
            ("dyadstereo48", "stereo48.raw", 48000, 2),
        ]
    )
    (home / ".asoundrc").write_text(config)
    script = home / "capture.py"
    script.write_text(textwrap.dedent(CAPTURE))
    env = {k: v for k, v in os.environ.items() if k not in ("ALSA_CONFIG_PATH", "XDG_CONFIG_HOME")}
    env["HOME"] = str(home)
    proc = subprocess.run(
        [sys.executable, str(script), str(home)], env=env, capture_output=True, text=True, timeout=60
    )
    if proc.returncode != 0 and "PortAudio" in proc.stderr and "not available" in proc.stderr:
        pytest.skip("PortAudio is not installed")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    files = {"stereo": stereo, "a": mono_a, "b": mono_b, "stereo48": stereo48}
    arrays = {k: np.load(home / f"{k}.npy") for k in ("stereo", "pair", "resampled")}
    return result, files, arrays


def best_lag(captured: np.ndarray, reference: np.ndarray, max_lag: int = 4000) -> int:
    """Lag L such that captured[i] ~ reference[i + L], found by cross-correlation (FFT)."""
    seg = captured[:4000]
    n = len(reference) + len(seg)
    size = 1 << (n - 1).bit_length()
    corr = np.fft.irfft(np.fft.rfft(reference, size) * np.conj(np.fft.rfft(seg, size)), size)
    return int(np.argmax(corr[: max_lag + 1]))


def assert_matches(captured: np.ndarray, reference: np.ndarray, min_len: int, tol: float) -> int:
    lag = best_lag(captured, reference)
    n = min(len(captured), len(reference) - lag)
    assert n >= min_len, f"only {n} samples overlap after lag {lag}"
    diff = np.abs(captured[:min_len] - reference[lag : lag + min_len])
    assert diff.max() <= tol, f"max difference {diff.max()} at lag {lag}"
    return lag


def assert_contiguous_and_timed(info: dict) -> None:
    assert info["starts"][0] == 0
    assert info["starts"][1:] == info["ends"][:-1], "chunks must be contiguous (no drops in the first 0.5 s)"
    assert set(info["rates"]) == {RATE}
    capture = np.array(info["capture_ns"])
    assert (np.diff(capture) > 0).all(), "capture times must increase"


def test_device_is_listed(captured):
    result, _, _ = captured
    assert {"dyadstereo", "dyadmono_a", "dyadmono_b"} <= set(result["devices"])
    assert "dyadstereo" in result["table"]


def test_stereo_device_captures_the_file(captured):
    result, files, arrays = captured
    info = result["stereo"]
    assert_contiguous_and_timed(info)
    got = arrays["stereo"]
    assert got.shape[1] == 2 and len(got) >= 8000
    lags = [assert_matches(got[:, ch], files["stereo"][:, ch], 4800, 1e-4) for ch in (0, 1)]
    assert lags[0] == lags[1]  # one device: both people share one sample clock
    assert info["stats"]["resampled_from"] is None and info["stats"]["sanitised_samples"] == 0


def test_two_mono_devices_are_paired(captured):
    result, files, arrays = captured
    info = result["pair"]
    assert_contiguous_and_timed(info)
    got = arrays["pair"]
    assert got.shape[1] == 2 and len(got) >= 8000
    assert_matches(got[:, 0], files["a"][:, 0], 4800, 1e-4)  # person 0 = first device
    assert_matches(got[:, 1], files["b"][:, 0], 4800, 1e-4)
    assert info["stats"]["devices"] == ["dyadmono_a", "dyadmono_b"]


def test_device_rate_is_resampled_to_the_session_rate(captured):
    result, files, arrays = captured
    info = result["resampled"]
    assert_contiguous_and_timed(info)
    assert info["stats"]["resampled_from"] == [48000]
    reference = resample_all(files["stereo48"], 48000, RATE)
    for ch in (0, 1):  # the device starts at a 48 kHz sample, so lag may fall between 16 kHz samples
        lag = best_lag(arrays["resampled"][:, ch], reference[:, ch])
        seg = arrays["resampled"][200:4800, ch]
        ref = reference[lag + 200 : lag + 4800, ch]
        assert np.corrcoef(seg, ref)[0, 1] > 0.95


def test_device_errors_are_one_line_and_name_the_device(captured):
    result, _, _ = captured
    for key, needle in [("unknown", "no-such-mic-xyz"), ("bad_index", "999"), ("same", "dyadmono_a")]:
        message = result[key]
        assert message is not None and "\n" not in message and needle in message, message


# --- pure parts (no PortAudio) ----------------------------------------------------------


def test_capture_time_uses_adc_time_or_falls_back():
    now = 10_000_000_000
    assert capture_ns_from_time_info(now, 99.990, 100.0, 160, RATE) == now - 10_000_000
    assert capture_ns_from_time_info(now, 0.0, 100.0, 160, RATE) == now - 10_000_000  # no ADC time
    assert capture_ns_from_time_info(now, 100.5, 100.0, 320, RATE) == now - 20_000_000  # ADC in future


def mono(side: int, start: int, values) -> AudioChunk:
    """A chunk whose capture time is consistent: side 1's device runs 1 ms behind side 0's."""
    capture_ns = 1_000_000 * (1 + side) + start * 10**9 // RATE
    return AudioChunk(start, np.asarray(values, np.float32)[:, None], RATE, capture_ns)


def test_pairer_fills_gaps_and_bounds_skew():
    pairer = Pairer(RATE, max_skew=100)
    pairer.push(0, mono(0, 0, np.full(50, 0.1)))
    assert pairer.pop() is None  # nothing to pair yet
    pairer.push(1, mono(1, 0, np.full(30, 0.2)))
    pairer.push(1, mono(1, 40, np.full(10, 0.3)))  # samples 30..39 of side 1 were dropped
    chunk = pairer.pop()
    assert chunk.start_sample == 0 and chunk.frames == 50
    np.testing.assert_array_equal(chunk.samples[30:40, 1], 0.0)
    assert chunk.samples[45, 1] == np.float32(0.3)
    assert chunk.capture_ns == 2_000_000  # the later of the two sides
    pairer.push(0, mono(0, 50, np.full(150, 0.4)))  # side 0 now leads by 150 > 100
    assert pairer.skew_dropped == 150 and pairer.pop() is None
    pairer.push(1, mono(1, 50, np.full(20, 0.5)))
    assert pairer.pop() is None and pairer.pending(1) == 20  # side 0 was levelled: nothing pending
    pairer.push(0, mono(0, 200, np.full(20, 0.6)))
    chunk = pairer.pop()
    assert chunk.start_sample == 50 and chunk.frames == 20
    assert chunk.capture_ns == 1_000_000 + 200 * 10**9 // RATE  # side 0 skipped ahead: its time wins
    np.testing.assert_array_equal(chunk.samples, np.tile(np.float32([0.6, 0.5]), (20, 1)))


def test_format_device_table_without_devices():
    assert format_device_table([]) == "no audio input devices found"
    table = format_device_table(
        [{"index": 3, "name": "USB mic", "hostapi": "ALSA", "input_channels": 2, "default_samplerate": 48000.0}]
    )
    assert "USB mic" in table and "48000" in table
