"""Session latency benchmark: the demo dialogue replayed in real time through the whole pipeline.

    python -m dyad.benchmarks.session_latency --seconds 60 --budget-ms 150

Writes `session_latency.json` (end-to-end latency per frame, per-stage compute
per hop, deadline misses, machine) and `session_latency.png` (latency CDF and
per-stage compute) under `benchmarks/results/<device-name>/`. The numbers come
from this run on this machine; nothing is estimated.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
from pathlib import Path

import numpy as np

from dyad.runtime.cli import demo_audio_path
from dyad.runtime.config import SessionConfig, TimingConfig
from dyad.runtime.session import Session
from dyad.runtime.stats import summarize_ms
from dyad.runtime.wav_source import WavReplaySource, open_wav_inputs

DEFAULT_RESULTS = Path(__file__).resolve().parent / "results"


def device_name() -> str:
    """A folder-safe name for this machine's processor, e.g. `cpu-amd-epyc-9b14-2cores`."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1]
                break
    except OSError:
        pass
    from dyad.runtime.session import _cpu_count

    slug = re.sub(r"[^a-z0-9]+", "-", model.lower()).strip("-")
    return f"cpu-{slug}-{_cpu_count()}cores"


def run_benchmark(seconds: float, budget_ms: float, offline: bool = False) -> tuple[dict, np.ndarray]:
    config = SessionConfig(timing=TimingConfig(budget_ms=budget_ms), offline=offline, seconds=seconds, status_interval_s=0.0)
    wav = open_wav_inputs([demo_audio_path()], config.audio.sample_rate)
    source = WavReplaySource(wav, block_ms=config.timing.block_ms, seconds=seconds, loop=True, realtime=not offline)
    session = Session(config, source, inputs={"wav": [str(demo_audio_path())], "loop": True})
    result = session.run()
    latency_ms = session.stats.latency.values_ms()
    summary = result.summary
    stage_ms = summary["stage_ms"]
    hop_ms = config.timing.hop_frames / config.timing.fps * 1000
    report = {
        "benchmark": "session_latency",
        "mode": "offline" if offline else "realtime",
        "device": device_name(),
        "audio_seconds": summary["audio_seconds"],
        "budget_ms": budget_ms,
        "hop_ms": round(hop_ms, 3),
        "frames_per_person": summary["frames"]["p0"],
        "deadline_misses": summary["deadline_misses"],
        "latency_ms": summary["latency_ms"],
        "emit_lateness_ms": _lateness(latency_ms, budget_ms),
        "stage_ms": stage_ms,
        "compute_per_hop_ms": _compute_per_hop(session),
        "dropped_audio": summary["dropped_audio"],
        "machine": summary["machine"],
    }
    return report, latency_ms


def _lateness(latency_ms: np.ndarray, budget_ms: float) -> dict:
    return summarize_ms(latency_ms - budget_ms)


def _compute_per_hop(session: Session) -> dict:
    """Animator time per hop plus the front-end time of the audio that hop consumed, summarised."""
    stats = session.stats.stages
    animate = next((series.values_ms() for name, series in stats.items() if name.startswith("animate.")), np.zeros(0))
    if animate.size == 0:
        return {"count": 0}
    front = sum(float(stats[name].values_ms().sum()) for name in ("separation", "vad", "mel", "frame_features") if name in stats)
    return summarize_ms(animate + front / animate.size)


def plot(report: dict, latency_ms: np.ndarray, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (cdf, bars) = plt.subplots(1, 2, figsize=(11, 4))
    ordered = np.sort(latency_ms)
    cdf.plot(ordered, np.arange(1, ordered.size + 1) / max(1, ordered.size))
    cdf.axvline(report["budget_ms"], color="red", linestyle="--", label=f"budget D = {report['budget_ms']:g} ms")
    cdf.set_xlabel("end-to-end latency per frame (ms)")
    cdf.set_ylabel("fraction of frames")
    cdf.set_title(f"{report['frames_per_person']} frames, {report['deadline_misses']} misses")
    cdf.legend()
    stages = {name: values["p99"] for name, values in report["stage_ms"].items() if values.get("count")}
    bars.barh(list(stages), list(stages.values()))
    bars.set_xlabel("p99 compute per call (ms)")
    bars.set_title(report["device"], fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--budget-ms", type=float, default=150.0)
    parser.add_argument("--offline", action="store_true", help="simulated clock: compute cost only")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    args = parser.parse_args(argv)
    report, latency_ms = run_benchmark(args.seconds, args.budget_ms, args.offline)
    folder = args.results / report["device"]
    folder.mkdir(parents=True, exist_ok=True)
    stem = "session_latency" + ("_offline" if args.offline else "")
    (folder / f"{stem}.json").write_text(json.dumps(report, indent=2))
    plot(report, latency_ms, folder / f"{stem}.png")
    print(json.dumps({k: report[k] for k in ("device", "deadline_misses", "latency_ms", "compute_per_hop_ms")}, indent=2))
    print(f"results in {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
