"""`dyad features`: dump the feature streams of WAV input to an .npz file for inspection."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from dyad.runtime.cli.session_options import add_speech_options, speech_config_from_args
from dyad.runtime.config import SessionConfig, TimingConfig


def register(commands) -> None:
    features = commands.add_parser("features", help="dump the feature streams of WAV input to an .npz file for inspection")
    features.add_argument("wav", nargs="+", type=Path, metavar="WAV", help="one stereo file or two mono files (person 0, person 1)")
    features.add_argument("--out", type=Path, required=True, metavar="FILE.npz")
    features.add_argument("--seconds", type=float, default=None, help="only the first N seconds")
    features.add_argument("--fps", type=int, default=TimingConfig().fps)
    features.add_argument("--no-separation", action="store_true", help="bypass crosstalk cancellation")
    add_speech_options(features)
    features.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from dyad.runtime.offline.feature_dump import dump_features
    from dyad.runtime.audio.wav_source import WavReplaySource, open_wav_inputs

    config = SessionConfig(timing=TimingConfig(fps=args.fps), offline=True, seconds=args.seconds, speech=speech_config_from_args(args))
    if args.no_separation:
        config = replace(config, separation=replace(config.separation, enabled=False))
    config.validate()
    wav = open_wav_inputs(list(args.wav), config.audio.sample_rate, max_seconds=config.seconds)
    source = WavReplaySource(wav, block_ms=config.timing.block_ms, seconds=config.seconds, realtime=False)
    summary = dump_features(config, source, args.out)
    costs = ", ".join(f"{name} {s['mean']:.2f} ms x{s['count']}" for name, s in summary["stage_ms"].items() if s.get("count"))
    print(f"dyad: {summary['frames']} frames of {', '.join(summary['streams'])} in {args.out} (mean cost per call: {costs})")
    return 0
