"""`dyad run`: animate from microphones, WAV files or network voices (WHIP / WebSocket)."""

from __future__ import annotations

import argparse
from pathlib import Path

from dyad.runtime.cli.net_voices import add_network_options
from dyad.runtime.cli.session_options import add_session_options, run_session


def register(commands) -> None:
    run_parser = commands.add_parser("run", help="animate from microphones, WAV files or voices over the network")
    inputs = run_parser.add_mutually_exclusive_group(required=True)
    inputs.add_argument("--wav", nargs="+", type=Path, metavar="FILE", help="one stereo file or two mono files (person 0, person 1)")
    inputs.add_argument("--mic", nargs="+", metavar="DEVICE", help="one 2-channel device or two devices (index or name)")
    inputs.add_argument("--whip", "--ws", metavar="HOST:PORT", help="voices over the network: WHIP (WebRTC) at /whip, WebSocket PCM at /audio")
    run_parser.add_argument("--mic-channels", default="0,1", help="input channels of a single device for person 0,1")
    add_session_options(run_parser)
    add_network_options(run_parser)
    run_parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    return run_session(args, list(args.wav) if args.wav else None)
