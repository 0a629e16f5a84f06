"""`dyad render`: a recording folder (--out of run/demo) to an MP4 or GIF clip."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(commands) -> None:
    render = commands.add_parser("render", help="render a recording folder (--out of run/demo) to an MP4 or GIF clip")
    render.add_argument("recording", type=Path, help="folder with p0.bvh, p1.bvh, p0_face.csv, p1_face.csv, frames.csv")
    render.add_argument("--out", type=Path, required=True, help="clip.mp4 or clip.gif")
    render.add_argument("--fps", type=int, default=None, help="clip frame rate (default: the recording's)")
    render.add_argument("--max-seconds", type=float, default=None)
    render.add_argument("--width", type=int, default=960, help="clip width in pixels (height is 9/16 of it)")
    render.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from dyad.runtime.offline.render import render

    frames = render(args.recording, args.out, fps=args.fps, max_seconds=args.max_seconds, width=args.width)
    print(f"dyad: rendered {frames} frames to {args.out}")
    return 0
