"""Live BVH over TCP in the Axis Neuron text style: a server any number of clients connect to.

Per frame, one line per person (avatar):
    <avatarIndex> <avatarName> v1 v2 ... vN ||\n
v1..vN are the BVH channel values of the bundled template (`models/assets/humanoid.bvh`),
in file order, degrees and template units: exactly the numbers a BVH recording holds.
With `send_hierarchy`, each client first gets the template's HIERARCHY section, so a
generic client can write a BVH file from the stream alone.

Never blocking: each client has its own sender thread and a bounded queue of
`buffer_frames` frames. When a client's queue is full (it reads too slowly or
not at all) the NEWEST frame is dropped for that client and counted; a frame
is queued whole, so a client never sees half a frame. Other clients and the
session never wait for it.
"""

from __future__ import annotations

import logging
import queue
import socket
import threading

import numpy as np

from dyad.adapters.sink_spec import SinkSpec, SinkTarget
from dyad.models.pose import pose_to_bvh_channels
from dyad.models.skeleton import Skeleton, format_bvh_hierarchy
from dyad.runtime.frames import FrameBundle, Sink

log = logging.getLogger("dyad.bvh_stream")

DEFAULT_PORT = 7001
DEFAULT_NAMES = ("dyad_p0", "dyad_p1")
SEND_BUFFER_BYTES = 64 * 1024  # small kernel buffer: a stalled client fills its own queue quickly, not RAM


class _Client:
    _STOP = b""

    def __init__(self, sock: socket.socket, address: str, capacity: int, greeting: bytes) -> None:
        self.sock = sock
        self.address = address
        self.queue: queue.Queue[bytes] = queue.Queue(maxsize=capacity)
        self.sent = 0
        self.dropped = 0
        self.alive = True
        self._greeting = greeting
        self.thread = threading.Thread(target=self._run, name=f"bvhstream-{address}", daemon=True)
        self.thread.start()

    def offer(self, data: bytes) -> None:
        try:
            self.queue.put_nowait(data)
        except queue.Full:
            self.dropped += 1

    def _run(self) -> None:
        try:
            if self._greeting:
                self.sock.sendall(self._greeting)
            while True:
                data = self.queue.get()
                if data is self._STOP:
                    return
                self.sock.sendall(data)
                self.sent += 1
        except OSError as error:
            log.info("bvh stream client %s left: %s", self.address, error)
        finally:
            self.alive = False
            self.sock.close()

    def stop(self, timeout_s: float) -> None:
        try:
            self.queue.put_nowait(self._STOP)
        except queue.Full:
            pass
        self.thread.join(timeout_s)
        if self.thread.is_alive():  # stuck in sendall to a client that does not read: unblock it
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.thread.join(timeout_s)


class BvhStreamServer(Sink):
    """Sink: serves the live BVH lines of every frame to all connected clients."""

    def __init__(
        self,
        host: str,
        port: int,
        skeleton: Skeleton,
        fps: int = 30,
        names: tuple[str, ...] = DEFAULT_NAMES,
        send_hierarchy: bool = False,
        buffer_frames: int | None = None,
        decimals: int = 6,
    ) -> None:
        if any(not n or any(c.isspace() for c in n) for n in names):
            raise ValueError(f"avatar names must be non-empty and without spaces, got {list(names)}")
        self.name = f"bvhstream:{port}"
        self.skeleton = skeleton
        self.names = tuple(names)
        self.capacity = max(1, buffer_frames if buffer_frames is not None else fps)
        self._greeting = format_bvh_hierarchy(skeleton).encode() if send_hierarchy else b""
        self._row = " ".join([f"%.{decimals}f"] * skeleton.channel_count)
        self._clients: list[_Client] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self.frames = 0
        self.clients_seen = 0
        self._retired = {"sent": 0, "dropped": 0}
        self._listener = socket.create_server((host, port), reuse_port=False)
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._accepter = threading.Thread(target=self._accept_loop, name="bvhstream-accept", daemon=True)
        self._accepter.start()

    def _accept_loop(self) -> None:
        while not self._closing.is_set():
            try:
                sock, address = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            client = _Client(sock, f"{address[0]}:{address[1]}", self.capacity, self._greeting)
            with self._lock:
                self._clients.append(client)
                self.clients_seen += 1

    def frame_text(self, bundle: FrameBundle) -> str:
        roots = np.stack([p.root_position for p in bundle.people])
        rotations = np.stack([p.joint_rotations for p in bundle.people])
        channels = pose_to_bvh_channels(self.skeleton, roots, rotations)
        lines = []
        for pose, row in zip(bundle.people, channels.tolist()):
            if pose.person >= len(self.names):
                raise ValueError(f"person {pose.person} has no avatar name (have {len(self.names)})")
            lines.append(f"{pose.person} {self.names[pose.person]} {self._row % tuple(row)} ||\n")
        return "".join(lines)

    def send(self, bundle: FrameBundle) -> None:
        self.frames += 1
        with self._lock:
            for client in [c for c in self._clients if not c.alive]:
                self._retire(client)
            self._clients = [c for c in self._clients if c.alive]
            clients = list(self._clients)
        if not clients:
            return  # nobody listening: skip the formatting
        data = self.frame_text(bundle).encode("ascii")
        for client in clients:
            client.offer(data)

    def _retire(self, client: _Client) -> None:
        self._retired["sent"] += client.sent
        self._retired["dropped"] += client.dropped

    def stats(self) -> dict:
        with self._lock:
            clients = list(self._clients)
            retired = dict(self._retired)
        return {
            "port": self.port,
            "clients": len(clients),
            "clients_seen": self.clients_seen,
            "frames_sent_to_clients": retired["sent"] + sum(c.sent for c in clients),
            "frames_dropped_for_slow_clients": retired["dropped"] + sum(c.dropped for c in clients),
        }

    def close(self) -> None:
        self._closing.set()
        self._listener.close()
        self._accepter.join(2.0)
        with self._lock:
            clients = list(self._clients)
        for client in clients:
            client.stop(timeout_s=2.0)


def _build(target: SinkTarget, skeleton: Skeleton, fps: int) -> BvhStreamServer:
    hierarchy = target.options.get("hierarchy", "0")
    if hierarchy not in ("0", "1"):
        raise ValueError(f"option 'hierarchy' must be 0 or 1, got '{hierarchy}'")
    return BvhStreamServer(
        target.host,
        target.port,
        skeleton,
        fps=fps,
        names=target.names_per_person("names", DEFAULT_NAMES),
        send_hierarchy=hierarchy == "1",
        buffer_frames=target.option_int("buffer_frames", fps),
    )


SINK = SinkSpec(
    scheme="bvhstream", usage="bvhstream://HOST:PORT[?names=A,B&hierarchy=1]", purpose="Axis Neuron style live BVH clients",
    build=_build, options=("names", "hierarchy", "buffer_frames"), default_port=DEFAULT_PORT, listens=True,
    port_note=f"default {DEFAULT_PORT}",
)  # fmt: skip
