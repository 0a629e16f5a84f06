"""`dyad talk` in a real browser: headless Chromium with a fake microphone fed from a speech WAV sends its
voice over WebRTC (WHIP), and the frames that come back on the data channel drive the viewer."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from browser import HeadlessChromium, needs_browser, wait_for_http
from engine_receivers import free_port
from speech_fixtures import synthesize

@needs_browser
@pytest.mark.slow
@pytest.mark.realtime
def test_talk_page_sends_the_microphone_and_the_right_persons_mouth_moves(tmp_path):
    speech = synthesize("We should meet at the station before the train leaves, then walk to the harbour together", "en-us+m3", 48000)
    wav = tmp_path / "mic.wav"
    sf.write(wav, np.concatenate([speech, np.zeros(4800, np.float32)]), 48000, subtype="PCM_16")
    port = free_port(socket.SOCK_STREAM)
    dyad = subprocess.Popen(
        [sys.executable, "-m", "dyad.runtime.cli", "talk", "--port", str(port), "--seconds", "8", "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )  # fmt: skip
    browser = None
    try:
        wait_for_http(f"http://127.0.0.1:{port}/", timeout_s=90)
        flags = ("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", f"--use-file-for-fake-audio-capture={wav}",
                 "--autoplay-policy=no-user-gesture-required")  # fmt: skip
        browser = HeadlessChromium(f"http://127.0.0.1:{port}/?person=1&auto=1", extra_flags=flags)
        browser.wait_for("window.dyadTalk && window.dyadTalk.frames > 90", timeout_s=40)
        assert browser.evaluate("window.dyadTalk.error") is None
        assert browser.evaluate("document.getElementById('status').textContent") == "live"  # the viewer draws them
        jaw = browser.evaluate("window.dyadTalk.jawOpen")
        speaker, silent = np.percentile(jaw[1], 90), np.percentile(jaw[0], 90)
        assert speaker > silent + 0.1, (speaker, silent)  # ?person=1: person B's mouth opens, A's stays at rest
        assert np.std(jaw[1]) > 3 * np.std(jaw[0]) + 0.02
        out, err = dyad.communicate(timeout=60)
        assert dyad.returncode == 0, err
        assert "talk page at" in out
    finally:
        if browser is not None:
            browser.close()
        if dyad.poll() is None:
            dyad.terminate()
            dyad.wait(10)



@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["run", "--whip", "0.0.0.0:8799"], "--allow-remote"),
        (["run", "--whip", "127.0.0.1:http"], "is not a number"),
        (["run", "--whip", "127.0.0.1:8799", "--offline"], "--offline needs --wav"),
        (["run", "--whip", "127.0.0.1:8799", "--playout-ms", "0"], "--playout-ms"),
        (["talk", "--port", "{busy}"], "cannot serve network audio"),
    ],
)
def test_bad_network_voice_options_end_with_one_error_line(argv, says, capsys):
    from dyad.runtime.cli.main import main

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        argv = [a.replace("{busy}", str(busy.getsockname()[1])) for a in argv]
        assert main([*argv, "--quiet", "--model", "procedural"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dyad: error: ") and says in err[0], err
