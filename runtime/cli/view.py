"""`dyad view`: serve the live browser viewer for the demo dialogue (or --wav), looping until stopped."""

from __future__ import annotations

import argparse
from pathlib import Path

from dyad.runtime.assets import demo_audio_path
from dyad.runtime.cli.process_guard import write_line
from dyad.runtime.cli.session_options import add_session_options, run_session


def register(commands) -> None:
    view = commands.add_parser("view", help="serve the live browser viewer for the demo dialogue (or --wav), looping until stopped")
    view.add_argument("--wav", nargs="+", type=Path, metavar="FILE", help="replay these instead of the demo dialogue")
    view.add_argument("--host", default="127.0.0.1", help="viewer address (loopback by default)")
    view.add_argument("--port", type=int, default=8765)
    add_session_options(view)
    view.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    args.sink = [*args.sink, f"view://{args.host}:{args.port}"]
    write_line(f"dyad: viewer at http://{args.host}:{args.port}/ (Ctrl-C to stop)")
    wav_paths = list(args.wav) if args.wav else [demo_audio_path()]
    return run_session(args, wav_paths, loop=args.seconds is None)  # the viewer keeps playing until stopped
