"""Live Link Face UDP sink: what Unreal's Live Link (Apple ARKit face) source receives from the iPhone app.

One packet per person per frame, both people on one port as two subjects.
Packet (version 6, big-endian; a string is int32 byte length + UTF-8, no terminator):

    u8  version = 6
    str DeviceId       stable 36-char UUID derived from the subject name
    str SubjectName    Unreal lists the subject under this name
    i32 frame number   the session frame index (frames since the first audio sample)
    f32 sub-frame      0
    i32 rate numerator = fps, i32 rate denominator = 1
    u8  count = 61
    f32 x 61           52 ARKit shapes (0..1), then head and eye angles (-1..1), Live Link order

The layout lives only in `encode_packet`; tests decode with their own reader.
"""

from __future__ import annotations

import struct
import uuid

import numpy as np

from dyad.adapters.sink_spec import SinkSpec, SinkTarget
from dyad.adapters.udp_target import UdpTarget
from dyad.models.arkit import NUM_LIVE_LINK
from dyad.runtime.frames import FrameBundle, Sink

PACKET_VERSION = 6
DEFAULT_PORT = 11111
DEFAULT_SUBJECTS = ("dyad_p0", "dyad_p1")
_TIMING = struct.Struct(">ifii")


def device_id(subject: str) -> str:
    """A stable UUID per subject, so Unreal keeps one entry per person across restarts."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"dyad:livelink:{subject}"))


def _string(value: str) -> bytes:
    data = value.encode("utf-8")
    return struct.pack(">i", len(data)) + data


def encode_packet(device: str, subject: str, frame: int, fps: int, values: np.ndarray) -> bytes:
    values = np.asarray(values, dtype=">f4").ravel()
    if values.size != NUM_LIVE_LINK:
        raise ValueError(f"Live Link Face needs {NUM_LIVE_LINK} values, got {values.size}")
    header = bytes([PACKET_VERSION]) + _string(device) + _string(subject)
    # the frame number field is a signed int32: wrap instead of failing after ~2 years at 30 fps
    frame = (frame + 2**31) % 2**32 - 2**31
    return header + _TIMING.pack(frame, 0.0, fps, 1) + bytes([NUM_LIVE_LINK]) + values.tobytes()


class LiveLinkFaceSender(Sink):
    """Sink: `send(bundle)` sends one packet per person to host:port."""

    def __init__(self, host: str, port: int = DEFAULT_PORT, subjects: tuple[str, ...] = DEFAULT_SUBJECTS) -> None:
        if len(set(subjects)) != len(subjects) or not all(subjects):
            raise ValueError(f"subject names must be distinct and non-empty, got {list(subjects)}")
        self.name = f"livelink:{port}"
        self.subjects = tuple(subjects)
        self._devices = tuple(device_id(s) for s in self.subjects)
        self._udp = UdpTarget(host, port)

    def send(self, bundle: FrameBundle) -> None:
        packets = []
        for pose in bundle.people:
            if pose.person >= len(self.subjects):
                raise ValueError(f"person {pose.person} has no Live Link subject name (have {len(self.subjects)})")
            subject = self.subjects[pose.person]
            packets.append(encode_packet(self._devices[pose.person], subject, bundle.index, bundle.fps, pose.face))
        self._udp.send_all(packets)

    def stats(self) -> dict:
        return {"subjects": list(self.subjects), **self._udp.stats()}

    def close(self) -> None:
        self._udp.close()


def _build(target: SinkTarget, skeleton, fps: int) -> LiveLinkFaceSender:
    return LiveLinkFaceSender(target.host, target.port, target.names_per_person("subjects", DEFAULT_SUBJECTS))


SINK = SinkSpec(
    scheme="livelink", usage="livelink://HOST:PORT[?subjects=A,B]", purpose="Unreal Engine Live Link (MetaHuman faces)",
    build=_build, options=("subjects",), default_port=DEFAULT_PORT, port_note=f"default {DEFAULT_PORT}",
)  # fmt: skip
