"""Network voices in, pose frames back: WHIP (WebRTC) and WebSocket PCM on one local HTTP port.

  POST   /whip[?person=N]   an application/sdp offer -> 201 + answer (RFC 9725, dyad.runtime.io.whip_peer)
  DELETE /whip/<id>         ends that sender
  GET    /audio[?poses=1]   WebSocket: binary PCM messages in (layout below); with poses=1 the
                            frames come back on the same socket as binary frame packets
  GET    /                  with the talk page on (`dyad talk`): the viewer driven by WebRTC

WebSocket audio message (all little-endian), one per packet of one person's audio:
  u8 version = 1, u8 person (0 or 1), u16 flags = 0, u32 sample rate (Hz),
  i64 capture time of the first sample (ns on the sender's monotonic clock), then s16 mono PCM.
A message that breaks this is dropped, counted and logged once; the connection stays. A message
over `max_ws_bytes` closes that connection with 1009 (counted); the session goes on.

Frames go back as dyad.adapters.frame_packet packets (the ZeroMQ sink's layout), a meta packet
first. Each frame client keeps one pending frame at most: a slow client skips frames (counted),
never slows the session. Loopback only unless --allow-remote; --allow-from limits who may send.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import uuid

import numpy as np

from dyad.runtime.config import NetworkPolicy
from dyad.runtime.frames import FrameBundle, Sink
from dyad.runtime.io.loop_thread import LoopThread
from dyad.runtime.io.net_policy import sender_allowed
from dyad.runtime.io.whip_peer import (
    DATA_CHANNEL_BUFFER, FRAMES_LABEL, MAX_OFFER_BYTES, OfferRefused, WhipPeer, check_offer, people_for, pump_track, trim_receiver_buffer,
)  # fmt: skip

log = logging.getLogger(__name__)

HEADER = struct.Struct("<BBHIq")
WS_VERSION = 1
MAX_WS_BYTES = 64 * 1024  # ~2 s of 16 kHz PCM in one message is already more than any sender needs


class VoiceServer(Sink):
    """The server and, as a sink, the way frames go back to the senders that asked for them."""

    name = "voices"

    def __init__(self, host: str, port: int, feed, skeleton, sample_rate: int, policy: NetworkPolicy | None = None,
                 talk_page: bool = False, idle_s: float = 10.0, max_ws_bytes: int = MAX_WS_BYTES) -> None:  # fmt: skip
        self.host = host
        self.feed = feed
        self.sample_rate = sample_rate
        self.policy = policy or NetworkPolicy()
        self.talk_page = talk_page
        self.idle_s = idle_s
        self.max_ws_bytes = max_ws_bytes
        self._skeleton = skeleton
        self._peers: dict[str, WhipPeer] = {}
        self._owners: dict[int, object] = {}  # person -> the peer or socket sending for them
        self._frame_clients: set = set()  # open data channels and WebSocket mailboxes
        self.counts = {name: 0 for name in _COUNTERS}
        self._logged: set[str] = set()
        self._server_thread = LoopThread("voice-server")
        self._loop = self._server_thread.loop
        self._runner = None
        self.port = port  # the bound one once the server runs (port 0: the OS chooses)
        error = self._server_thread.start(lambda: self._start(port))
        if error is not None:
            raise OSError(f"cannot serve network audio on {host}:{port}: {error}") from error
        self.port = self._runner.addresses[0][1]
        self.bound_endpoint = f"http://{host}:{self.port}" if port == 0 else None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- server thread ---------------------------------------------------------
    async def _start(self, port: int) -> None:
        from aiohttp import web

        app = web.Application(client_max_size=MAX_OFFER_BYTES, middlewares=[self._guard()])
        app.router.add_post("/whip", self._whip)
        app.router.add_delete("/whip/{key}", self._whip_delete)
        app.router.add_get("/audio", self._ws_audio)
        if self.talk_page:
            from dyad.runtime.io.talk_page import add_talk_routes

            add_talk_routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, port).start()

    def _count(self, counter: str, message: str | None = None) -> None:
        self.counts[counter] += 1
        if message and counter not in self._logged:
            self._logged.add(counter)
            log.warning("network audio: %s (further ones are counted in session.json)", message)

    def _refusal(self, request) -> str | None:
        """Why a request may not reach the endpoints: a sender outside --allow-from, a foreign page."""
        from dyad.adapters.local_origin import refusal

        remote = request.remote or ""
        if not sender_allowed(self.policy, remote):
            self._count("refused_senders", f"{remote} is not in --allow-from")
            return "sender not allowed"
        browser_call = request.method != "GET" or request.path == "/audio"
        return refusal(request.headers.get("Host"), request.headers.get("Origin"), self.port, websocket=browser_call)

    def _guard(self):
        from aiohttp import web

        @web.middleware
        async def guard(request, handler):
            why = self._refusal(request)
            if why is not None:
                self._count("refused_requests", f"request refused: {why}")
                return web.Response(status=403, text=why + "\n")
            return await handler(request)

        return guard

    # -- WHIP --------------------------------------------------------------------
    async def _whip(self, request):
        from aiohttp import web

        try:
            if request.content_type != "application/sdp":
                raise OfferRefused(415, f"the offer must be Content-Type application/sdp, not '{request.content_type}'")
            peer = await self._answer(await request.text(), request.query.get("person"))
        except OfferRefused as refused:
            self._count("refused_offers", f"offer refused: {refused}")
            return web.Response(status=refused.status, text=str(refused) + "\n")
        location = f"/whip/{peer.key}"
        return web.Response(status=201, text=peer.pc.localDescription.sdp, content_type="application/sdp", headers={"Location": location})

    async def _answer(self, sdp: str, person: str | None) -> WhipPeer:
        from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpReceiver, RTCSessionDescription

        people = people_for(check_offer(sdp), person)
        taken = [p for p in people if p in self._owners]
        if taken:
            raise OfferRefused(409, f"person {taken[0]} already has a sender")
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))  # no STUN: nothing leaves this machine unasked
        peer = WhipPeer(uuid.uuid4().hex, pc, people)
        tracks: list = []
        pc.on("track", lambda track: tracks.append(track) if track.kind == "audio" else None)
        pc.on("datachannel", lambda channel: self._frame_channel(peer, channel))
        pc.on("connectionstatechange", lambda: self._connection_changed(peer))
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            opus = [c for c in RTCRtpReceiver.getCapabilities("audio").codecs if c.mimeType.lower() == "audio/opus"]
            for transceiver in pc.getTransceivers():
                if transceiver.kind == "audio":
                    transceiver.setCodecPreferences(opus)
                    if not trim_receiver_buffer(transceiver.receiver):
                        self._count("untrimmed_receivers", "aiortc's receive buffer could not be trimmed: WebRTC audio arrives 80 ms later")
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as error:  # aiortc's parser and negotiation raise many kinds
            await pc.close()
            raise OfferRefused(400, f"the offer could not be answered: {' '.join(str(error).split()) or type(error).__name__}") from None
        for p in people:
            self._owners[p] = peer
        self._peers[peer.key] = peer
        for p, track in zip(people, tracks):
            peer.tasks.append(asyncio.ensure_future(self._pump(peer, track, p)))
        self.counts["peers"] += 1
        return peer

    async def _pump(self, peer: WhipPeer, track, person: int) -> None:
        why = await pump_track(track, person, self.feed, self.sample_rate, self.idle_s, lambda: self._count("idle_tracks", f"person {person}'s track went silent"))
        self.feed.end(person, why)
        await self._close_peer(peer)

    def _frame_channel(self, peer: WhipPeer, channel) -> None:
        if channel.label != FRAMES_LABEL:
            self._count("ignored_channels", f"data channel '{channel.label}' ignored (frames go on '{FRAMES_LABEL}')")
            return
        from dyad.adapters.frame_packet import meta_packet

        peer.channels.append(channel)
        self._frame_clients.add(channel)
        channel.on("close", lambda: self._frame_clients.discard(channel))
        if channel.readyState == "open":
            channel.send(meta_packet(self._skeleton))
        else:
            channel.on("open", lambda: channel.send(meta_packet(self._skeleton)))

    def _connection_changed(self, peer: WhipPeer) -> None:
        if peer.pc.connectionState in ("failed", "closed") and not peer.closed:
            if peer.pc.connectionState == "failed":
                self._count("peers_lost", "a WebRTC peer vanished (ICE failed)")
            asyncio.ensure_future(self._close_peer(peer))

    async def _close_peer(self, peer: WhipPeer) -> None:
        if peer.closed:
            return
        peer.closed = True
        self._peers.pop(peer.key, None)
        for p in peer.people:
            if self._owners.get(p) is peer:
                del self._owners[p]
            self.feed.end(p, "the WebRTC peer closed")
        for channel in peer.channels:
            self._frame_clients.discard(channel)
        for task in peer.tasks:
            if task is not asyncio.current_task():
                task.cancel()
        await peer.pc.close()

    async def _whip_delete(self, request):
        from aiohttp import web

        peer = self._peers.get(request.match_info["key"])
        if peer is None:
            return web.Response(status=404, text="no such WHIP session\n")
        await self._close_peer(peer)
        return web.Response(status=200)

    # -- WebSocket PCM -------------------------------------------------------------
    async def _ws_audio(self, request):
        from aiohttp import WSMsgType, web

        ws = web.WebSocketResponse(max_msg_size=self.max_ws_bytes, heartbeat=None)
        await ws.prepare(request)
        self.counts["sockets"] += 1
        mailbox = None
        if request.query.get("poses") in ("1", "true", "yes"):
            from dyad.adapters.frame_packet import meta_packet

            await ws.send_bytes(meta_packet(self._skeleton))
            mailbox = _Mailbox(ws)
            self._frame_clients.add(mailbox)
        people: set[int] = set()
        oversized = False
        try:
            async for message in ws:
                if message.type == WSMsgType.BINARY:
                    self._ws_packet(ws, message.data, people)
                elif message.type == WSMsgType.TEXT:
                    self._count("bad_messages", "a text message on /audio (audio is binary)")
                elif message.type == WSMsgType.ERROR:
                    oversized = getattr(message.data, "code", None) == 1009
                    break
        finally:
            if oversized or ws.close_code == 1009:
                self._count("oversized_messages", f"a WebSocket message over {self.max_ws_bytes} bytes closed its connection")
            if mailbox is not None:
                self._frame_clients.discard(mailbox)
                mailbox.stop()
            for p in people:
                if self._owners.get(p) is ws:
                    del self._owners[p]
                self.feed.end(p, "the WebSocket closed")
        return ws

    def _ws_packet(self, ws, data: bytes, people: set[int]) -> None:
        why = _ws_refusal(data)
        if why is not None:
            self._count("bad_messages", f"WebSocket audio message dropped: {why}")
            return
        _, person, _, rate, capture_ns = HEADER.unpack_from(data)
        owner = self._owners.setdefault(person, ws)
        if owner is not ws:
            self._count("person_taken", f"person {person} already has another sender")
            return
        people.add(person)
        pcm = np.frombuffer(data, "<i2", offset=HEADER.size).astype(np.float32) / 32768.0
        if not self.feed.push(person, pcm, rate, capture_ns):
            self.counts["bad_messages"] += 1

    # -- sink: frames back ----------------------------------------------------------
    def send(self, bundle: FrameBundle) -> None:
        if not self._frame_clients:
            return
        from dyad.adapters.frame_packet import frame_packet

        packet = frame_packet(bundle)
        self._loop.call_soon_threadsafe(self._broadcast, packet)

    def _broadcast(self, packet: bytes) -> None:
        for client in list(self._frame_clients):
            if isinstance(client, _Mailbox):
                self.counts["frames_skipped"] += client.offer(packet)
                self.counts["frames_sent"] += 1
            elif client.readyState == "open" and client.bufferedAmount < DATA_CHANNEL_BUFFER:
                client.send(packet)
                self.counts["frames_sent"] += 1
            else:
                self.counts["frames_skipped"] += 1

    def stats(self) -> dict:
        return {**self.counts, "senders": len(self._owners)}

    def close(self) -> None:
        if self._runner is not None and self._loop.is_running():
            future = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
            try:
                future.result(10)
            except Exception:
                pass
        self._server_thread.stop(5)

    async def _shutdown(self) -> None:
        for peer in list(self._peers.values()):
            await self._close_peer(peer)
        await self._runner.cleanup()


_COUNTERS = ("peers", "sockets", "refused_offers", "refused_requests", "refused_senders", "bad_messages", "oversized_messages",
             "person_taken", "peers_lost", "idle_tracks", "ignored_channels", "untrimmed_receivers", "frames_sent", "frames_skipped")  # fmt: skip


def _ws_refusal(data: bytes) -> str | None:
    if len(data) < HEADER.size:
        return f"{len(data)} bytes is shorter than the {HEADER.size}-byte header"
    version, person, flags, rate, _ = HEADER.unpack_from(data)
    if version != WS_VERSION:
        return f"version {version} (expected {WS_VERSION})"
    if person > 1:
        return f"person {person} is not 0 or 1"
    if (len(data) - HEADER.size) % 2:
        return "PCM is not whole 16-bit samples"
    return None


class _Mailbox:
    """One pending frame for a WebSocket client; a newer frame replaces it (the old one is skipped)."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self._pending: bytes | None = None
        self._wake = asyncio.Event()
        self._task = asyncio.ensure_future(self._drain())

    def offer(self, packet: bytes) -> int:
        skipped = int(self._pending is not None)
        self._pending = packet
        self._wake.set()
        return skipped

    async def _drain(self) -> None:
        try:
            while not self.ws.closed:
                await self._wake.wait()
                self._wake.clear()
                packet, self._pending = self._pending, None
                if packet is not None:
                    await self.ws.send_bytes(packet)
        except Exception:  # the client went away: its reader ends the connection
            pass

    def stop(self) -> None:
        self._task.cancel()
