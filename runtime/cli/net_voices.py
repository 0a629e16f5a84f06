"""Voices over the network for `dyad run --whip` and `dyad talk`: the network source and its server, wired."""

from __future__ import annotations

import argparse

from dyad.runtime.config import SessionConfig
from dyad.runtime.errors import DyadError


def add_network_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("network voices", "WHIP (WebRTC) and WebSocket PCM input; see docs/network-audio.md")
    group.add_argument("--playout-ms", type=float, default=40.0, help="jitter allowance: how long a missing packet is waited for")
    group.add_argument("--idle-s", type=float, default=10.0, help="a WebRTC sender silent this long is closed (the person becomes silence)")


def open_network_voices(args: argparse.Namespace, config: SessionConfig, address: str, talk_page: bool = False):
    """(source, server, inputs) for voices arriving at `address` (HOST:PORT)."""
    from dyad.models.skeleton import load_default_skeleton
    from dyad.runtime.audio.net_source import NetworkAudioSource
    from dyad.runtime.io.endpoints import parse_endpoint
    from dyad.runtime.io.net_policy import check_bind

    if config.offline:
        raise DyadError("--offline needs --wav input: network voices arrive on the wall clock")
    if not 0 < args.playout_ms <= 1000:
        raise DyadError(f"--playout-ms must be above 0 and at most 1000, got {args.playout_ms:g}")
    endpoint = parse_endpoint(f"http://{address}", kind="--whip")
    check_bind(config.network, endpoint.host, address, "audio input")
    source = NetworkAudioSource(sample_rate=config.audio.sample_rate, block_ms=config.timing.block_ms, playout_ms=args.playout_ms)
    from dyad.runtime.io.voice_server import VoiceServer

    try:
        server = VoiceServer(endpoint.host, endpoint.ports[0], source, load_default_skeleton(), config.audio.sample_rate,
                             config.network, talk_page=talk_page, idle_s=args.idle_s)  # fmt: skip
    except OSError as error:
        raise DyadError(str(error).splitlines()[0]) from None
    inputs = {"network": server.url, "whip": f"{server.url}/whip", "websocket": f"ws://{endpoint.host}:{server.port}/audio"}
    return source, server, inputs
