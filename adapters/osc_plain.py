"""Plain OSC sink for engines that bind addresses themselves (Unreal's OSC plugin, TouchDesigner, Max).

One UDP datagram per message; per frame first
  <prefix>/time         i frame, h audio_ns, h send_ns  capture time of the frame's audio and send time (int64 ns,
                                                       the session's monotonic clock: send - audio = D)
then per person N, in this order:
  <prefix>/p<N>/root    i frame, f x y z              root position, template units (cm), Y up
  <prefix>/p<N>/joints  i frame, f x y z w  x J       joint rotations as quaternions, local to the parent,
                                                       template joint order (row 0: the root's global rotation)
  <prefix>/p<N>/face    i frame, f x 61               52 ARKit shapes (0..1), then head and eye angles (-1..1)
and once a second (every `fps` frames, from frame 0):
  <prefix>/joint_names  s x J                          template joint order
  <prefix>/face_names   s x 61                         Live Link order
Space: the template's own, right-handed, Y up, the character faces +Z and its
left is +X (see docs/engines.md for Unity and Unreal conversions).
"""

from __future__ import annotations

import struct
from functools import lru_cache

import numpy as np
from pythonosc.parsing import osc_types

from dyad.adapters.sink_spec import SinkSpec, SinkTarget
from dyad.adapters.udp_target import UdpTarget
from dyad.models.arkit import LIVE_LINK_NAMES
from dyad.models.rotations import axis_angle_to_quaternion
from dyad.models.skeleton import Skeleton
from dyad.runtime.frames import FrameBundle, Sink

DEFAULT_PREFIX = "/dyad"


@lru_cache(maxsize=256)
def _string(value: str) -> bytes:
    return osc_types.write_string(value)  # UTF-8, NUL-terminated, padded to 4 bytes


def _frame_message(address: str, frame: int, values: np.ndarray) -> bytes:
    """OSC message `address ,iff...f`: the frame index, then the values as big-endian float32."""
    floats = np.ascontiguousarray(values, dtype=">f4").ravel()
    return _string(address) + _string(",i" + "f" * floats.size) + osc_types.write_int(frame) + floats.tobytes()


def _time_message(address: str, bundle: FrameBundle) -> bytes:
    """OSC message `address ,ihh`: the frame index, its audio's capture time and its send time (int64 ns)."""
    return _string(address) + _string(",ihh") + osc_types.write_int(bundle.index) + struct.pack(">qq", bundle.audio_ns, bundle.send_ns)


def _names_message(address: str, names: tuple[str, ...]) -> bytes:
    return _string(address) + _string("," + "s" * len(names)) + b"".join(_string(n) for n in names)


class PlainOscSender(Sink):
    def __init__(self, host: str, port: int, skeleton: Skeleton, prefix: str = DEFAULT_PREFIX) -> None:
        prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
        if any(c in prefix for c in " #*,?[]{}"):
            raise ValueError(f"OSC address prefix '{prefix}' holds a character OSC reserves")
        self.name = f"osc:{port}"
        self.prefix = prefix
        self._meta = [
            _names_message(f"{prefix}/joint_names", skeleton.joint_names),
            _names_message(f"{prefix}/face_names", LIVE_LINK_NAMES),
        ]
        self._udp = UdpTarget(host, port)

    def datagrams(self, bundle: FrameBundle) -> list[bytes]:
        out = list(self._meta) if bundle.index % bundle.fps == 0 else []
        out.append(_time_message(f"{self.prefix}/time", bundle))
        for pose in bundle.people:
            base = f"{self.prefix}/p{pose.person}"
            quaternions = axis_angle_to_quaternion(pose.joint_rotations.astype(np.float64))
            out.append(_frame_message(f"{base}/root", bundle.index, pose.root_position))
            out.append(_frame_message(f"{base}/joints", bundle.index, quaternions))
            out.append(_frame_message(f"{base}/face", bundle.index, pose.face))
        return out

    def send(self, bundle: FrameBundle) -> None:
        self._udp.send_all(self.datagrams(bundle))

    def stats(self) -> dict:
        return self._udp.stats()

    def close(self) -> None:
        self._udp.close()


def _build(target: SinkTarget, skeleton: Skeleton, fps: int) -> PlainOscSender:
    return PlainOscSender(target.host, target.port, skeleton, prefix=target.options.get("prefix", DEFAULT_PREFIX))


SINK = SinkSpec(
    scheme="osc", usage="osc://HOST:PORT[?prefix=/dyad]",
    purpose="engines that bind OSC addresses themselves: Unreal's OSC plugin, TouchDesigner, Max",
    build=_build, options=("prefix",),
)  # fmt: skip
