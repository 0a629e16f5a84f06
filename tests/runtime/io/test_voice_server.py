"""Network voices through the real server: real WebSocket clients, real aiortc WHIP peers on loopback.

The WebSocket messages are built here with `struct` from the layout in docs/network-audio.md, and the
returned frame packets are split here too, independently of dyad's own client helpers."""

from __future__ import annotations

import asyncio
import json
import struct
import threading
import time

import aiohttp
import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from dyad.models.skeleton import load_default_skeleton
from dyad.runtime.audio.net_source import NetworkAudioSource
from dyad.runtime.config import NetworkPolicy, SessionConfig, TimingConfig
from dyad.runtime.io.voice_client import send_whip
from dyad.runtime.io.voice_server import VoiceServer
from dyad.runtime.session import Session
from speech_fixtures import synthesize

RATE = 16000
NS = 1_000_000_000
JAW_OPEN = 17  # PROTOCOLS.md: canonical Live Link order


def message(person: int, capture_ns: int, pcm: np.ndarray, rate: int = RATE, version: int = 1) -> bytes:
    samples = np.clip(pcm * 32767, -32768, 32767).astype("<i2")
    return struct.pack("<BBHIq", version, person, 0, rate, capture_ns) + samples.tobytes()


def split_packet(packet: bytes) -> list[bytes]:
    (count,) = struct.unpack_from("<I", packet)
    parts, offset = [], 4
    for _ in range(count):
        (size,) = struct.unpack_from("<I", packet, offset)
        parts.append(packet[offset + 4 : offset + 4 + size])
        offset += 4 + size
    assert offset == len(packet)
    return parts


def jaw_by_person(packet: bytes) -> dict[int, float]:
    """person -> JawOpen, read from a frame packet's face.pN messages as a ZeroMQ subscriber would."""
    parts = split_packet(packet)
    jaw, i = {}, 0
    while i < len(parts):
        header = json.loads(parts[i + 1])
        if parts[i].startswith(b"face."):
            jaw[header["person"]] = float(np.frombuffer(parts[i + 2], "<f4")[JAW_OPEN])
            i += 3
        else:
            assert parts[i] == f"pose.p{header['person']}".encode() and header["dtype"] == "<f4"
            i += 4
    return jaw


@pytest.fixture()
def server():
    source = NetworkAudioSource(sample_rate=RATE)
    voices = VoiceServer("127.0.0.1", 0, source, load_default_skeleton(), RATE, idle_s=1.0, max_ws_bytes=8192)
    yield voices
    voices.close()


@pytest.fixture(scope="module")
def voice() -> np.ndarray:
    return synthesize("Tell me what you saw at the harbour this morning, all of it", "en-us+m3")[: int(2.5 * RATE)]


def test_bad_websocket_messages_are_counted_and_the_connection_goes_on(server):
    async def talk():
        async with connect(f"ws://127.0.0.1:{server.port}/audio", max_size=None) as ws:
            pcm = np.zeros(320, np.float32)
            for bad in (b"\x01\x00", message(0, 0, pcm, version=9), message(7, 0, pcm), message(0, 0, pcm)[:-1], message(0, 0, pcm, rate=5)):
                await ws.send(bad)
            await ws.send("not audio")
            await ws.send(message(0, 123, pcm))  # a good one still goes through
            await asyncio.sleep(0.2)
        async with connect(f"ws://127.0.0.1:{server.port}/audio", max_size=None) as ws:
            await ws.send(message(1, 0, np.zeros(8192, np.float32)))  # 16 KiB + header: over the 8 KiB limit
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            return closed.value.rcvd.code

    code = asyncio.run(talk())
    time.sleep(0.1)
    stats = server.stats()
    assert code == 1009
    assert stats["bad_messages"] == 6 and stats["oversized_messages"] == 1 and stats["sockets"] == 2
    assert server.feed.stats()["people"][0]["packets"] == 1


def test_absurd_capture_times_are_dropped_then_a_moved_sender_clock_is_followed(server):
    async def talk():
        async with connect(f"ws://127.0.0.1:{server.port}/audio") as ws:
            pcm = np.full(320, 0.1, np.float32)
            await ws.send(message(0, 1_000, pcm))
            for k in range(4):  # the sender's clock leaps a day: garbage, or a restart
                await ws.send(message(0, 86_400 * NS + k * 20_000_000, pcm))
            await asyncio.sleep(0.1)

    asyncio.run(talk())
    lane = server.feed.stats()["people"][0]
    assert lane["absurd_packets"] == 2 and lane["resyncs"] == 1 and lane["packets"] == 5


def _post(port: int, body: str, content_type: str = "application/sdp", query: str = "", headers: dict | None = None):
    async def post():
        async with aiohttp.ClientSession() as http:
            async with http.post(f"http://127.0.0.1:{port}/whip{query}", data=body, headers={"Content-Type": content_type, **(headers or {})}) as r:
                return r.status, await r.text()

    return asyncio.run(post())


def test_bad_offers_get_one_line_http_errors_and_are_counted(server, voice):
    assert _post(server.port, "hello")[0] == 400
    assert _post(server.port, "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n")[0] == 400
    assert _post(server.port, "v=0", content_type="text/plain")[0] == 415
    assert _post(server.port, "v=0", headers={"Origin": "http://elsewhere.example"})[0] == 403

    def pcmu_only(sdp: str) -> str:  # a sender that offers G.711 only
        lines = [line for line in sdp.splitlines() if "opus" not in line.lower() or not line.startswith(("a=rtpmap", "a=fmtp"))]
        return "\r\n".join(lines) + "\r\n"

    wrong = asyncio.run(send_whip(f"http://127.0.0.1:{server.port}/whip", [voice[:1600]], RATE, sdp_filter=pcmu_only))
    assert wrong.status == 415 and "Opus" in wrong.error
    malformed = asyncio.run(send_whip(f"http://127.0.0.1:{server.port}/whip", [voice[:1600]], RATE, sdp_filter=lambda s: s.replace("a=ice-ufrag", "a=ice-xfrag")))
    assert malformed.status == 400
    stats = server.stats()
    assert stats["refused_offers"] == 5 and stats["refused_requests"] == 1


def test_senders_outside_allow_from_are_refused():
    source = NetworkAudioSource(sample_rate=RATE)
    voices = VoiceServer("127.0.0.1", 0, source, load_default_skeleton(), RATE, policy=NetworkPolicy(allow_from=("10.0.0.5",)))
    try:
        assert _post(voices.port, "v=0")[0] == 403
        assert voices.stats()["refused_senders"] == 1
    finally:
        voices.close()


def _session(seconds: float, voices_kwargs: dict | None = None):
    source = NetworkAudioSource(sample_rate=RATE)
    voices = VoiceServer("127.0.0.1", 0, source, load_default_skeleton(), RATE, **(voices_kwargs or {}))
    session = Session(SessionConfig(timing=TimingConfig(), seconds=seconds), source, extra_sinks=[voices], keep_frames=True)
    box: dict = {}
    runner = threading.Thread(target=lambda: box.update(result=session.run()))
    runner.start()
    return voices, runner, box


def assert_contract(result) -> None:
    bundles = result.bundles
    budget_ns = round(TimingConfig().budget_ms * 1_000_000)  # the session runs at the default budget
    assert [b.index for b in bundles] == list(range(len(bundles)))  # no skipped index, none sent twice
    assert all(b.target_ns == b.audio_ns + budget_ns for b in bundles)  # fixed D
    assert sum(b.fallback for b in bundles) == result.summary["deadline_misses"]


@pytest.mark.realtime
def test_websocket_voice_with_jitter_loss_duplicates_and_reordering_keeps_the_contract(voice):
    voices, runner, box = _session(3.0)
    returned: list[bytes] = []

    async def talk():
        async with connect(f"ws://127.0.0.1:{voices.port}/audio?poses=1", max_size=None) as ws:
            reader = asyncio.ensure_future(_read_all(ws, returned))
            loop, t0, step = asyncio.get_running_loop(), time.monotonic_ns(), 320
            for k, start in enumerate(range(0, len(voice), step)):
                await asyncio.sleep(max(0.0, (t0 + (start + step) * NS // RATE - time.monotonic_ns()) / 1e9))
                packet = message(0, t0 + start * NS // RATE, voice[start : start + step])
                if k % 9 == 8:
                    continue  # lost
                delay = 0.03 if k % 4 == 1 else 0.25 if k % 13 == 12 else 0.0  # reordered / too late
                copies = 2 if k % 5 == 3 else 1  # duplicated
                for _ in range(copies):
                    if delay:
                        loop.call_later(delay, lambda p=packet: asyncio.ensure_future(ws.send(p)))
                    else:
                        await ws.send(packet)
            await asyncio.sleep(0.8)
            reader.cancel()

    asyncio.run(talk())
    runner.join(20)
    result = box["result"]
    lane = result.summary["source"]["people"][0]
    assert lane["duplicate_samples"] > 0 and lane["reordered_packets"] > 0 and lane["late_samples"] > 0 and lane["gap_samples"] > 0
    assert result.summary["source"]["people"][1]["packets"] == 0
    assert_contract(result)
    meta = json.loads(split_packet(returned[0])[1])
    assert len(meta["offsets"]) == len(meta["joint_names"])
    jaws = [jaw_by_person(p) for p in returned[1:]]
    assert len(jaws) > 40
    assert np.percentile([j[0] for j in jaws], 90) > np.percentile([j[1] for j in jaws], 90) + 0.1  # the speaker's mouth opens


async def _read_all(ws, out: list[bytes]) -> None:
    async for packet in ws:
        out.append(packet)


@pytest.mark.realtime
def test_whip_peer_with_two_tracks_gets_frames_back_on_the_data_channel(voice):
    voices, runner, box = _session(3.5)
    silence = np.zeros_like(voice)
    client = asyncio.run(send_whip(f"http://127.0.0.1:{voices.port}/whip", [silence, voice], RATE, tail_s=0.2))
    runner.join(20)
    result = box["result"]
    assert client.status == 201 and client.meta is not None and "offsets" in client.meta
    assert len(client.frames) > 40
    jaw = np.array([[f.faces[0][JAW_OPEN], f.faces[1][JAW_OPEN]] for f in client.frames])
    assert np.percentile(jaw[:, 1], 90) > np.percentile(jaw[:, 0], 90) + 0.1  # track 2 is person 1: their mouth opens
    assert_contract(result)
    people = result.summary["source"]["people"]
    assert people[0]["packets"] > 50 and people[1]["packets"] > 50
    assert result.summary["sinks"]["voices"]["peers"] == 1
    assert result.summary["sinks"]["voices"]["untrimmed_receivers"] == 0  # aiortc holds no 80 ms back


@pytest.mark.realtime
def test_a_whip_peer_that_vanishes_is_noticed_and_its_person_becomes_free(server, voice):
    async def vanish():
        from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
        from dyad.runtime.io.voice_client import _ArrayTrack

        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        track = _ArrayTrack(np.tile(voice, 4))
        pc.addTransceiver(track.track, direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        async with aiohttp.ClientSession() as http:
            async with http.post(f"http://127.0.0.1:{server.port}/whip?person=1", data=pc.localDescription.sdp, headers={"Content-Type": "application/sdp"}) as r:
                answer = await r.text()
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        await asyncio.sleep(1.5)
        track.samples = track.samples[: track.pos]  # the headset drops off the network mid-sentence: no goodbye
        await asyncio.sleep(2.5)
        await pc.close()

    asyncio.run(vanish())
    stats, feed = server.stats(), server.feed.stats()
    assert feed["people"][1]["packets"] > 20 and feed["senders_ended"] >= 1
    assert stats["senders"] == 0  # person 1 may be taken by a new sender
    assert _post(server.port, "v=0", query="?person=3")[0] == 400


@pytest.mark.realtime
@pytest.mark.parametrize("example", ["ws_send.py", "whip_send.py"])
def test_the_example_clients_send_voices_and_print_the_frames_that_come_back(example, voice, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    import soundfile as sf

    wav = tmp_path / "voice.wav"
    sf.write(wav, voice[: int(1.5 * RATE)], RATE, subtype="PCM_16")
    voices, runner, box = _session(2.5)
    script = Path(__file__).resolve().parents[3] / "examples" / example
    url = f"ws://127.0.0.1:{voices.port}/audio" if example == "ws_send.py" else f"http://127.0.0.1:{voices.port}/whip"
    done = subprocess.run([sys.executable, str(script), url, str(wav), str(wav)], capture_output=True, text=True, timeout=60)
    runner.join(20)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "skeleton: " in done.stdout and "frame 30" in done.stdout
    assert box["result"].summary["source"]["people"][1]["packets"] > 20
