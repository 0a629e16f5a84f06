"""Session latency benchmark: the demo dialogue replayed in real time through the whole pipeline.

    dyad bench latency --seconds 60 --budget-ms 90             # the demo's animators, as `dyad demo`
    python -m dyad.benchmarks.latency_bench --seconds 60        # the same

The dialogue loops for `--seconds` of audio through separation, VAD, mel, the
demo's word features (timed transcript -> BERT), the animators (the bundled
model's parts as `dyad demo` runs them unless `--model`/`--animators` say otherwise) and the emitter, as `dyad demo`
runs it. Writes `session_latency.json` (end-to-end latency per frame, deadline
misses, compute per hop by stage, targets) and `session_latency.png` (latency
CDF, compute per hop stacked by stage) under `benchmarks/results/<device-name>/`.
The numbers come from this run on this machine; nothing is estimated.
"""

from __future__ import annotations

import platform
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from dyad.benchmarks.hop_compute import hop_report
from dyad.models.bundled import DEFAULT_MODEL_DIR
from dyad.runtime.config import MAX_BUDGET_MS, SessionConfig, TimingConfig
from dyad.runtime.stats import summarize_ms

DEFAULT_RESULTS = Path(__file__).resolve().parent / "results"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def device_name(device: str = "cpu") -> str:
    """A folder-safe name for the machine that computes, e.g. `cpu-amd-epyc-2cores` or `gpu-nvidia-h200`."""
    if device.startswith("cuda"):
        import torch

        _, _, index = device.partition(":")
        return "gpu-" + _slug(torch.cuda.get_device_name(int(index or 0)))
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1]
                break
    except OSError:
        pass
    from dyad.runtime.session import _cpu_count

    return f"cpu-{_slug(model)}-{_cpu_count()}cores"


@dataclass(frozen=True)
class LatencyRun:
    """One replay of the demo dialogue through the whole session."""

    seconds: float = 60.0
    budget_ms: float = 90.0
    offline: bool = False  # simulated clock: compute cost only, latency is D by construction
    model: Path | None = DEFAULT_MODEL_DIR  # None: the procedural animator
    backend: str = "torch"
    device: str = "cpu"
    steps: int = 4
    adapt: bool = True  # lower the steps when compute nears the budget, as a live session does
    words: bool = True  # the demo's timed transcript -> BERT word features, as `dyad demo` has them
    animators: str = "default"  # default: each part as the model folder's model.json says (as `dyad demo`); learned: both learned

    def at_budget(self, budget_ms: float) -> LatencyRun:
        return replace(self, budget_ms=budget_ms)

    def parts(self) -> dict[str, str]:
        """What runs each part: the model folder's choice (as `dyad demo`), or learned for both with animators="learned"."""
        if self.model is None:
            return {"face": "procedural", "body": "procedural"}
        from dyad.runtime.animate.partwise import resolve_parts

        forced = "learned" if self.animators == "learned" else None
        return resolve_parts(self.model, forced, forced)[0]

    def animator_label(self) -> str:
        parts = self.parts()
        return parts["face"] if parts["face"] == parts["body"] else f"face {parts['face']}, body {parts['body']}"

    def describe(self) -> dict:
        return {
            "animator": self.animator_label(),
            "model_dir": None if self.model is None else str(self.model),
            "backend": self.backend, "device": self.device, "steps": self.steps, "adapt": self.adapt, "words": self.words,
        }  # fmt: skip


def session_config(run: LatencyRun) -> SessionConfig:
    """The session `dyad demo` would build for this run (DyadError on a budget below the floor)."""
    from dyad.runtime.assets import demo_transcript_path
    from dyad.runtime.config import DEFAULT_BERT, SpeechFeaturesConfig

    speech = SpeechFeaturesConfig(device=run.device)
    if run.words:
        speech = replace(speech, bert=DEFAULT_BERT, asr=f"file:{demo_transcript_path()}")
    config = SessionConfig(
        timing=TimingConfig(budget_ms=run.budget_ms), offline=run.offline, seconds=run.seconds,
        status_interval_s=0.0, health_interval_s=0.0, speech=speech,
    )  # fmt: skip
    return config.validate()


def minimum_budget_ms(run: LatencyRun) -> float:
    """The session's floor: hop + lookahead + audio buffering, with zero compute."""
    return session_config(run.at_budget(MAX_BUDGET_MS)).minimum_budget_ms()  # any valid budget: the floor does not depend on it


def build_session(run: LatencyRun):
    """A Session over the looped demo dialogue with the run's animator, loaded and warmed up."""
    from dyad.models.skeleton import load_default_skeleton
    from dyad.runtime.assets import demo_audio_path
    from dyad.runtime.animate.learned_animator import load_learned_animator
    from dyad.runtime.animate.learned_config import LearnedConfig
    from dyad.runtime.session import Session
    from dyad.runtime.audio.wav_source import WavReplaySource, open_wav_inputs

    config = session_config(run)
    skeleton = load_default_skeleton()
    animator = None
    if run.model is not None:
        from dyad.runtime.animate.partwise import PartwiseAnimator
        from dyad.runtime.animate.procedural import ProceduralAnimator

        parts = run.parts()
        if set(parts.values()) != {"procedural"}:
            learned = LearnedConfig(run.model, steps=run.steps, backend=run.backend, device=run.device, adapt=run.adapt)
            animator = load_learned_animator(learned.validate(), config, skeleton)
            if "procedural" in parts.values():
                procedural = ProceduralAnimator(skeleton, fps=config.timing.fps, seed=config.seed)
                animator = PartwiseAnimator(animator, procedural, parts["face"], parts["body"])
    wav = open_wav_inputs([demo_audio_path()], config.audio.sample_rate)
    source = WavReplaySource(wav, block_ms=config.timing.block_ms, seconds=run.seconds, loop=True, realtime=not run.offline)
    try:
        return Session(config, source, animator=animator, skeleton=skeleton, inputs={"wav": [str(demo_audio_path())], "loop": True},
                       keep_timings=True)  # the per-hop breakdown and the CDF plot need every value
    except BaseException:
        source.close()
        raise


def run_benchmark(run: LatencyRun) -> tuple[dict, np.ndarray]:
    """Replay once; return the report and the end-to-end latency of every frame (ms)."""
    session = build_session(run)
    summary = session.run().summary
    latency_ms = session.stats.latency.values_ms()
    timing = session.config.timing
    hop_ms = timing.hop_frames / timing.fps * 1000
    report = {
        "benchmark": "session_latency",
        "mode": "offline" if run.offline else "realtime",
        "device": device_name(run.device),
        "run": run.describe(),
        "audio_seconds": summary["audio_seconds"],
        "wall_seconds": summary["wall_seconds"],
        "budget_ms": run.budget_ms,
        "minimum_budget_ms": round(session.config.minimum_budget_ms(), 3),
        "hop_ms": round(hop_ms, 3),
        "frames_per_person": summary["frames"]["p0"],
        "deadline_misses": summary["deadline_misses"],
        "latency_ms": summary["latency_ms"],
        "emit_lateness_ms": summarize_ms(latency_ms - run.budget_ms),
        "stage_ms": summary["stage_ms"],  # per call
        **hop_report(session.stats, session.animator.name, hop_ms),
        "skipped_frames": summary["counters"].get("skipped_frames", 0),
        "animator_errors": summary["counters"].get("animator_errors", 0),
        "dropped_audio": summary["dropped_audio"],
        "animator_report": summary["animator_report"],
        "machine": summary["machine"],
    }
    return report, latency_ms


def run_brief(report: dict) -> dict:
    """The few numbers of one run worth a line on the terminal."""
    keys = ("budget_ms", "deadline_misses", "latency_ms", "compute_per_hop_ms", "compute_p99_over_hop")
    return {key: report.get(key) for key in keys}
