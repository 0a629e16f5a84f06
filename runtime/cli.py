"""The `dyad` command: the one place that wires sources, models and sinks together.

Bad input ends with `dyad: error: <one line>` and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import signal
import sys
from dataclasses import replace
from importlib import resources
from pathlib import Path

from dyad.runtime.config import SessionConfig, TimingConfig
from dyad.runtime.errors import DyadError
from dyad.runtime.frames import ControlState
from dyad.runtime.logs import configure_logging
from dyad.runtime.model_cli import add_model_command, add_model_options, build_animator, run_model_command
from dyad.runtime.net_policy import NetworkPolicy, parse_allow_from
from dyad.runtime.crash_repair import CrashGuardian
from dyad.runtime.out_folder import choose_out_dir
from dyad.runtime.process_guard import StartupInterrupted, stop_signals_call, stop_signals_interrupt_startup, write_line
from dyad.runtime.train_cli import TRAIN_COMMANDS, add_train_commands
from dyad.runtime.speech_config import DEFAULT_BERT, SpeechFeaturesConfig

EXIT_BAD_INPUT = 2
EXIT_RECORDING_FAILED = 1  # the session ran, but a recording could not be written whole to the end
DEMO_AUDIO = "assets/demo_dialogue.wav"


def demo_audio_path() -> Path:
    return Path(str(resources.files("dyad.runtime").joinpath(DEMO_AUDIO)))


def demo_transcript_path() -> Path:
    """The timed transcript of the demo dialogue (person<TAB>start_s<TAB>end_s<TAB>text)."""
    return demo_audio_path().with_suffix(".txt")


def _session_options(parser: argparse.ArgumentParser) -> None:
    defaults = TimingConfig()
    parser.add_argument("--offline", action="store_true", help="simulated clock: as fast as compute allows, bit-identical output")
    parser.add_argument("--seconds", type=float, default=None, help="stop after N seconds of audio")
    parser.add_argument("--out", type=Path, default=None, help="folder for p0.bvh, p1.bvh, p0_face.csv, p1_face.csv, frames.csv, session.json")
    parser.add_argument(
        "--sink", action="append", default=[], metavar="URL",
        help="stream frames (repeatable): livelink://HOST:PORT, vmc://HOST:PORT0,PORT1, osc://HOST:PORT, "
        "zmq://tcp://127.0.0.1:PORT, bvhstream://HOST:PORT (servers bind beyond loopback only with --allow-remote)",
    )  # fmt: skip
    parser.add_argument(
        "--control", action="append", default=[], metavar="URL",
        help="listen for control messages (repeatable): osc://127.0.0.1:9000 or zmq://tcp://127.0.0.1:5560",
    )  # fmt: skip
    parser.add_argument("--wait-start", action="store_true", help="hold the session until a control 'start' message")
    parser.add_argument("--record-paused", action="store_true", help="with --out: record only after a control 'record 1' message")
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
    parser.add_argument("--health-s", type=float, default=5.0, help="health summary to the log every N seconds (0: off)")
    parser.add_argument("--allow-remote", action="store_true", help="let control inputs and server sinks bind beyond loopback")
    parser.add_argument("--allow-from", default=None, metavar="ADDR,...", help="only these sender addresses may send control messages (required beyond loopback)")
    _speech_options(parser)
    add_model_options(parser)


def _speech_options(parser: argparse.ArgumentParser) -> None:
    defaults = SpeechFeaturesConfig()
    group = parser.add_argument_group("speech features", "learned encoders from local folders (nothing is downloaded); off unless named")
    group.add_argument("--wav2vec2", metavar="DIR", default=None, help="Wav2Vec2 folder, Hugging Face or torchaudio layout")
    group.add_argument("--wav2vec2-context-ms", type=float, default=defaults.wav2vec2_context_ms, help="left context encoded per hop")
    group.add_argument("--wav2vec2-lookahead-ms", type=float, default=defaults.wav2vec2_lookahead_ms, help="right context per hop (adds latency)")
    group.add_argument("--bert", metavar="DIR|default|none", default=None, help="BERT-family folder for word features; default: the packaged MiniLM-L6; none: no word features")
    group.add_argument("--asr", metavar="none|file:PATH|whisper:DIR", default=defaults.asr, help="where words come from (implies --bert default)")
    group.add_argument("--device", default=defaults.device, help="cpu, cuda or cuda:N for the encoders and the learned animator")


def _speech_config(args: argparse.Namespace) -> SpeechFeaturesConfig:
    bert, asr = args.bert, args.asr
    if bert == "none":
        bert, asr = None, "none"  # no word features at all (e.g. the demo without its transcript)
    elif bert is None and asr != "none":
        bert = DEFAULT_BERT  # words need an encoder; the packaged one is the obvious choice
    return SpeechFeaturesConfig(
        wav2vec2=args.wav2vec2,
        wav2vec2_context_ms=args.wav2vec2_context_ms,
        wav2vec2_lookahead_ms=args.wav2vec2_lookahead_ms,
        bert=bert,
        asr=asr,
        device=args.device,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dyad", description="Animate two people's avatars from their voices, live.")
    parser.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.add_argument("--log-format", default="text", choices=["text", "json"], help="one line per event: plain text or one JSON object")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run the bundled two-speaker dialogue through the whole pipeline in real time")
    _session_options(demo)
    demo.set_defaults(out=Path("dyad_demo_out"))
    # The dialogue's own timed transcript feeds word features (packaged MiniLM): ~20 ms per line on 2 CPU cores.
    demo.set_defaults(asr=f"file:{demo_transcript_path()}")

    run = commands.add_parser("run", help="animate from microphones or WAV files")
    inputs = run.add_mutually_exclusive_group(required=True)
    inputs.add_argument("--wav", nargs="+", type=Path, metavar="FILE", help="one stereo file or two mono files (person 0, person 1)")
    inputs.add_argument("--mic", nargs="+", metavar="DEVICE", help="one 2-channel device or two devices (index or name)")
    run.add_argument("--mic-channels", default="0,1", help="input channels of a single device for person 0,1")
    _session_options(run)

    commands.add_parser("devices", help="list audio input devices")
    add_model_command(commands)
    add_train_commands(commands)
    from dyad.benchmarks.cli import add_bench_command  # light; each bench imports its heavy parts when it runs

    add_bench_command(commands)

    features = commands.add_parser("features", help="dump the feature streams of WAV input to an .npz file for inspection")
    features.add_argument("wav", nargs="+", type=Path, metavar="WAV", help="one stereo file or two mono files (person 0, person 1)")
    features.add_argument("--out", type=Path, required=True, metavar="FILE.npz")
    features.add_argument("--seconds", type=float, default=None, help="only the first N seconds")
    features.add_argument("--fps", type=int, default=TimingConfig().fps)
    features.add_argument("--no-separation", action="store_true", help="bypass crosstalk cancellation")
    _speech_options(features)

    view = commands.add_parser("view", help="serve the live browser viewer for the demo dialogue (or --wav), looping until stopped")
    view.add_argument("--wav", nargs="+", type=Path, metavar="FILE", help="replay these instead of the demo dialogue")
    view.add_argument("--host", default="127.0.0.1", help="viewer address (loopback by default)")
    view.add_argument("--port", type=int, default=8765)
    _session_options(view)

    render = commands.add_parser("render", help="render a recording folder (--out of run/demo) to an MP4 or GIF clip")
    render.add_argument("recording", type=Path, help="folder with p0.bvh, p1.bvh, p0_face.csv, p1_face.csv, frames.csv")
    render.add_argument("--out", type=Path, required=True, help="clip.mp4 or clip.gif")
    render.add_argument("--fps", type=int, default=None, help="clip frame rate (default: the recording's)")
    render.add_argument("--max-seconds", type=float, default=None)
    render.add_argument("--width", type=int, default=960, help="clip width in pixels (height is 9/16 of it)")
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
        control_urls=tuple(args.control),
        wait_start=args.wait_start,
        record_at_start=not args.record_paused,
        controls=ControlState(actions=_parse_actions(args.actions), facing=not args.side_by_side),
        status_interval_s=0.0 if args.quiet else 1.0,
        health_interval_s=args.health_s,
        network=NetworkPolicy(allow_remote=args.allow_remote, allow_from=parse_allow_from(args.allow_from)),
        speech=_speech_config(args),
    )
    if args.no_separation:
        config = replace(config, separation=replace(config.separation, enabled=False))
    return config.validate()


def _open_source(args: argparse.Namespace, config: SessionConfig):
    from dyad.runtime.wav_source import WavReplaySource, open_wav_inputs

    if args.command == "demo" or (args.command == "view" and not args.wav):
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
    wav = open_wav_inputs(wav_paths, config.audio.sample_rate, max_seconds=config.seconds)  # memory follows --seconds
    loop = args.command == "view" and config.seconds is None  # the viewer keeps playing until stopped
    source = WavReplaySource(wav, block_ms=config.timing.block_ms, seconds=config.seconds, loop=loop, realtime=not config.offline)
    inputs = {"wav": [str(p) for p in wav_paths], "source_rates": list(wav.source_rates), "notes": list(wav.notes)}
    return source, inputs


def _run_session(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    guardian = CrashGuardian() if config.out_dir is not None else None  # repairs the recordings after a kill -9
    try:
        return _run_configured(args, config)
    finally:
        if guardian is not None:
            guardian.finish()


def _run_configured(args: argparse.Namespace, config: SessionConfig) -> int:
    if getattr(args, "mic", None) and config.offline:
        raise DyadError("--offline needs --wav input: live microphones run on the wall clock")
    if config.out_dir is not None:  # chosen before anything opens: a run never writes over an earlier one
        out_dir, note = choose_out_dir(config.out_dir)
        config = replace(config, out_dir=out_dir)
    else:
        note = None
    source, inputs = _open_source(args, config)
    from dyad.runtime.session import Session

    status = None if args.quiet else (lambda line: write_line(line, sys.stderr))
    session = None
    try:
        animator = build_animator(args, config)  # None for --model procedural
        session = Session(config, source, status=status, inputs=inputs, animator=animator)
        stop_signals_call(session.stop)
    except StartupInterrupted:
        if session is None:
            source.close()
            raise
        session.stop()  # the signal landed as the session was born: it runs, ends at once and writes its files
        stop_signals_call(session.stop)
    except BaseException:
        source.close()
        raise
    if note:  # said once everything has started: a run that fails at start-up records nowhere
        write_line(f"dyad: {note}", sys.stderr)
    _report_bound_endpoints(session)
    result = session.run()
    return _report(result.frames, result.summary, config)


def _ms(stats: dict, key: str) -> str:
    return f"{stats[key]:.1f} ms" if key in stats else "n/a"  # no frames, no percentiles


def _report_bound_endpoints(session) -> None:
    """Sinks that bound port 0 got a port from the OS: say which, or nobody can connect."""
    for worker in session.sinks.workers:
        endpoint = getattr(worker.sink, "bound_endpoint", None)
        if endpoint:
            write_line(f"dyad: sink {worker.sink.name} listening on {endpoint}", sys.stderr)


def _report(frames: int, summary: dict, config: SessionConfig) -> int:
    latency = summary["latency_ms"]
    write_line(
        f"dyad: {frames} frames per person at {config.timing.fps} fps, "
        f"latency p50={_ms(latency, 'p50')} p95={_ms(latency, 'p95')} p99={_ms(latency, 'p99')}, "
        f"deadline misses {summary['deadline_misses']}, dropped audio {summary['dropped_audio']['seconds']:.3f} s"
        + (f", recordings in {config.out_dir}" if config.out_dir else "")
    )
    stopped = {name: s for name, s in summary["sinks"].items() if s.get("stopped")}
    for name, stats in stopped.items():
        write_line(
            f"dyad: error: recording {name} stopped: {stats['stopped']}; {stats['frames_not_recorded']} frames were not "
            f"recorded, the files hold {stats['frames_recorded']} whole frames",
            sys.stderr,
        )
    return EXIT_RECORDING_FAILED if stopped else 0


def _devices() -> int:
    from dyad.runtime.mic_devices import format_device_table

    print(format_device_table())
    return 0


def _features(args: argparse.Namespace) -> int:
    from dyad.runtime.feature_dump import dump_features
    from dyad.runtime.wav_source import WavReplaySource, open_wav_inputs

    config = SessionConfig(timing=TimingConfig(fps=args.fps), offline=True, seconds=args.seconds, speech=_speech_config(args))
    if args.no_separation:
        config = replace(config, separation=replace(config.separation, enabled=False))
    config.validate()
    wav = open_wav_inputs(list(args.wav), config.audio.sample_rate, max_seconds=config.seconds)
    source = WavReplaySource(wav, block_ms=config.timing.block_ms, seconds=config.seconds, realtime=False)
    summary = dump_features(config, source, args.out)
    costs = ", ".join(f"{name} {s['mean']:.2f} ms x{s['count']}" for name, s in summary["stage_ms"].items() if s.get("count"))
    print(f"dyad: {summary['frames']} frames of {', '.join(summary['streams'])} in {args.out} (mean cost per call: {costs})")
    return 0


def _render(args: argparse.Namespace) -> int:
    from dyad.runtime.render import render

    frames = render(args.recording, args.out, fps=args.fps, max_seconds=args.max_seconds, width=args.width)
    print(f"dyad: rendered {frames} frames to {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.log_level, args.log_format)
    if args.command in ("run", "demo", "view"):
        stop_signals_interrupt_startup()  # Ctrl-C, SIGTERM or SIGHUP while loading: a clean exit, no traceback
    try:
        if args.command == "devices":
            return _devices()
        if args.command == "model":
            return run_model_command(args)
        if args.command == "bench":
            from dyad.benchmarks.cli import run_bench

            return run_bench(args)
        if args.command in TRAIN_COMMANDS:
            return TRAIN_COMMANDS[args.command](args)
        if args.command == "render":
            return _render(args)
        if args.command == "features":
            return _features(args)
        if args.command == "view":
            args.sink = [*args.sink, f"view://{args.host}:{args.port}"]
            write_line(f"dyad: viewer at http://{args.host}:{args.port}/ (Ctrl-C to stop)")
        return _run_session(args)
    except DyadError as error:
        write_line(f"dyad: error: {error}", sys.stderr)
        return EXIT_BAD_INPUT
    except StartupInterrupted as stop:
        write_line(f"dyad: stopped by {stop} during start-up", sys.stderr)
        return 0


if __name__ == "__main__":
    sys.exit(main())
