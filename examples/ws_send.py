"""Send one or two people's voices to dyad over a WebSocket and print the poses that come back.

    python examples/ws_send.py ws://127.0.0.1:8766/audio alice.wav [bob.wav]

Needs `websockets`, `soundfile` and `numpy`; nothing of dyad. The wire format is in
docs/network-audio.md: a 16-byte little-endian header (version, person, flags, sample rate,
capture time in ns) followed by 16-bit mono PCM, one message per 20 ms packet.
"""

import asyncio
import json
import struct
import sys
import time

import numpy as np
import soundfile as sf
from websockets.asyncio.client import connect

PACKET_S = 0.02


def audio_message(person: int, rate: int, capture_ns: int, samples: np.ndarray) -> bytes:
    pcm = np.clip(samples * 32767, -32768, 32767).astype("<i2")
    return struct.pack("<BBHIq", 1, person, 0, rate, capture_ns) + pcm.tobytes()


def frame_parts(message: bytes) -> list[bytes]:
    """Split one frame message into the ZeroMQ sink's parts (u32 count, then u32 length + bytes each)."""
    (count,) = struct.unpack_from("<I", message)
    parts, offset = [], 4
    for _ in range(count):
        (size,) = struct.unpack_from("<I", message, offset)
        parts.append(message[offset + 4 : offset + 4 + size])
        offset += 4 + size
    return parts


async def receive(socket) -> None:
    async for message in socket:
        parts = frame_parts(message)
        if parts[0] == b"meta":
            print("skeleton:", len(json.loads(parts[1])["joint_names"]), "joints")
            continue
        for i in range(0, len(parts), 7):  # pose.pN (4 parts) then face.pN (3 parts) per person
            header = json.loads(parts[i + 1])
            face = np.frombuffer(parts[i + 6], "<f4")
            if header["seq"] % 30 == 0:
                print(f"frame {header['seq']} person {header['person']}: jawOpen {face[17]:.2f}")


async def main(url: str, paths: list[str]) -> None:
    voices = [sf.read(path, dtype="float32", always_2d=True) for path in paths]
    async with connect(url + "?poses=1") as socket:
        listener = asyncio.ensure_future(receive(socket))
        start = time.monotonic_ns()
        for person, (audio, rate) in enumerate(voices):
            voices[person] = (audio[:, 0], rate)
        longest = max(len(audio) / rate for audio, rate in voices)
        for k in range(int(longest / PACKET_S)):
            capture_ns = start + int(k * PACKET_S * 1e9)
            # A microphone hands over a packet once it has been captured: wait until then.
            await asyncio.sleep(max(0.0, (capture_ns + PACKET_S * 1e9 - time.monotonic_ns()) / 1e9))
            for person, (audio, rate) in enumerate(voices):
                step = int(rate * PACKET_S)
                await socket.send(audio_message(person, rate, capture_ns, audio[k * step : (k + 1) * step]))
        await asyncio.sleep(0.5)
        listener.cancel()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2:4]))
