"""`dyad serve`: one process hosting many dyad sessions, created and ended over a loopback HTTP/JSON API.

    dyad serve [--listen 127.0.0.1:8780] [--out DIR] [--model DIR --face-animator learned --body-animator learned]
               [--capacity N | --capacity-file FILE] [--gather-ms 2] [--allow-remote --allow-from ADDR,...]

See docs/serving.md for the API, the metrics and admission.
"""

from __future__ import annotations

import argparse
import sys
import threading
from dataclasses import replace
from pathlib import Path

from dyad.runtime.cli.model import add_model_options, learned_config_from_args
from dyad.runtime.cli.process_guard import stop_signals_call, write_line
from dyad.runtime.config import NetworkPolicy, SessionConfig, SpeechFeaturesConfig, TimingConfig
from dyad.runtime.errors import DyadError
from dyad.runtime.io.net_policy import parse_allow_from

DEFAULT_LISTEN = "127.0.0.1:8780"


def register(commands) -> None:
    parser = commands.add_parser("serve", help="host many dyad sessions in one process (HTTP/JSON API, /metrics)")
    parser.add_argument("--listen", default=DEFAULT_LISTEN, metavar="HOST:PORT",
                        help=f"API and /metrics address (default {DEFAULT_LISTEN}; port 0: any)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=None, help="each session records into DIR/<session id>/")
    parser.add_argument("--capacity", type=int, default=None, help="admit at most N sessions (default: measured, see --capacity-file)")
    parser.add_argument("--capacity-file", type=Path, default=None, metavar="FILE", help="a `dyad bench serve` result.json for this model and steps")
    parser.add_argument("--gather-ms", type=float, default=2.0, help="how long a due hop waits for other sessions' hops to share its batch")
    parser.add_argument("--budget-ms", type=float, default=TimingConfig().budget_ms, help="default latency budget D of the sessions")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N for the shared model")
    parser.add_argument("--health-s", type=float, default=5.0, help="each session's health summary to the log every N seconds (0: off)")
    parser.add_argument("--playout-ms", type=float, default=40.0, help="network voices: jitter allowance")
    parser.add_argument("--idle-s", type=float, default=10.0, help="network voices: a silent WebRTC sender is closed after N s")
    parser.add_argument("--allow-remote", action="store_true", help="let the API, control inputs and server sinks bind beyond loopback")
    parser.add_argument("--allow-from", default=None, metavar="ADDR,...", help="only these addresses may call the API and send control messages")
    add_model_options(parser)
    parser.set_defaults(handler=run_serve)


def base_config(args: argparse.Namespace) -> SessionConfig:
    return SessionConfig(
        timing=TimingConfig(budget_ms=args.budget_ms),
        status_interval_s=0.0,
        health_interval_s=args.health_s,
        network=NetworkPolicy(allow_remote=args.allow_remote, allow_from=parse_allow_from(args.allow_from)),
        speech=replace(SpeechFeaturesConfig(), device=args.device),
    ).validate()


def shared_model(args: argparse.Namespace, base: SessionConfig):
    """The server's learned model, or None when every part runs procedurally."""
    config = learned_config_from_args(args, base)
    if config is None:
        return None
    from dyad.models.skeleton import load_default_skeleton
    from dyad.runtime.animate.partwise import resolve_parts
    from dyad.runtime.serve.shared_model import SharedModel

    parts, _ = resolve_parts(config.model_dir, args.face_animator, args.body_animator)
    if set(parts.values()) == {"procedural"}:
        return None
    return SharedModel(config, base, load_default_skeleton(), parts, args.gather_ms)


def capacity(args: argparse.Namespace, model, base: SessionConfig):
    from dyad.runtime.serve import capacity as cap

    if args.capacity is not None:
        if args.capacity < 1:
            raise DyadError(f"--capacity must be at least 1, got {args.capacity}")
        return cap.Capacity(args.capacity, "--capacity")
    if args.capacity_file is not None:
        return cap.capacity_from_file(args.capacity_file, "procedural" if model is None else model.name, 0 if model is None else model.config.steps)
    if model is None:
        return cap.unbounded()
    return cap.calibrate(model, base)


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise DyadError(f"--listen '{text}' must be HOST:PORT with a port 0..65535 (0: the OS chooses), e.g. {DEFAULT_LISTEN}")
    return host.strip("[]"), int(port)


def run_serve(args: argparse.Namespace) -> int:
    from dyad.runtime.io.net_policy import check_bind
    from dyad.runtime.serve.api import ServeApi
    from dyad.runtime.serve.host import SessionHost

    if args.gather_ms < 0:
        raise DyadError(f"--gather-ms must be >= 0, got {args.gather_ms:g}")
    base = base_config(args)
    address, port = parse_listen(args.listen)
    check_bind(base.network, address, args.listen, "serve API")
    model = shared_model(args, base)
    host = SessionHost(model, capacity(args, model, base), args.out, args.playout_ms, args.idle_s)
    try:
        api = ServeApi(host, base, address, port, base.network)
    except BaseException:
        host.close()
        raise
    stopped = threading.Event()
    stop_signals_call(stopped.set)
    limit = host.capacity.sessions
    write_line(f"dyad: serving on {api.url} (sessions: POST {api.url}/sessions; metrics: {api.url}/metrics); "
               f"capacity {limit if limit != float('inf') else 'unbounded'}: {host.capacity.source}", sys.stderr)  # fmt: skip
    try:
        while not stopped.wait(0.2):
            pass
    finally:
        api.close()
        host.close()  # every session ends cleanly: files closed, session.json written
    write_line("dyad: server stopped", sys.stderr)
    return 0
