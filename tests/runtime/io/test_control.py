"""Control input over OSC and ZeroMQ steering a real-time session; malformed messages are counted, never fatal.

Messages are sent with python-osc's client and a plain ZeroMQ PUSH socket, not with dyad code.
"""

from __future__ import annotations

import json
import socket
import threading
import time

import bvh
import numpy as np
import pytest
import zmq
from pythonosc.udp_client import SimpleUDPClient

from dyad.runtime.config import SessionConfig, TimingConfig
from dyad.runtime.io.control import MalformedControl, UnknownControl, parse_json, parse_osc
from dyad.runtime.frames import ControlState
from dyad.runtime.session import Session
from dyad.runtime.audio.wav_source import WavReplaySource, open_wav_inputs
from engine_receivers import free_port
from session_fixtures import write_dialogue

FPS = 30


@pytest.mark.parametrize(
    ("address", "args", "problem"),
    [
        ("/dyad/dance", [], UnknownControl),
        ("/other/stop", [], UnknownControl),
        ("/dyad/action", [0], MalformedControl),
        ("/dyad/action", [2, "sit"], MalformedControl),
        ("/dyad/action", [0, "fly"], MalformedControl),
        ("/dyad/facing", [], MalformedControl),
        ("/dyad/transcript", [0, "hi", 2.0, 1.0], MalformedControl),
        ("/dyad/budget", ["fast"], MalformedControl),
        ("/dyad/budget", [float("nan")], MalformedControl),
    ],
)
def test_bad_osc_messages_are_classified(address, args, problem):
    with pytest.raises(problem):
        parse_osc(address, args)


def test_osc_and_json_forms_agree():
    pairs = [
        (("/dyad/action", [1, "Walk"]), {"type": "action", "person": 1, "action": "walk"}),
        (("/dyad/facing", [False]), {"type": "facing", "facing": False}),
        (("/dyad/transcript", [0, "so", 1.0, 1.5]), {"type": "transcript", "person": 0, "text": "so", "start": 1, "end": 1.5}),
        (("/dyad/record", [1.0]), {"type": "record", "on": True}),
        (("/dyad/budget", [200]), {"type": "budget", "ms": 200.0}),
        (("/dyad/stop", []), {"type": "stop"}),
    ]
    for (address, args), message in pairs:
        assert parse_osc(address, args) == parse_json(json.dumps(message).encode())
    assert parse_osc("/dyad/stop", [0]).flag is False  # a button release does nothing
    for bad in (b"\xff\xfe", b"[1, 2]", b'{"type": 3}', b'{"type": "budget"}'):
        with pytest.raises(MalformedControl):
            parse_json(bad)


def _wait(condition, what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


@pytest.mark.slow
@pytest.mark.realtime
def test_control_messages_steer_a_live_session(tmp_path):
    wav = write_dialogue(tmp_path / "d.wav", seconds=8.0)
    osc_port, zmq_port = free_port(), free_port(socket.SOCK_STREAM)
    config = SessionConfig(
        timing=TimingConfig(),
        seconds=8.0,
        out_dir=tmp_path / "out",
        control_urls=(f"osc://127.0.0.1:{osc_port}", f"zmq://tcp://127.0.0.1:{zmq_port}"),
        wait_start=True,
        record_at_start=False,
        status_interval_s=0,
    )
    source = WavReplaySource(open_wav_inputs([wav]), block_ms=10, seconds=8.0, realtime=True)
    session = Session(config, source, keep_frames=True)
    result: dict = {}
    runner = threading.Thread(target=lambda: result.setdefault("run", session.run()), daemon=True)
    runner.start()

    osc = SimpleUDPClient("127.0.0.1", osc_port)
    push = zmq.Context.instance().socket(zmq.PUSH)
    push.setsockopt(zmq.LINGER, 1000)
    push.connect(f"tcp://127.0.0.1:{zmq_port}")
    raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    hub = session.control

    try:
        # garbage first: 4 malformed, 2 unknown, 2 rejected; the session must not care
        raw.sendto(b"\x00garbage", ("127.0.0.1", osc_port))
        osc.send_message("/dyad/action", [5, "sit"])
        osc.send_message("/dyad/dance", [1])
        osc.send_message("/dyad/record", [0])  # rejected: not recording
        push.send(b"not json")
        push.send_json({"type": "teleport"})
        push.send_json({"type": "budget"})
        push.send_json({"type": "budget", "ms": 10})  # rejected: below the pipeline's floor
        _wait(lambda: hub.summary()["received"] == 8, "the bad messages to be counted")
        assert session.emitter.next_index == 0  # --wait-start: nothing runs before 'start'

        osc.send_message("/dyad/start", [])
        _wait(lambda: session.emitter.next_index >= 30, "one second of frames")
        osc.send_message("/dyad/record", [1])
        osc.send_message("/dyad/action", [0, "sit"])
        push.send_json({"type": "facing", "facing": False})
        osc.send_message("/dyad/transcript", [1, "hello there", 0.5, 1.2])
        push.send_json({"type": "transcript", "person": 0, "text": "hi", "start": 1.0, "end": 1.3})
        _wait(lambda: session.emitter.next_index >= 75, "2.5 s of frames")
        push.send_json({"type": "budget", "ms": 250})
        _wait(lambda: session.emitter.next_index >= 100, "100 frames")
        push.send_json({"type": "record", "on": False})
        _wait(lambda: not session.recording.active, "the first take to close")
        osc.send_message("/dyad/record", [True])
        _wait(lambda: session.emitter.next_index >= 130, "130 frames")
        push.send_json({"type": "stop"})
    except BaseException:
        session.stop()  # a failed step must not leave the session running
        raise
    runner.join(30)
    push.close(0)
    raw.close()
    assert not runner.is_alive()

    bundles = result["run"].bundles
    total = len(bundles)
    assert 130 <= total < 8 * FPS  # stopped early, cleanly
    assert [b.index for b in bundles] == list(range(total))  # the budget change skipped and repeated nothing
    budgets = [b.target_ns - b.audio_ns for b in bundles]
    switch = budgets.index(250_000_000)
    assert set(budgets[:switch]) == {TimingConfig().budget_ns} and set(budgets[switch:]) == {250_000_000} and switch >= 75

    assert session.scheduler.controls == ControlState(actions=("sit", "stand"), facing=False)
    heights = np.array([[b.people[p].root_position[1] for p in (0, 1)] for b in bundles])
    assert heights[-1, 0] < heights[0, 0] - 20  # person 0 sat down
    assert abs(heights[-1, 1] - heights[0, 1]) < 5  # person 1 still stands

    lines = sorted(hub.transcripts.drain(), key=lambda line: line.person)
    assert [(x.person, x.text, x.start_s, x.end_s) for x in lines] == [(0, "hi", 1.0, 1.3), (1, "hello there", 0.5, pytest.approx(1.2))]
    assert all(line.received_ns > 0 for line in lines)

    out = tmp_path / "out"
    summary = json.loads((out / "session.json").read_text())
    control = summary["control"]
    assert (control["malformed"], control["unknown"], control["rejected"]) == (4, 2, 2)
    assert control["applied"] == {"action": 1, "budget": 1, "facing": 1, "record": 3, "start": 1, "stop": 1, "transcript": 2}
    assert control["recording"]["takes"] == [str(out), str(out / "take002")]
    assert summary["counters"]["budget_changes"] == 1 and control["budget_ms_at_end"] == 250.0
    first = bvh.Bvh((out / "p0.bvh").read_text()).nframes
    second = bvh.Bvh((out / "take002" / "p0.bvh").read_text()).nframes
    assert first > 30 and second > 0 and first + second < total
    for folder, frames in ((out, first), (out / "take002", second)):
        assert len((folder / "p1_face.csv").read_text().splitlines()) == frames + 1
