"""The `dyad` command: the one place that wires sources, models and sinks together.

Every command is one module of this package with `register(commands)`, which adds its
parser and sets `handler`; COMMANDS lists them in the order `dyad --help` shows them.
Bad input ends with `dyad: error: <one line>` and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys

from dyad.runtime.cli import augment, bench, corpus, data, demo, devices, features, model, render, run, train, view
from dyad.runtime.cli import eval as evaluate
from dyad.runtime.errors import DyadError
from dyad.runtime.logs import configure_logging

EXIT_BAD_INPUT = 2
COMMANDS = (demo, run, devices, model, corpus, augment, data, train, evaluate, bench, features, view, render)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dyad", description="Animate two people's avatars from their voices, live.")
    parser.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.add_argument("--log-format", default="text", choices=["text", "json"], help="one line per event: plain text or one JSON object")
    commands = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.log_level, args.log_format)
    try:
        return args.handler(args)
    except DyadError as error:
        print(f"dyad: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
