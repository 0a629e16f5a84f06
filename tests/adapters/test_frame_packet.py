"""Frame packets hold exactly what a ZeroMQ subscriber receives for the same frame, part for part."""

from __future__ import annotations

import time

import numpy as np
import pytest
import zmq

from dyad.adapters.frame_packet import frame_packet, meta_packet, pack, unpack
from dyad.adapters.zmq_pub import ZmqPublisher
from dyad.models.skeleton import load_default_skeleton
from dyad.runtime.frames import FrameBundle, PersonPose


def bundle(index: int, joints: int) -> FrameBundle:
    rng = np.random.default_rng(index)
    people = tuple(PersonPose(p, rng.normal(size=3), rng.normal(size=(joints, 3)), rng.uniform(size=61), speaking=0.5 * p) for p in (0, 1))
    return FrameBundle(index, 1_000 + index, 2_000 + index, 2_001 + index, 30, people, fallback=index % 2 == 1)


def test_a_frame_packet_is_the_zeromq_messages_of_that_frame():
    skeleton = load_default_skeleton()
    context = zmq.Context()
    publisher = ZmqPublisher("tcp://127.0.0.1:*", skeleton, context=context)
    sub = context.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.setsockopt(zmq.RCVTIMEO, 2000)
    sub.connect(publisher.bound_endpoint)
    try:
        frame = bundle(1, len(skeleton.joint_names))
        deadline = time.monotonic() + 5
        received: list[list[bytes]] = []
        while time.monotonic() < deadline and not received:  # a SUB joins a moment after connecting
            publisher.send(frame)
            try:
                while True:
                    received.append(sub.recv_multipart(zmq.NOBLOCK))
            except zmq.Again:
                time.sleep(0.05)
        first = [m for m in received if m[0] != b"meta"][:4]
        assert [m[0] for m in first] == [b"pose.p0", b"face.p0", b"pose.p1", b"face.p1"]
        assert unpack(frame_packet(frame)) == [part for message in first for part in message]
        meta = unpack(meta_packet(skeleton))
        assert meta[0] == b"meta" and b'"offsets"' in meta[1]
    finally:
        sub.close(0)
        publisher.close()
        context.term()


@pytest.mark.parametrize("broken", [b"", b"\x02\x00\x00\x00\x05\x00\x00\x00ab", pack([b"a"]) + b"x", b"\xff\xff\xff\xff"])
def test_a_malformed_packet_is_refused_with_a_reason(broken):
    with pytest.raises(ValueError, match="frame packet"):
        unpack(broken)
