"""Senders of network voices, for tests, benchmarks and `dyad bench netaudio`: a WHIP client (aiortc)
and a WebSocket PCM client, each returning the frames that came back. examples/ has the same in
stand-alone form for reading."""

from __future__ import annotations

import asyncio
import fractions
import json
import struct
import time
from dataclasses import dataclass, field

import numpy as np

NS = 1_000_000_000
WS_HEADER = struct.Struct("<BBHIq")


@dataclass(frozen=True)
class ReturnedFrame:
    """One frame packet as a client received it: the headers and faces of both people."""

    index: int
    capture_ns: int
    send_ns: int
    received_ns: int
    fallback: bool
    faces: tuple[np.ndarray, ...]
    headers: tuple[dict, ...]


@dataclass
class ClientResult:
    meta: dict | None = None
    frames: list[ReturnedFrame] = field(default_factory=list)
    status: int | None = None  # WHIP: the HTTP status of the offer
    error: str | None = None
    t0_ns: int | None = None  # capture time of the first sample sent, on this machine's monotonic clock


def read_packet(packet: bytes, received_ns: int) -> tuple[str, object]:
    """('meta', dict) or ('frame', ReturnedFrame) from one frame packet (dyad.adapters.frame_packet layout)."""
    (count,) = struct.unpack_from("<I", packet, 0)
    parts, offset = [], 4
    for _ in range(count):
        (size,) = struct.unpack_from("<I", packet, offset)
        parts.append(packet[offset + 4 : offset + 4 + size])
        offset += 4 + size
    if parts[0] == b"meta":
        return "meta", json.loads(parts[1])
    headers, faces, i = [], {}, 0
    while i < len(parts):
        header = json.loads(parts[i + 1])
        if parts[i].startswith(b"pose."):
            headers.append(header)
            i += 4
        else:
            faces[header["person"]] = np.frombuffer(parts[i + 2], "<f4")
            i += 3
    first = headers[0]
    frame = ReturnedFrame(first["seq"], first["capture_ns"], first["send_ns"], received_ns, first["fallback"],
                          tuple(faces[p] for p in sorted(faces)), tuple(headers))  # fmt: skip
    return "frame", frame


def _collect(result: ClientResult, packet: bytes) -> None:
    kind, value = read_packet(packet, time.monotonic_ns())
    if kind == "meta":
        result.meta = value
    else:
        result.frames.append(value)


# --- WebSocket ---------------------------------------------------------------------------------
def ws_message(person: int, rate: int, capture_ns: int, pcm: np.ndarray) -> bytes:
    """One audio message: the 16-byte header, then s16 little-endian mono PCM."""
    samples = np.clip(np.round(np.asarray(pcm, np.float32) * 32767), -32768, 32767).astype("<i2")
    return WS_HEADER.pack(1, person, 0, rate, capture_ns) + samples.tobytes()


async def send_ws(url: str, tracks: dict[int, np.ndarray], rate: int, packet_ms: float = 20.0, tail_s: float = 0.5) -> ClientResult:
    """Stream `tracks` (person -> mono float32) in real time over one WebSocket; collect returned frames."""
    from websockets.asyncio.client import connect

    result = ClientResult()
    step = int(rate * packet_ms / 1000)
    length = max(len(t) for t in tracks.values())
    async with connect(url, max_size=None) as socket:
        reader = asyncio.ensure_future(_read_ws(socket, result))
        t0 = result.t0_ns = time.monotonic_ns()
        for start in range(0, length, step):
            due = t0 + (start + step) * NS // rate  # a microphone delivers a packet once it is captured
            await asyncio.sleep(max(0.0, (due - time.monotonic_ns()) / 1e9))
            for person, samples in tracks.items():
                await socket.send(ws_message(person, rate, t0 + start * NS // rate, samples[start : start + step]))
        await asyncio.sleep(tail_s)
        reader.cancel()
    return result


async def _read_ws(socket, result: ClientResult) -> None:
    try:
        async for packet in socket:
            if isinstance(packet, bytes):
                _collect(result, packet)
    except Exception as error:
        result.error = str(error)


# --- WHIP (WebRTC) -------------------------------------------------------------------------------
class _ArrayTrack:
    """An aiortc audio track that plays float32 mono arrays in real time, 20 ms per frame, 48 kHz."""

    def __init__(self, samples: np.ndarray, rate: int = 48000) -> None:
        from aiortc import MediaStreamTrack

        outer = self

        class Track(MediaStreamTrack):
            kind = "audio"

            async def recv(self):
                return await outer._next()

        self.track = Track()
        self.samples = samples
        self.rate = rate
        self.step = rate // 50
        self.pos = 0
        self.t0: int | None = None

    async def _next(self):
        import av
        from aiortc.mediastreams import MediaStreamError

        if self.t0 is None:
            self.t0 = time.monotonic_ns()
        if self.pos >= len(self.samples):
            self.track.stop()
            raise MediaStreamError
        due = self.t0 + (self.pos + self.step) * NS // self.rate
        await asyncio.sleep(max(0.0, (due - time.monotonic_ns()) / 1e9))
        block = np.zeros(self.step, np.float32)
        chunk = self.samples[self.pos : self.pos + self.step]
        block[: len(chunk)] = chunk
        frame = av.AudioFrame.from_ndarray((block * 32767).astype("<i2").reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = self.rate, self.pos, fractions.Fraction(1, self.rate)
        self.pos += self.step
        return frame


async def send_whip(url: str, tracks: list[np.ndarray], rate: int, tail_s: float = 0.5, channel: bool = True,
                    sdp_filter=None) -> ClientResult:  # fmt: skip
    """Offer one audio track per array (in order) to a WHIP endpoint, stream them in real time, collect frames.
    `sdp_filter` may rewrite the offer before it is sent (tests: malformed SDP, a wrong codec)."""
    import aiohttp
    import soxr
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

    result = ClientResult()
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    players = [_ArrayTrack(soxr.resample(t.astype(np.float32), rate, 48000).astype(np.float32)) for t in tracks]
    for player in players:
        pc.addTransceiver(player.track, direction="sendonly")
    if channel:
        dc = pc.createDataChannel("dyad-frames", ordered=False, maxRetransmits=0)
        dc.on("message", lambda packet: _collect(result, packet))
    await pc.setLocalDescription(await pc.createOffer())
    offer = pc.localDescription.sdp if sdp_filter is None else sdp_filter(pc.localDescription.sdp)
    async with aiohttp.ClientSession() as http:
        async with http.post(url, data=offer, headers={"Content-Type": "application/sdp"}) as response:
            result.status = response.status
            body = await response.text()
            location = response.headers.get("Location")
    if result.status != 201:
        result.error = body.strip()
        await pc.close()
        return result
    await pc.setRemoteDescription(RTCSessionDescription(sdp=body, type="answer"))
    duration = max(len(t) for t in tracks) / rate
    await asyncio.sleep(duration + tail_s + 0.5)
    result.t0_ns = min((p.t0 for p in players if p.t0 is not None), default=None)
    try:  # end the WHIP session; a server that already ended with its session has nothing to delete
        async with aiohttp.ClientSession() as http:
            async with http.delete(url.split("/whip")[0] + location) as response:
                await response.read()
    except aiohttp.ClientError:
        pass
    await pc.close()
    return result
