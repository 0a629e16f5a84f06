"""`dyad demo`: the bundled two-speaker dialogue through the whole pipeline in real time."""

from __future__ import annotations

import argparse
from pathlib import Path

from dyad.runtime.assets import demo_audio_path, demo_transcript_path
from dyad.runtime.cli.session_options import add_session_options, run_session


def register(commands) -> None:
    demo = commands.add_parser("demo", help="run the bundled two-speaker dialogue through the whole pipeline in real time")
    add_session_options(demo)
    demo.set_defaults(out=Path("dyad_demo_out"))
    # The dialogue's own timed transcript feeds word features (packaged MiniLM): ~20 ms per line on 2 CPU cores.
    demo.set_defaults(asr=f"file:{demo_transcript_path()}")
    demo.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    return run_session(args, [demo_audio_path()])
