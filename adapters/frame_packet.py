"""One frame as one message, for transports without ZeroMQ's multipart (WebRTC data channels, WebSockets).

A packet is the ZeroMQ sink's messages for one frame (dyad.adapters.zmq_pub), every part in
order, each prefixed by its length:

    u32 LE part count, then per part: u32 LE byte length, the bytes

Frame packet parts: pose.p0 (topic, header JSON, root f32[3], rotations f32[J,3]), face.p0
(topic, header JSON, face f32[61]), then the same for p1: 14 parts. The meta packet (sent once
when a client connects) is the two parts of the `meta` message. A reader splits the parts and
then reads them exactly as a ZeroMQ subscriber does: the first part of each message is its topic.
"""

from __future__ import annotations

import struct

from dyad.adapters.zmq_pub import frame_messages, meta_parts
from dyad.models.skeleton import Skeleton
from dyad.runtime.frames import FrameBundle

MAX_PARTS = 64


def pack(parts: list[bytes]) -> bytes:
    out = [struct.pack("<I", len(parts))]
    for part in parts:
        out.append(struct.pack("<I", len(part)))
        out.append(part)
    return b"".join(out)


def unpack(packet: bytes) -> list[bytes]:
    """The parts of a packet; ValueError naming what is wrong with a malformed one."""
    if len(packet) < 4:
        raise ValueError(f"frame packet of {len(packet)} bytes has no part count")
    (count,) = struct.unpack_from("<I", packet, 0)
    if count > MAX_PARTS:
        raise ValueError(f"frame packet claims {count} parts (at most {MAX_PARTS})")
    parts, offset = [], 4
    for _ in range(count):
        if offset + 4 > len(packet):
            raise ValueError("frame packet ends inside a part length")
        (size,) = struct.unpack_from("<I", packet, offset)
        offset += 4
        if offset + size > len(packet):
            raise ValueError("frame packet ends inside a part")
        parts.append(packet[offset : offset + size])
        offset += size
    if offset != len(packet):
        raise ValueError(f"frame packet has {len(packet) - offset} bytes after its last part")
    return parts


def frame_packet(bundle: FrameBundle) -> bytes:
    return pack([part for message in frame_messages(bundle) for part in message])


def meta_packet(skeleton: Skeleton) -> bytes:
    return pack(meta_parts(skeleton))
