"""`dyad talk`: a local page where one or two people talk into the browser and see their avatars."""

from __future__ import annotations

import argparse

from dyad.runtime.cli.net_voices import add_network_options
from dyad.runtime.cli.process_guard import write_line
from dyad.runtime.cli.session_options import add_session_options, run_session


def register(commands) -> None:
    talk = commands.add_parser("talk", help="serve a page where one or two people talk (WebRTC) and see their avatars")
    talk.add_argument("--host", default="127.0.0.1", help="page address (loopback by default)")
    talk.add_argument("--port", type=int, default=8766)
    add_session_options(talk)
    add_network_options(talk)
    talk.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    args.whip, args.talk_page = f"{args.host}:{args.port}", True
    page = f"http://{args.host}:{args.port}/"
    write_line(f"dyad: talk page at {page} (one person; {page}?people=2 for two on one machine; Ctrl-C to stop)")
    return run_session(args, None)
