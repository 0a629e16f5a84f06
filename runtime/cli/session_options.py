"""What every session command (demo, run, view) shares: its options, the config they make, and running it.

Argparse namespaces stop here: `config_from_args` turns the options into a typed SessionConfig,
and the session itself never sees a namespace.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from dyad.runtime.cli.model import add_model_options, build_animator
from dyad.runtime.cli.process_guard import StartupInterrupted, stop_signals_call, write_line
from dyad.runtime.config import DEFAULT_BERT, WORD_PLACEMENTS, NetworkPolicy, SessionConfig, SpeechFeaturesConfig, TimingConfig
from dyad.runtime.errors import DyadError
from dyad.runtime.frames import ControlState
from dyad.runtime.io.crash_repair import CrashGuardian
from dyad.runtime.io.net_policy import parse_allow_from
from dyad.runtime.io.out_folder import choose_out_dir
from dyad.runtime.io.sink_registry import sink_help


def add_session_options(parser: argparse.ArgumentParser) -> None:
    defaults = TimingConfig()
    parser.add_argument("--offline", action="store_true", help="simulated clock: as fast as compute allows, bit-identical output")
    parser.add_argument("--seconds", type=float, default=None, help="stop after N seconds of audio")
    parser.add_argument("--out", type=Path, default=None, help="folder for p0.bvh, p1.bvh, p0_face.csv, p1_face.csv, frames.csv, session.json")
    parser.add_argument("--sink", action="append", default=[], metavar="URL", help=sink_help())
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
    add_speech_options(parser)
    add_model_options(parser)


def add_speech_options(parser: argparse.ArgumentParser) -> None:
    defaults = SpeechFeaturesConfig()
    group = parser.add_argument_group("speech features", "learned encoders from local folders (nothing is downloaded); off unless named")
    group.add_argument("--wav2vec2", metavar="DIR", default=None, help="Wav2Vec2 folder, Hugging Face or torchaudio layout")
    group.add_argument("--wav2vec2-context-ms", type=float, default=defaults.wav2vec2_context_ms, help="left context encoded per hop")
    group.add_argument("--wav2vec2-lookahead-ms", type=float, default=defaults.wav2vec2_lookahead_ms, help="right context per hop (adds latency)")
    group.add_argument("--bert", metavar="DIR|default|none", default=None, help="BERT-family folder for word features; default: the packaged MiniLM-L6; none: no word features")
    group.add_argument(
        "--asr", metavar="sphinx|sphinx:DIR|none|file:PATH|whisper:DIR", default=None,
        help="where words come from (implies --bert default); default with word features on: sphinx, the packaged PocketSphinx English recogniser",
    )  # fmt: skip
    group.add_argument(
        "--word-placement", choices=WORD_PLACEMENTS, default=defaults.word_placement,
        help="arrival: a word conditions frames from its arrival on (default); exact: only the frames it spans (transcript files, host transcripts)",
    )  # fmt: skip
    group.add_argument("--device", default=defaults.device, help="cpu, cuda or cuda:N for the encoders and the learned animator")


def speech_config_from_args(args: argparse.Namespace) -> SpeechFeaturesConfig:
    bert, asr = args.bert, args.asr
    if bert == "none":
        bert, asr = None, "none"  # no word features at all (e.g. the demo without its transcript)
    elif bert is None and asr not in (None, "none"):
        bert = DEFAULT_BERT  # words need an encoder; the packaged one is the obvious choice
    if asr is None:
        asr = "sphinx" if bert is not None else "none"  # words on: a real recogniser that needs nothing downloaded
    return SpeechFeaturesConfig(
        wav2vec2=args.wav2vec2,
        wav2vec2_context_ms=args.wav2vec2_context_ms,
        wav2vec2_lookahead_ms=args.wav2vec2_lookahead_ms,
        bert=bert,
        asr=asr,
        word_placement=args.word_placement,
        device=args.device,
    )


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
        speech=speech_config_from_args(args),
    )
    if args.no_separation:
        config = replace(config, separation=replace(config.separation, enabled=False))
    return config.validate()


def open_source(args: argparse.Namespace, config: SessionConfig, wav_paths: list[Path] | None, loop: bool = False):
    """WAV replay of `wav_paths`, else the microphones of `--mic`; also what session.json records as the inputs."""
    from dyad.runtime.audio.wav_source import WavReplaySource, open_wav_inputs

    if wav_paths is None:
        from dyad.runtime.audio.mic_source import MicrophoneSource

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
    source = WavReplaySource(wav, block_ms=config.timing.block_ms, seconds=config.seconds, loop=loop, realtime=not config.offline)
    inputs = {"wav": [str(p) for p in wav_paths], "source_rates": list(wav.source_rates), "notes": list(wav.notes)}
    return source, inputs


EXIT_RECORDING_FAILED = 1  # the session ran, but a recording could not be written whole to the end


def run_session(args: argparse.Namespace, wav_paths: list[Path] | None, loop: bool = False) -> int:
    """Run one session from the command line's options until its input ends or it is stopped; print the summary."""
    config = config_from_args(args)
    guardian = CrashGuardian() if config.out_dir is not None else None  # repairs the recordings after a kill -9
    try:
        return _run_configured(args, config, wav_paths, loop)
    finally:
        if guardian is not None:
            guardian.finish()


def _run_configured(args: argparse.Namespace, config: SessionConfig, wav_paths: list[Path] | None, loop: bool) -> int:
    if getattr(args, "mic", None) and config.offline:
        raise DyadError("--offline needs --wav input: live microphones run on the wall clock")
    note = None
    if config.out_dir is not None:  # chosen before anything opens: a run never writes over an earlier one
        out_dir, note = choose_out_dir(config.out_dir)
        config = replace(config, out_dir=out_dir)
    extra = []
    if getattr(args, "whip", None):
        from dyad.runtime.cli.net_voices import open_network_voices

        source, voices, inputs = open_network_voices(args, config, args.whip, talk_page=getattr(args, "talk_page", False))
        extra = [voices]
    else:
        source, inputs = open_source(args, config, wav_paths, loop)
    from dyad.runtime.session import Session

    status = None if args.quiet else (lambda line: write_line(line, sys.stderr))
    session = None
    try:
        animator = build_animator(args, config)  # None for --model procedural
        session = Session(config, source, status=status, inputs=inputs, animator=animator, extra_sinks=extra)
        stop_signals_call(session.stop)
    except StartupInterrupted:
        if session is None:
            source.close()
            raise
        session.stop()  # the signal landed as the session was born: it runs, ends at once and writes its files
        stop_signals_call(session.stop)
    except BaseException:
        source.close()
        for sink in extra:  # a server the session never took over
            sink.close()
        raise
    if note:  # said once everything has started: a run that fails at start-up records nowhere
        write_line(f"dyad: {note}", sys.stderr)
    _report_bound_endpoints(session)
    result = session.run()
    write_line(result.report.closing_line(config.out_dir))
    return _report_stopped_recordings(result.summary)


def _report_bound_endpoints(session) -> None:
    """Sinks that bound port 0 got a port from the OS: say which, or nobody can connect."""
    for worker in session.sinks.workers:
        if worker.sink.bound_endpoint:
            write_line(f"dyad: sink {worker.sink.name} listening on {worker.sink.bound_endpoint}", sys.stderr)


def _report_stopped_recordings(summary: dict) -> int:
    stopped = {name: s for name, s in summary["sinks"].items() if s.get("stopped")}
    for name, stats in stopped.items():
        write_line(
            f"dyad: error: recording {name} stopped: {stats['stopped']}; {stats['frames_not_recorded']} frames were not "
            f"recorded, the files hold {stats['frames_recorded']} whole frames",
            sys.stderr,
        )
    return EXIT_RECORDING_FAILED if stopped else 0
