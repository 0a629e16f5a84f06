"""The `dyad` command: the one place that wires sources, models and sinks together.

Bad input ends with `dyad: error: <one line>` and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from dataclasses import replace
from importlib import resources
from pathlib import Path

from dyad.runtime.config import SessionConfig, TimingConfig
from dyad.runtime.errors import DyadError
from dyad.runtime.frames import ControlState

EXIT_BAD_INPUT = 2
DEMO_AUDIO = "assets/demo_dialogue.wav"


def demo_audio_path() -> Path:
    return Path(str(resources.files("dyad.runtime").joinpath(DEMO_AUDIO)))


def _session_options(parser: argparse.ArgumentParser) -> None:
    defaults = TimingConfig()
    parser.add_argument("--offline", action="store_true", help="simulated clock: as fast as compute allows, bit-identical output")
    parser.add_argument("--seconds", type=float, default=None, help="stop after N seconds of audio")
    parser.add_argument("--out", type=Path, default=None, help="folder for p0.bvh, p1.bvh, p0_face.csv, p1_face.csv, session.json")
    parser.add_argument("--sink", action="append", default=[], metavar="URL", help="stream frames, e.g. zmq://tcp://*:5556 (repeatable)")
    parser.add_argument("--budget-ms", type=float, default=defaults.budget_ms, help="latency budget D: frame k is sent at capture(t_k) + D")
    parser.add_argument("--fps", type=int, default=defaults.fps)
    parser.add_argument("--hop-frames", type=int, default=defaults.hop_frames, help="new frames per scheduler hop")
    parser.add_argument("--lookahead-frames", type=int, default=defaults.lookahead_frames, help="audio lookahead per window")
    parser.add_argument("--context-frames", type=int, default=defaults.context_frames, help="past frames given to the animator")
    parser.add_argument("--actions", default="stand,stand", help="action per person: sit|walk|stand, e.g. sit,stand")
    parser.add_argument("--side-by-side", action="store_true", help="people stand side by side instead of facing each other")
    parser.add_argument("--no-separation", action="store_true", help="bypass crosstalk cancellation (one mic per person, no bleed)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="no live status line")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dyad", description="Animate two people's avatars from their voices, live.")
    parser.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run the bundled two-speaker dialogue through the whole pipeline in real time")
    _session_options(demo)
    demo.set_defaults(out=Path("dyad_demo_out"))

    run = commands.add_parser("run", help="animate from microphones or WAV files")
    inputs = run.add_mutually_exclusive_group(required=True)
    inputs.add_argument("--wav", nargs="+", type=Path, metavar="FILE", help="one stereo file or two mono files (person 0, person 1)")
    inputs.add_argument("--mic", nargs="+", metavar="DEVICE", help="one 2-channel device or two devices (index or name)")
    run.add_argument("--mic-channels", default="0,1", help="input channels of a single device for person 0,1")
    _session_options(run)

    commands.add_parser("devices", help="list audio input devices")
    return parser


def _parse_actions(text: str) -> tuple[str, ...]:
    actions = tuple(part.strip() for part in text.split(",") if part.strip())
    if len(actions) == 1:
        actions = actions * 2
    return actions


def config_from_args(args: argparse.Namespace) -> SessionConfig:
    timing = TimingConfig(
        fps=args.fps,
        budget_ms=args.budget_ms,
        hop_frames=args.hop_frames,
        lookahead_frames=args.lookahead_frames,
        context_frames=args.context_frames,
    )
    config = SessionConfig(
        timing=timing,
        seed=args.seed,
        offline=args.offline,
        seconds=args.seconds,
        out_dir=args.out,
        sinks=tuple(args.sink),
        controls=ControlState(actions=_parse_actions(args.actions), facing=not args.side_by_side),
        status_interval_s=0.0 if args.quiet else 1.0,
    )
    if args.no_separation:
        config = replace(config, separation=replace(config.separation, enabled=False))
    return config.validate()


def _open_source(args: argparse.Namespace, config: SessionConfig):
    from dyad.runtime.wav_source import WavReplaySource, open_wav_inputs

    if args.command == "demo":
        wav_paths = [demo_audio_path()]
    elif args.wav:
        wav_paths = list(args.wav)
    else:
        from dyad.runtime.mic_source import MicrophoneSource

        try:
            channels = tuple(int(c) for c in args.mic_channels.split(","))
        except ValueError:
            raise DyadError(f"--mic-channels '{args.mic_channels}' must be two channel numbers, e.g. 0,1") from None
        if len(channels) != 2:
            raise DyadError(f"--mic-channels '{args.mic_channels}' must name exactly two channels, e.g. 0,1")
        devices = [int(d) if d.isdigit() else d for d in args.mic]
        source = MicrophoneSource(
            devices if len(devices) > 1 else devices[0],
            sample_rate=config.audio.sample_rate,
            channel_pair=channels,
            block_ms=config.timing.block_ms,
        )
        return source, {"mic": list(args.mic)}
    wav = open_wav_inputs(wav_paths, config.audio.sample_rate)
    source = WavReplaySource(wav, block_ms=config.timing.block_ms, seconds=config.seconds, realtime=not config.offline)
    inputs = {"wav": [str(p) for p in wav_paths], "source_rates": list(wav.source_rates), "notes": list(wav.notes)}
    return source, inputs


def _run_session(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    if getattr(args, "mic", None) and config.offline:
        raise DyadError("--offline needs --wav input: live microphones run on the wall clock")
    source, inputs = _open_source(args, config)
    from dyad.runtime.session import Session

    status = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    try:
        session = Session(config, source, status=status, inputs=inputs)
    except BaseException:
        source.close()
        raise
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: session.stop())
    result = session.run()
    summary = result.summary
    latency = summary["latency_ms"]
    print(
        f"dyad: {result.frames} frames per person at {config.timing.fps} fps, "
        f"latency p50={latency.get('p50', float('nan')):.1f} ms p95={latency.get('p95', float('nan')):.1f} ms "
        f"p99={latency.get('p99', float('nan')):.1f} ms, deadline misses {summary['deadline_misses']}, "
        f"dropped audio {summary['dropped_audio']['seconds']:.3f} s"
        + (f", recordings in {config.out_dir}" if config.out_dir else "")
    )
    return 0


def _devices() -> int:
    from dyad.runtime.mic_source import format_device_table

    print(format_device_table())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        if args.command == "devices":
            return _devices()
        return _run_session(args)
    except DyadError as error:
        print(f"dyad: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
