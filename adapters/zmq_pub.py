"""ZeroMQ PUB sink: one multipart message per person per frame, topic first.

Topics (subscribers filter by prefix):
  pose.p<N>  [topic, header JSON, root_position f32[3], joint_rotations f32[J,3]]
  face.p<N>  [topic, header JSON, face f32[61]]
  meta       [topic, JSON with joint names, parents, rest offsets and the 61 face names], once per second of frames
Arrays are raw little-endian float32. The header is JSON:
  {"v": 1, "seq": frame index, "person": N, "capture_ns": audio time, "target_ns", "send_ns",
   "fps", "fallback": bool, "speaking": 0..1, "dtype": "<f4", "shapes": [[3], [J, 3]] or [[61]]}
PUB never blocks: at the high-water mark ZeroMQ drops (small SNDHWM, LINGER 0).
"""

from __future__ import annotations

import json

import numpy as np
import zmq

from dyad.adapters.sink_spec import SinkSpec, SinkTarget
from dyad.models.arkit import LIVE_LINK_NAMES
from dyad.models.skeleton import Skeleton
from dyad.runtime.frames import FrameBundle, Sink

PROTOCOL_VERSION = 1


def _f32le(values: np.ndarray) -> bytes:
    return np.ascontiguousarray(values, dtype="<f4").tobytes()


def meta_parts(skeleton: Skeleton) -> list[bytes]:
    """The `meta` message: what the arrays mean (joint names, parents, rest offsets, face names)."""
    meta = {
        "v": PROTOCOL_VERSION,
        "joint_names": list(skeleton.joint_names),
        "parents": list(skeleton.parents),
        "offsets": np.round(np.asarray(skeleton.offsets, np.float64), 4).tolist(),
        "face_names": list(LIVE_LINK_NAMES),
        "rotation": "axis-angle (exp map) radians, local to parent, template joint order",
        "units": "template units (cm), Y up",
    }
    return [b"meta", json.dumps(meta).encode()]


def _header(bundle: FrameBundle, person: int, speaking: float, shapes: list[list[int]]) -> bytes:
    header = {
        "v": PROTOCOL_VERSION,
        "seq": bundle.index,
        "person": person,
        "capture_ns": bundle.audio_ns,
        "target_ns": bundle.target_ns,
        "send_ns": bundle.send_ns,
        "fps": bundle.fps,
        "fallback": bundle.fallback,
        "speaking": round(float(speaking), 4),
        "dtype": "<f4",
        "shapes": shapes,
    }
    return json.dumps(header, separators=(",", ":")).encode()


def frame_messages(bundle: FrameBundle) -> list[list[bytes]]:
    """The multipart messages of one frame, in sending order: pose.p0, face.p0, pose.p1, face.p1."""
    messages = []
    for pose in bundle.people:
        p = pose.person
        rotations = pose.joint_rotations
        messages.append([
            f"pose.p{p}".encode(),
            _header(bundle, p, pose.speaking, [[3], list(rotations.shape)]),
            _f32le(pose.root_position),
            _f32le(rotations),
        ])  # fmt: skip
        messages.append([f"face.p{p}".encode(), _header(bundle, p, pose.speaking, [[len(pose.face)]]), _f32le(pose.face)])
    return messages


class ZmqPublisher(Sink):
    name = "zmq"

    def __init__(self, endpoint: str, skeleton: Skeleton, send_hwm: int = 16, context: zmq.Context | None = None) -> None:
        self.endpoint = endpoint
        self._skeleton = skeleton
        self._context = context or zmq.Context.instance()
        self._socket = self._context.socket(zmq.PUB)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.setsockopt(zmq.SNDHWM, send_hwm)
        try:
            self._socket.bind(endpoint)
        except zmq.ZMQError as error:
            self._socket.close(0)
            raise OSError(f"cannot bind ZeroMQ PUB to '{endpoint}': {error}") from error
        # Port 0 or * asks the OS for a free port: the one it chose must be told, or nobody can connect.
        wildcard_port = endpoint.rsplit(":", 1)[-1] in ("0", "*")
        self.bound_endpoint = self._socket.getsockopt_string(zmq.LAST_ENDPOINT) if wildcard_port else None
        self.messages_sent = 0

    def send(self, bundle: FrameBundle) -> None:
        if bundle.index % bundle.fps == 0:
            self._socket.send_multipart(meta_parts(self._skeleton), flags=zmq.NOBLOCK)
        for parts in frame_messages(bundle):
            self._socket.send_multipart(parts, flags=zmq.NOBLOCK)
            self.messages_sent += 1

    def close(self) -> None:
        self._socket.close(0)


def _build(target: SinkTarget, skeleton: Skeleton, fps: int) -> ZmqPublisher:
    return ZmqPublisher(target.endpoint, skeleton)


SINK = SinkSpec(
    scheme="zmq", usage="zmq://tcp://HOST:PORT", purpose="your own tools (ZeroMQ SUB), see Outputs",
    build=_build, listens=True, zmq_endpoint=True, port_note="any; `*` binds all interfaces",
)  # fmt: skip
