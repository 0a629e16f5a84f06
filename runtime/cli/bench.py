"""`dyad bench ...`: the benchmarks' own command line (dyad.benchmarks.cli), registered like any command."""

from __future__ import annotations

import argparse


def register(commands) -> None:
    from dyad.benchmarks.cli import add_bench_command  # light; each bench imports its heavy parts when it runs

    add_bench_command(commands).set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from dyad.benchmarks.cli import run_bench

    return run_bench(args)
