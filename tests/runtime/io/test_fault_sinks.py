"""Receivers that are slow, vanish mid-session, or (ZeroMQ) subscribe and never read.

One real-time session streams to all of them at once; the recorders and the
emitter must not notice: every frame recorded, no deadline miss, each fault
counted on its own sink.
"""

from __future__ import annotations

import pytest

import json
import socket
import threading
import time

import zmq

from dyad.adapters.zmq_pub import ZmqPublisher
from dyad.models.skeleton import load_default_skeleton
from dyad.runtime.config import SessionConfig
from dyad.runtime.frames import FrameBundle, Sink
from dyad.runtime.animate.procedural import ProceduralAnimator
from dyad.runtime.session import Session
from dyad.runtime.audio.wav_source import WavReplaySource, open_wav_inputs
from engine_receivers import free_port
from session_fixtures import write_dialogue

SKELETON = load_default_skeleton()


def never_reading_subscriber(context: zmq.Context, endpoint: str) -> zmq.Socket:
    """A SUB socket that subscribes to everything, with the smallest buffers, and is never read."""
    sub = context.socket(zmq.SUB)
    sub.setsockopt(zmq.RCVHWM, 1)
    sub.setsockopt(zmq.RCVBUF, 4096)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(endpoint)
    return sub


def test_zmq_publisher_never_blocks_on_a_subscriber_that_never_reads():
    context = zmq.Context()
    port = free_port(socket.SOCK_STREAM)
    publisher = ZmqPublisher(f"tcp://127.0.0.1:{port}", SKELETON, context=context)
    sub = never_reading_subscriber(context, f"tcp://127.0.0.1:{port}")
    time.sleep(0.3)  # the subscription reaches the publisher
    people = ProceduralAnimator(SKELETON).neutral(0)
    try:
        start = time.monotonic()
        for index in range(3000):  # ~10 MB of messages into a subscriber that takes none
            publisher.send(FrameBundle(index, 0, 0, 0, 30, people, False))
        elapsed = time.monotonic() - start
        assert publisher.messages_sent == 3000 * 4
        assert elapsed < 30  # very loose: a blocking PUB would hang here forever
        received = 0
        while sub.poll(200):
            sub.recv_multipart()
            received += 1
        assert 0 < received < 3000 * 4 + 3000 // 30  # it got some; the rest were dropped at the high-water mark
    finally:
        sub.close(0)
        publisher.close()
        context.term()


class SlowSink(Sink):
    """A receiver that takes 200 ms per frame: its queue fills and it loses frames, alone."""

    name = "slow"

    def __init__(self) -> None:
        self.frames = 0

    def send(self, bundle: FrameBundle) -> None:
        time.sleep(0.2)
        self.frames += 1

    def close(self) -> None:
        pass


def bvh_client_that_leaves(port: int, lines: list[str]) -> threading.Thread:
    def run() -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            data = b""
            while data.count(b"\n") < 10:
                data += client.recv(65536)
            lines.extend(data.decode().splitlines()[:10])
        # the client is gone now; the server notices at its next send

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.realtime
def test_slow_vanishing_and_silent_receivers_cost_only_their_own_frames(tmp_path):
    wav = write_dialogue(tmp_path / "d.wav", seconds=3.0)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))  # an OSC receiver that exists, then vanishes mid-session
    osc_port, bvh_port, zmq_port = udp.getsockname()[1], free_port(socket.SOCK_STREAM), free_port(socket.SOCK_STREAM)
    sinks = (f"osc://127.0.0.1:{osc_port}", f"bvhstream://127.0.0.1:{bvh_port}", f"zmq://tcp://127.0.0.1:{zmq_port}")
    config = SessionConfig(seconds=3.0, status_interval_s=0.0, out_dir=tmp_path / "out", sinks=sinks)
    slow = SlowSink()
    session = Session(config, WavReplaySource(open_wav_inputs([wav]), seconds=3.0, realtime=True), extra_sinks=[slow])
    context = zmq.Context()
    sub = never_reading_subscriber(context, f"tcp://127.0.0.1:{zmq_port}")
    lines: list[str] = []
    client = bvh_client_that_leaves(bvh_port, lines)
    threading.Timer(1.0, udp.close).start()
    try:
        result = session.run()
    finally:
        sub.close(0)
        context.term()
    client.join(5)
    summary = json.loads((tmp_path / "out" / "session.json").read_text())
    stats = summary["sinks"]
    assert result.frames == 90 and summary["deadline_misses"] == 0
    assert summary["latency_ms"]["max"] < config.timing.budget_ms + 50  # the emitter never waited on a sink
    assert stats["bvh"]["sent"] == 90 and stats["livelink_csv"]["sent"] == 90 and stats["frames_csv"]["sent"] == 90
    assert stats["slow"]["dropped"] > 0 and stats["slow"]["sent"] + stats["slow"]["dropped"] == 90
    assert stats[f"osc:{osc_port}"]["send_errors"] > 0 and stats[f"osc:{osc_port}"]["datagrams_sent"] > 0
    bvh_stream = stats[f"bvhstream:{bvh_port}"]
    assert len(lines) == 10 and lines[0].startswith("0 dyad_p0 ")
    assert bvh_stream["clients_seen"] == 1 and bvh_stream["clients"] == 0  # it left; the server let it go
    assert stats["zmq"]["errors"] == 0 and stats["zmq"]["sent"] == 90
