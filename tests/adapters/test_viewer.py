"""The live viewer in a real browser, against a running real-time session, and the offline renderer."""

from __future__ import annotations

import io
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from browser import HeadlessChromium, needs_browser, wait_for_http
from engine_receivers import free_port
from dyad.adapters.view_server import THREE_BUILD, ViewServer
from dyad.models.skeleton import load_default_skeleton
from dyad.runtime.assets import demo_audio_path
from dyad.runtime.config import SessionConfig, TimingConfig
from dyad.runtime.offline.render import load_recording, render
from dyad.runtime.session import Session
from dyad.runtime.audio.wav_source import WavReplaySource, open_wav_inputs

def _scene_pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


@pytest.mark.slow
@pytest.mark.realtime
@needs_browser
def test_browser_shows_both_avatars_moving_and_the_latency_readout(tmp_path):
    """Headless Chromium against `dyad demo --sink view://...` running in its own process."""
    assert (THREE_BUILD / "three.module.js").exists(), "three.js missing: npm ci --prefix adapters/viewer"
    port = free_port(socket.SOCK_STREAM)
    demo = subprocess.Popen(
        [sys.executable, "-m", "dyad.runtime.cli", "demo", "--sink", f"view://127.0.0.1:{port}", "--seconds", "12", "--quiet", "--out", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    url = f"http://127.0.0.1:{port}/"
    browser = None
    try:
        wait_for_http(url, timeout_s=60)
        browser = HeadlessChromium(url)
        browser.wait_for("document.getElementById('status').textContent === 'live'")
        box = browser.evaluate("(() => { const r = document.getElementById('scene').getBoundingClientRect(); return {x: r.x, y: r.y, width: r.width, height: r.height}; })()")
        first = _scene_pixels(browser.screenshot(box))
        frame_a = browser.evaluate("document.getElementById('frame').textContent")
        time.sleep(1.0)
        second = _scene_pixels(browser.screenshot(box))
        frame_b = browser.evaluate("document.getElementById('frame').textContent")
        latency = browser.evaluate("document.getElementById('latency').textContent")
        bars = browser.evaluate("document.querySelectorAll('#person0 .bar').length")
        # when the session ends the page says so
        demo.wait(60)
        stopped = browser.wait_for("document.getElementById('status').textContent === 'stream stopped'")
    finally:
        if browser is not None:
            browser.close()
        if demo.poll() is None:
            demo.terminate()
            demo.wait(30)
    assert demo.returncode == 0, demo.stderr.read()
    assert frame_a != frame_b
    changed = np.abs(first - second).sum(axis=2) > 30
    # the skeletons are thin lines: a few hundred pixels moving is a visibly moving pair
    assert changed.sum() > 150, f"only {changed.sum()} scene pixels changed in one second"
    assert first.reshape(-1, 3).std(axis=0).max() > 5  # the scene is not blank
    assert latency.startswith("latency p95 ") and " ms" in latency and "misses" in latency
    value = float(latency.split("p95 ")[1].split(" ms")[0])
    assert TimingConfig().budget_ms <= value < 400  # frames leave D after their audio, never earlier
    assert bars == 52
    assert stopped


def test_page_reports_missing_three_js_clearly(monkeypatch, tmp_path):
    import urllib.error
    import urllib.request

    import dyad.adapters.view_server as view_server

    monkeypatch.setattr(view_server, "THREE_BUILD", tmp_path)
    view = ViewServer("127.0.0.1", free_port(socket.SOCK_STREAM), load_default_skeleton(), fps=30)
    try:
        with urllib.request.urlopen(view.url, timeout=5) as response:
            assert b"/viewer.js" in response.read()
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(view.url + "vendor/three.module.js", timeout=5)
        assert error.value.code == 404 and b"npm ci" in error.value.read()
    finally:
        view.close()


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("recording")
    seconds = 2.0
    config = SessionConfig(offline=True, seconds=seconds, out_dir=out)
    source = WavReplaySource(open_wav_inputs([demo_audio_path()]), seconds=seconds, realtime=False)
    Session(config, source).run()
    return out


@pytest.mark.slow
def test_render_gif_has_the_expected_frame_count(recording, tmp_path):
    clip = tmp_path / "clip.gif"
    assert render(recording, clip, fps=10) == 20
    with Image.open(clip) as image:
        assert image.n_frames == 20
        frames = []
        for k in (0, 19):
            image.seek(k)
            frames.append(np.asarray(image.convert("RGB"), dtype=np.int16))
    assert np.abs(frames[0] - frames[1]).sum() > 0  # the clip moves


@pytest.mark.slow
def test_render_mp4_through_the_cli(recording, tmp_path):
    import imageio_ffmpeg

    clip = tmp_path / "clip.mp4"
    result = subprocess.run(
        [sys.executable, "-m", "dyad.runtime.cli", "render", str(recording), "--out", str(clip)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    frames, _ = imageio_ffmpeg.count_frames_and_secs(str(clip))
    assert frames == load_recording(recording).frames == 60


def test_render_bad_input_is_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "dyad.runtime.cli", "render", str(tmp_path / "nothing"), "--out", str(tmp_path / "x.mp4")],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("dyad: error:") and "nothing" in result.stderr
