"""Soak: hours of audio through the whole session, watching memory, errors and frame indices.

    python -m dyad.benchmarks.soak                             # offline replay, 6 h of audio (default)
    python -m dyad.benchmarks.soak --seconds 600 --realtime    # 10 minutes on the wall clock

The demo dialogue loops for the given audio length. A probe sink sees every
frame: it checks that indices are contiguous (0, 1, 2, ... never skipped or
repeated) and samples the process's resident memory (RSS) every
`--sample-s` seconds of audio. Growth is measured from the end of the warm-up
(the first `--warmup-s` seconds of audio, or a tenth of the run if shorter):
allocator pools, torch and ONNX Runtime arenas settle there. Exceptions are
counted three ways: raised out of the session, animator failures and sink
errors (session counters), and WARNING-or-worse log records.

Writes `soak[_realtime].json` and `.png` (RSS against audio time) under
`benchmarks/results/<device>/`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

from dyad.benchmarks.session_latency import DEFAULT_RESULTS, device_name
from dyad.runtime.assets import demo_audio_path
from dyad.runtime.config import SessionConfig, TimingConfig
from dyad.runtime.frames import FrameBundle, Sink
from dyad.runtime.session import Session
from dyad.runtime.audio.wav_source import WavReplaySource, open_wav_inputs

GROWTH_LIMIT_MB = 20.0  # memory must stay flat: timing statistics are bounded histograms
_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb() -> float:
    """Resident set size of this process, from /proc (Linux)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * _PAGE / 2**20


class ProbeSink(Sink):
    """Checks index continuity and samples RSS; a sink, so it sees exactly what receivers see."""

    name = "soak_probe"
    is_recorder = True  # deep queue: offline it blocks anyway, live it must not drop what it checks

    def __init__(self, fps: int, sample_s: float, progress: bool = False) -> None:
        self.progress = progress  # print every sample, so a long run shows its memory while it goes
        self.fps = fps
        self.every = max(1, int(sample_s * fps))
        self.expected = 0
        self.index_errors = 0
        self.fallback_frames = 0
        self.samples: list[tuple[float, float, float]] = []  # (audio s, wall s, RSS MB): one per sample_s, bounded by the run
        self._wall0 = time.monotonic()

    def send(self, bundle: FrameBundle) -> None:
        if bundle.index != self.expected:
            self.index_errors += 1
        self.expected = bundle.index + 1
        self.fallback_frames += bundle.fallback
        if bundle.index % self.every == 0:
            self.samples.append((bundle.index / self.fps, time.monotonic() - self._wall0, rss_mb()))
            if self.progress:
                print("soak: audio %.0f s wall %.0f s rss %.2f MB" % self.samples[-1], flush=True)

    def close(self) -> None:
        self.samples.append((self.expected / self.fps, time.monotonic() - self._wall0, rss_mb()))


class _Problems(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if len(self.records) < 50:  # keep the first few; the count is what matters
            self.records.append(f"{record.levelname} {record.name}: {record.getMessage()}")
        self.count = getattr(self, "count", 0) + 1


def memory_figures(samples: list[tuple[float, float, float]], warmup_s: float) -> dict:
    after = [s for s in samples if s[0] >= warmup_s] or samples[-1:]
    base = after[0][2]
    return {
        "rss_start_mb": round(samples[0][2], 2),
        "rss_after_warmup_mb": round(base, 2),
        "rss_end_mb": round(samples[-1][2], 2),
        "rss_max_mb": round(max(s[2] for s in samples), 2),
        "growth_after_warmup_mb": round(max(s[2] for s in after) - base, 2),
        "growth_end_minus_warmup_mb": round(samples[-1][2] - base, 2),
    }


def run_soak(seconds: float, realtime: bool = False, sample_s: float = 10.0, warmup_s: float = 300.0, progress: bool = False) -> dict:
    config = SessionConfig(timing=TimingConfig(), offline=not realtime, seconds=seconds, status_interval_s=0.0)
    wav = open_wav_inputs([demo_audio_path()], config.audio.sample_rate)
    source = WavReplaySource(wav, block_ms=config.timing.block_ms, seconds=seconds, loop=True, realtime=realtime)
    probe = ProbeSink(config.timing.fps, sample_s, progress)
    problems = _Problems()
    logging.getLogger().addHandler(problems)
    raised = None
    wall = time.monotonic()
    try:
        result = Session(config, source, extra_sinks=[probe], inputs={"wav": [str(demo_audio_path())], "loop": True}).run()
        summary = result.summary
    except Exception as error:  # a soak reports a crash instead of dying with it
        raised, summary = f"{type(error).__name__}: {error}", {}
    finally:
        logging.getLogger().removeHandler(problems)
    counters = summary.get("counters", {})
    sinks = summary.get("sinks", {})
    warmup = min(warmup_s, seconds / 10)
    frames = summary.get("frames", {}).get("p0", probe.expected)
    return {
        "benchmark": "soak",
        "mode": "realtime" if realtime else "offline",
        "device": device_name(),
        "audio_seconds": summary.get("audio_seconds"),
        "wall_seconds": round(time.monotonic() - wall, 1),
        "frames_per_person": frames,
        "warmup_seconds": warmup,
        "memory": memory_figures(probe.samples, warmup),
        "growth_limit_mb": GROWTH_LIMIT_MB,
        "frame_indices": {"received": probe.expected, "discontinuities": probe.index_errors, "contiguous": probe.index_errors == 0 and probe.expected == frames},
        "exceptions": {
            "raised": raised,
            "animator_errors": counters.get("animator_errors", 0),
            "sink_errors": sum(s.get("errors", 0) for s in sinks.values()),
            "warning_log_records": getattr(problems, "count", 0),
            "first_records": problems.records,
        },
        "deadline_misses": summary.get("deadline_misses"),
        "fallback_frames": probe.fallback_frames,
        "latency_ms": summary.get("latency_ms"),
        "dropped_audio": summary.get("dropped_audio"),
        "rss_series": [[round(a, 1), round(w, 1), round(r, 2)] for a, w, r in probe.samples],
        "machine": summary.get("machine"),
    }


def passed(report: dict) -> bool:
    return (
        report["exceptions"]["raised"] is None
        and report["exceptions"]["animator_errors"] == 0
        and report["frame_indices"]["contiguous"]
        and report["memory"]["growth_after_warmup_mb"] < report["growth_limit_mb"]
    )


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = report["rss_series"]
    fig, axis = plt.subplots(figsize=(9, 4))
    axis.plot([s[0] / 60 for s in series], [s[2] for s in series])
    axis.axvline(report["warmup_seconds"] / 60, color="grey", linestyle=":", label="end of warm-up")
    axis.axhline(report["memory"]["rss_after_warmup_mb"] + report["growth_limit_mb"], color="red", linestyle="--", label="growth limit")
    axis.set_xlabel("audio time (min)")
    axis.set_ylabel("RSS (MB)")
    m = report["memory"]
    axis.set_title(f"{report['mode']} soak, {report['frames_per_person']} frames: growth after warm-up {m['growth_after_warmup_mb']:.1f} MB", fontsize=9)
    axis.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=21600.0, help="audio length (default 6 h)")
    parser.add_argument("--realtime", action="store_true", help="run on the wall clock instead of the simulated one")
    parser.add_argument("--sample-s", type=float, default=10.0, help="RSS sample interval, seconds of audio")
    parser.add_argument("--warmup-s", type=float, default=300.0, help="audio seconds before growth is measured")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    parser.add_argument("--progress", action="store_true", help="print every RSS sample as it is taken")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (one: the machine may be shared)")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    report = run_soak(args.seconds, args.realtime, args.sample_s, args.warmup_s, args.progress)
    report["passed"] = passed(report)
    folder = args.results / report["device"]
    folder.mkdir(parents=True, exist_ok=True)
    stem = "soak" + ("_realtime" if args.realtime else "")
    (folder / f"{stem}.json").write_text(json.dumps(report, indent=2))
    plot(report, folder / f"{stem}.png")
    keys = ("audio_seconds", "wall_seconds", "memory", "frame_indices", "deadline_misses", "passed")
    print(json.dumps({k: report[k] for k in keys}, indent=2))
    print(f"results in {folder}")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
