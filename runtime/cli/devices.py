"""`dyad devices`: list audio input devices."""

from __future__ import annotations

import argparse


def register(commands) -> None:
    commands.add_parser("devices", help="list audio input devices").set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from dyad.runtime.audio.mic_devices import format_device_table

    print(format_device_table())
    return 0
