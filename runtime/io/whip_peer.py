"""One WHIP sender (RFC 9725): its SDP offer checked and answered, its Opus tracks read into a voice feed.

A WHIP client POSTs an `application/sdp` offer; the answer goes back in the 201 response and
the session resource is `Location` (DELETE ends it). Each audio m-line of the offer is one
person: with `?person=N` the offer carries exactly one audio track, for person N; without it
the first audio track is person 0 and the second person 1. Only Opus is accepted (the codec
browsers, OBS and GStreamer's whipclientsink send). A data channel labelled `dyad-frames`
in the offer gets every pose frame back (dyad.adapters.frame_packet).

Timing: aiortc hands decoded 48 kHz frames whose `pts` is the RTP timestamp. The timestamp is
unwrapped (32-bit) and, with the sample rate, is the sender's capture time of the frame's first
sample; consecutive frames carry the resampler's output on without rounding; a jump in the
timestamps (lost packets) restarts from the timestamp. The voice feed maps these onto the
session clock once and then follows them (dyad.runtime.audio.voice_lane).
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger(__name__)

NS = 1_000_000_000
FRAMES_LABEL = "dyad-frames"
MAX_OFFER_BYTES = 64 * 1024
DATA_CHANNEL_BUFFER = 256 * 1024  # bytes queued on a data channel before frames are skipped for it


class OfferRefused(Exception):
    """An offer dyad will not answer: `status` is the HTTP status, the message its one-line reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def check_offer(sdp: str) -> int:
    """The number of audio m-lines of an offer that can be answered; OfferRefused when none or not Opus."""
    if not sdp.lstrip().startswith("v=0"):
        raise OfferRefused(400, "the offer is not SDP (it must start with v=0)")
    sections = re.split(r"\r?\nm=", sdp)[1:]
    audio = [s for s in sections if s.startswith("audio ")]
    if not audio:
        raise OfferRefused(400, "the offer has no audio m-line")
    for section in audio:
        if not re.search(r"^a=rtpmap:\d+ opus/48000", section, re.IGNORECASE | re.MULTILINE):
            raise OfferRefused(415, "the offer's audio is not Opus (dyad takes Opus/48000 only)")
    return len(audio)


def people_for(audio_tracks: int, person: str | None) -> tuple[int, ...]:
    if person is not None:
        if person not in ("0", "1"):
            raise OfferRefused(400, f"person '{person}' must be 0 or 1")
        if audio_tracks != 1:
            raise OfferRefused(400, f"?person={person} needs an offer with one audio track, it has {audio_tracks}")
        return (int(person),)
    if audio_tracks > 2:
        raise OfferRefused(400, f"the offer has {audio_tracks} audio tracks; two people need one or two")
    return tuple(range(audio_tracks))


class RtpUnwrap:
    """32-bit RTP timestamps -> one increasing count (a wrap every ~25 h at 48 kHz)."""

    def __init__(self) -> None:
        self._last: int | None = None
        self._high = 0

    def __call__(self, ts: int) -> int:
        ts &= 0xFFFFFFFF
        if self._last is not None:
            delta = (ts - self._last) & 0xFFFFFFFF
            if delta < 2**31 and ts < self._last:
                self._high += 2**32  # went forward across the wrap
            elif delta >= 2**31 and ts > self._last:
                self._high -= 2**32  # a late packet from before the wrap
        self._last = ts
        return self._high + ts


@dataclass
class WhipPeer:
    """One WHIP session resource: its peer connection, the people it sends and its frame channels."""

    key: str
    pc: object
    people: tuple[int, ...] = ()
    channels: list = field(default_factory=list)
    tasks: list = field(default_factory=list)
    closed: bool = False


def trim_receiver_buffer(receiver) -> bool:
    """Let aiortc hand each Opus frame on once it is complete instead of after 4 more (80 ms).

    aiortc's receiver holds 4 frames back for every audio frame (its JitterBuffer prefetch), a
    constant 80 ms on every sample. The voice lane after it already reorders and absorbs jitter
    with a counted rule, so that holding back is pure latency. aiortc has no public setting for it:
    this changes its private buffer when it has the expected shape, and says False when not (then
    the 80 ms stay, and nothing else changes)."""
    buffer = getattr(receiver, "_RTCRtpReceiver__jitter_buffer", None)
    if buffer is None or not isinstance(getattr(buffer, "_prefetch", None), int):
        return False
    buffer._prefetch = 1
    return True


async def pump_track(track, person: int, feed, rate: int, idle_s: float, on_idle) -> str:
    """Read one remote audio track into `feed` until it ends; returns why it ended."""
    import av
    from aiortc.mediastreams import MediaStreamError

    resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
    unwrap = RtpUnwrap()
    expected: int | None = None
    sender_ns = 0
    while True:
        try:
            frame = await asyncio.wait_for(track.recv(), idle_s)
        except MediaStreamError:
            return "the track ended"
        except asyncio.TimeoutError:
            on_idle()
            return f"no audio for {idle_s:g} s"
        pts = unwrap(frame.pts or 0)
        if pts != expected:  # the first frame, or packets were lost: restart from the RTP time
            sender_ns = pts * NS // frame.sample_rate
        expected = pts + frame.samples
        for out in resampler.resample(frame):
            pcm = out.to_ndarray().reshape(-1).astype(np.float32) / 32768.0
            feed.push(person, pcm, rate, sender_ns)
            sender_ns += pcm.shape[0] * NS // rate
