"""Send one or two people's voices to dyad over WebRTC (WHIP) and print the poses that come back.

    python examples/whip_send.py http://127.0.0.1:8766/whip alice.wav [bob.wav]

Needs `aiortc` and `aiohttp`; nothing of dyad. Each WAV becomes one Opus audio track (the first
is person 0, the second person 1); the frames come back on the data channel `dyad-frames`, one
message per frame (docs/network-audio.md).
"""

import asyncio
import json
import struct
import sys

import aiohttp
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaPlayer


def frame_parts(message: bytes) -> list[bytes]:
    (count,) = struct.unpack_from("<I", message)
    parts, offset = [], 4
    for _ in range(count):
        (size,) = struct.unpack_from("<I", message, offset)
        parts.append(message[offset + 4 : offset + 4 + size])
        offset += 4 + size
    return parts


def on_frame(message: bytes) -> None:
    parts = frame_parts(message)
    if parts[0] == b"meta":
        print("skeleton:", len(json.loads(parts[1])["joint_names"]), "joints")
        return
    header = json.loads(parts[1])
    if header["seq"] % 30 == 0:
        latency_ms = (header["send_ns"] - header["capture_ns"]) / 1e6
        print(f"frame {header['seq']}: sent {latency_ms:.0f} ms after its audio was captured")


async def main(url: str, paths: list[str]) -> None:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    players = [MediaPlayer(path) for path in paths]  # plays the file in real time, like a microphone
    for player in players:
        pc.addTransceiver(player.audio, direction="sendonly")
    channel = pc.createDataChannel("dyad-frames", ordered=False, maxRetransmits=0)
    channel.on("message", on_frame)
    await pc.setLocalDescription(await pc.createOffer())  # aiortc gathers every candidate first (no trickle)
    async with aiohttp.ClientSession() as http:
        async with http.post(url, data=pc.localDescription.sdp, headers={"Content-Type": "application/sdp"}) as response:
            if response.status != 201:
                sys.exit(f"whip_send: {response.status}: {(await response.text()).strip()}")
            answer, resource = await response.text(), response.headers["Location"]
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    ended = asyncio.Event()
    players[0].audio.on("ended", ended.set)
    await ended.wait()
    await asyncio.sleep(0.5)
    async with aiohttp.ClientSession() as http:
        await http.delete(url.rsplit("/whip", 1)[0] + resource)
    await pc.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2:4]))
