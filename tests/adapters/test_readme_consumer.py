"""The docs' ZeroMQ consumer example (docs/engines.md), run as written (only the port changed) against the real publisher."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from dyad.adapters.zmq_pub import ZmqPublisher
from dyad.models.skeleton import load_default_skeleton
from dyad.runtime.frames import FrameBundle, PersonPose
from engine_receivers import free_port

README = Path(__file__).parents[2] / "docs" / "engines.md"


def _consumer_code() -> str:
    text = README.read_text()
    match = re.search(r"A consumer:\s*```python\n(.*?)```", text, re.S)
    assert match, "docs/engines.md lost its ZeroMQ consumer example"
    code = "\n".join(line[2:] if line.startswith("  ") else line for line in match.group(1).splitlines())
    assert len([line for line in code.splitlines() if line.strip()]) <= 22  # about 20 lines, as promised
    return code


def _bundle(index: int, skeleton) -> FrameBundle:
    face = np.zeros(61)
    face[17] = 0.5  # JawOpen
    people = tuple(PersonPose(p, np.array([0.0, 95.0, 0.0]), np.zeros((skeleton.num_joints, 3)), face) for p in (0, 1))
    return FrameBundle(index=index, audio_ns=index, target_ns=index, send_ns=index, fps=30, people=people)


def test_readme_consumer_prints_faces_and_poses():
    port = free_port(socket.SOCK_STREAM)
    code = _consumer_code().replace("tcp://127.0.0.1:5556", f"tcp://127.0.0.1:{port}")
    skeleton = load_default_skeleton()
    publisher = ZmqPublisher(f"tcp://127.0.0.1:{port}", skeleton)
    consumer = subprocess.Popen([sys.executable, "-u", "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(consumer.stdout), daemon=True)
    reader.start()

    def seen() -> bool:
        return any(line.rstrip().endswith("JawOpen 0.5") for line in lines) and any("joints (" in line for line in lines)

    try:
        deadline = time.monotonic() + 60  # the consumer's start-up (imports, subscription) takes a moment
        index = 0
        while not seen() and time.monotonic() < deadline and consumer.poll() is None:
            publisher.send(_bundle(index, skeleton))
            index += 1
            time.sleep(1 / 30)
    finally:
        publisher.close()
        consumer.kill()
    reader.join(10)
    err = consumer.stderr.read()
    assert "Traceback" not in err, err
    assert seen(), "".join(lines)
    assert any(f"joints ({skeleton.num_joints}, 3)" in line for line in lines)
