"""`dyad bench netaudio`: voices over the network, sender capture -> pose received back at the sender.

For each transport (WebSocket PCM, WebRTC through WHIP) a real client on loopback streams the demo
dialogue in real time into a live session (procedural animator: this measures the network path and
the fixed delay D, not the models) and receives the frames back (data channel / same socket).
Latency of frame k = time the client received it - capture time of the audio at frame k on the
client's own clock (its first sample's capture time + k / fps): D, plus the jitter allowance the
source waited, plus transport both ways. The client runs in this process, on the same monotonic
clock as the session.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
from pathlib import Path

import numpy as np

from dyad.runtime.errors import DyadError

NS = 1_000_000_000
TRANSPORTS = ("websocket", "webrtc")


def add_netaudio_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=float, default=10.0, help="audio streamed per transport (default 10)")
    parser.add_argument("--budget-ms", type=float, default=150.0, help="latency budget D of the session")
    parser.add_argument("--playout-ms", type=float, default=40.0, help="the source's jitter allowance")
    parser.add_argument("--transports", default=",".join(TRANSPORTS), help="websocket,webrtc")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR", help="write here instead of benchmarks/results/<device>/")


def _run_transport(transport: str, audio: np.ndarray, rate: int, args: argparse.Namespace) -> dict:
    from dyad.models.skeleton import load_default_skeleton
    from dyad.runtime.audio.net_source import NetworkAudioSource
    from dyad.runtime.config import SessionConfig, TimingConfig
    from dyad.runtime.io.voice_client import send_whip, send_ws
    from dyad.runtime.io.voice_server import VoiceServer
    from dyad.runtime.session import Session

    source = NetworkAudioSource(sample_rate=rate, playout_ms=args.playout_ms)
    server = VoiceServer("127.0.0.1", 0, source, load_default_skeleton(), rate)
    config = SessionConfig(timing=TimingConfig(budget_ms=args.budget_ms), seconds=args.seconds, status_interval_s=0.0, health_interval_s=0.0)
    session = Session(config, source, extra_sinks=[server])
    box: dict = {}
    runner = threading.Thread(target=lambda: box.update(result=session.run()), name="netaudio-session")
    runner.start()
    if transport == "websocket":
        client = asyncio.run(send_ws(f"ws://127.0.0.1:{server.port}/audio?poses=1", {0: audio[:, 0], 1: audio[:, 1]}, rate))
    else:
        client = asyncio.run(send_whip(f"http://127.0.0.1:{server.port}/whip", [audio[:, 0], audio[:, 1]], rate))
    runner.join(60)
    summary = box["result"].summary
    if client.error or not client.frames or client.t0_ns is None:
        raise DyadError(f"bench netaudio: {transport}: no frames came back ({client.error or 'nothing received'})")
    fps = client.frames[0].headers[0]["fps"]
    latency = np.array([(f.received_ns - (client.t0_ns + f.index * NS // fps)) / 1e6 for f in client.frames])
    people = summary["source"]["people"]
    return {
        "transport": transport,
        "frames_sent": summary["frames"]["p0"],
        "frames_back": len(client.frames),
        "e2e_ms_p50": round(float(np.percentile(latency, 50)), 2),
        "e2e_ms_p95": round(float(np.percentile(latency, 95)), 2),
        "e2e_ms_p99": round(float(np.percentile(latency, 99)), 2),
        "e2e_ms_max": round(float(latency.max()), 2),
        "budget_ms": args.budget_ms,
        "playout_ms": args.playout_ms,
        "deadline_misses": summary["deadline_misses"],
        "gap_samples": [p["gap_samples"] for p in people],
        "late_samples": [p["late_samples"] for p in people],
        "latency_ms": [round(float(v), 3) for v in latency],
    }


def _plot(report: dict, path: Path) -> None:
    from dyad.benchmarks.bench_common import figure, save

    fig, axes = figure()
    ax = axes[0][0]
    for row in report["rows"]:
        values = np.sort(row["latency_ms"])
        ax.plot(values, np.arange(1, len(values) + 1) / len(values), label=f"{row['transport']} (p99 {row['e2e_ms_p99']:.0f} ms)")
    ax.axvline(report["rows"][0]["budget_ms"], color="grey", linestyle=":", label="budget D")
    ax.set_xlabel("sender capture -> pose received back (ms)")
    ax.set_ylabel("fraction of frames")
    ax.set_title(f"network voices on loopback, {report['device']}")
    ax.legend()
    save(fig, path)


def run_netaudio(args: argparse.Namespace) -> int:
    import soundfile as sf

    from dyad.benchmarks.bench_common import new_report, results_dir, write_report
    from dyad.runtime.assets import demo_audio_path
    from dyad.runtime.audio.resample import StreamResampler

    transports = [t.strip() for t in args.transports.split(",") if t.strip()]
    unknown = [t for t in transports if t not in TRANSPORTS]
    if unknown or not transports:
        raise DyadError(f"--transports: '{','.join(unknown) or args.transports}' is not one of {', '.join(TRANSPORTS)}")
    if not 1 <= args.seconds <= 600:
        raise DyadError(f"--seconds must be 1..600, got {args.seconds:g}")
    audio, rate = sf.read(demo_audio_path(), dtype="float32", always_2d=True)
    if rate != 16000:
        resampler = StreamResampler(rate, 16000, audio.shape[1])
        audio = np.concatenate([resampler.process(audio), resampler.flush()])
        rate = 16000
    need = int(args.seconds * rate)
    audio = np.resize(audio, (need, audio.shape[1])) if audio.shape[0] < need else audio[:need]
    report = new_report("netaudio", seconds=args.seconds, animator="procedural", client="in-process, loopback")
    for transport in transports:
        report["rows"].append(_run_transport(transport, audio, rate, args))
    report["summary"] = {row["transport"]: {k: row[k] for k in ("e2e_ms_p50", "e2e_ms_p95", "e2e_ms_p99", "frames_back", "deadline_misses")} for row in report["rows"]}
    path = write_report(report, results_dir(args.out), _plot)
    for row in report["rows"]:
        print(f"{row['transport']}: e2e p50 {row['e2e_ms_p50']} ms, p95 {row['e2e_ms_p95']} ms, p99 {row['e2e_ms_p99']} ms, "
              f"{row['frames_back']} frames back, {row['deadline_misses']} deadline misses")  # fmt: skip
    print(f"dyad bench: wrote {path}")
    return 0
