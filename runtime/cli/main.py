"""The `dyad` command: the one place that wires sources, models and sinks together.

Every command is one module of this package with `register(commands)`, which adds its
parser and sets `handler`; COMMANDS lists them in the order `dyad --help` shows them.
Bad input ends with `dyad: error: <one line>` and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys

from dyad.runtime.cli import augment, bench, corpus, data, demo, devices, features, model, render, run, serve, talk, train, view
from dyad.runtime.cli import eval as evaluate
from dyad.runtime.cli.process_guard import StartupInterrupted, stop_signals_interrupt_startup, write_line
from dyad.runtime.errors import DyadError
from dyad.runtime.logs import configure_logging

EXIT_BAD_INPUT = 2
SESSION_COMMANDS = ("run", "demo", "view", "talk")  # stop signals during their start-up end them cleanly
COMMANDS = (demo, run, devices, model, corpus, augment, data, train, evaluate, bench, features, view, talk, render, serve)


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
    if args.command in SESSION_COMMANDS:
        stop_signals_interrupt_startup()  # Ctrl-C, SIGTERM or SIGHUP while loading: a clean exit, no traceback
    try:
        return args.handler(args)
    except DyadError as error:
        write_line(f"dyad: error: {error}", sys.stderr)
        return EXIT_BAD_INPUT
    except StartupInterrupted as stop:
        write_line(f"dyad: stopped by {stop} during start-up", sys.stderr)
        return 0


if __name__ == "__main__":
    sys.exit(main())
