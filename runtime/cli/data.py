"""`dyad data check DIR` and the dataset options that `dyad train` shares with it.

    dyad data check ~/InterAct --face-columns columns.txt   what was found, what will be used, what cannot be read
    dyad data check ~/Inter-X                                 (motions/ found: read as Inter-X)

Nothing here guesses a fact the datasets do not publish: the order of InterAct's 51 face
columns is named by the user (`--face-columns`), BVH units are inferred from the skeleton's
size and refused when unclear, and every take that loads without a face is counted.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dyad.runtime.errors import DyadError


def add_dataset_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("auto", "interact", "interx"), default="auto",
                        help="auto: Inter-X when DIR has motions/, else InterAct")  # fmt: skip
    parser.add_argument("--layout", choices=("auto", "current", "older"), default="auto",
                        help="InterAct release: current (bvhs/, wav/, face_arkit/) or older (InterAct_Public/Raw_*)")  # fmt: skip
    parser.add_argument("--face-columns", default=None, metavar="FILE",
                        help="the 51 ARKit names of InterAct's face_arkit columns in order (one per line or comma-separated); "
                        "the order is not published, so .npy faces are not read without it")  # fmt: skip
    parser.add_argument("--bvh-units", choices=("cm", "m"), default=None, help="InterAct BVH units (default: inferred from the skeleton size, refused when unclear)")
    parser.add_argument("--interx-up", choices=("y", "z"), default="y", help="Inter-X world up axis (published: y)")
    parser.add_argument("--max-mismatch-s", type=float, default=0.5, help="largest length difference between streams that is trimmed, not refused")


def register(commands) -> None:
    data = commands.add_parser("data", help="inspect a downloaded InterAct or Inter-X folder before training")
    data.add_argument("action", choices=("check",))
    data.add_argument("dir", type=Path, metavar="DIR")
    add_dataset_options(data)
    data.set_defaults(handler=run_data)


def run_data(args: argparse.Namespace) -> int:
    from dyad.runtime.offline.data_check import check

    lines, usable = check(args, args.dir)
    for line in lines:
        print(f"dyad: data: {line}")
    if not usable:
        raise DyadError(f"{args.dir}: nothing here can be trained on (see the lines above)")
    return 0
