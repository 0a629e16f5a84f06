"""A re-plugged headset that comes back under a new device index is found again by its name.

Real PortAudio over an ALSA `file`-plugin device in a temporary HOME (as in
test_fault_audio_device.py). Mid-capture the stream is aborted (the unplug) and the
ALSA configuration gains another device listed before ours, so when PortAudio looks
again our device has moved from index 1 to index 2: the source must reopen the
device of the same name at its new index and deliver audio again.
"""

from __future__ import annotations



from test_fault_audio_device import run_on_alsa_file_device

SCRIPT = r"""
import json, os, sys, time
from dyad.runtime.audio.mic_source import MicrophoneSource

rc = os.path.join(os.environ["HOME"], ".asoundrc")
src = MicrophoneSource("dyadrc", sample_rate=16000, latency=0.1, max_queue_ms=200)
src.start()
before_index = src.devices[0].index
counts = {"before": 0, "after": 0}

def pump(seconds, key):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if src.read(0.05) is not None:
            counts[key] += 1

pump(0.4, "before")
text = open(rc).read()  # another device appears ahead of ours: its index moves up by one
open(rc, "w").write('pcm.aaa_replugged {\n  type plug\n  slave { pcm "dyadfile_rc" }\n}\n' + text)
src._streams[0].abort()  # the unplug
pump(2.0, "after")
src.close()
print(json.dumps({"before_index": before_index, "after_index": src.devices[0].index, "stats": src.stats(), "counts": counts}))
"""


def test_replugged_device_is_found_again_by_name_at_its_new_index(tmp_path):
    result, stderr = run_on_alsa_file_device(tmp_path, SCRIPT)
    assert result["after_index"] == result["before_index"] + 1
    assert result["stats"]["stream_failures"] == 1 and result["stats"]["reconnects"] == 1
    assert result["counts"]["before"] > 10 and result["counts"]["after"] > 50  # audio flows again after the re-plug
    assert "came back as device" in stderr
